package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
)

func TestParse(t *testing.T) {
	f, err := Parse([]byte(`
udp = "127.0.0.1:9999"
flush_interval = "2s"
percentiles = [50, 90, 99.9, -10]
backends = ["stdout", "discard"]
idle = "zero"
gauge_ttl = "1m"

[parser]
unknown_type_as_counter = true
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.UDP != "127.0.0.1:9999" || f.HTTP != DefaultHTTP || time.Duration(f.FlushInterval) != 2*time.Second ||
		len(f.Percentiles) != 4 || f.Backends[1] != "discard" || !f.Parser.UnknownTypeAsCounter {
		t.Errorf("decoded %+v", f)
	}
	a := f.Aggregate()
	if a.Idle != aggregate.IdleZero || a.GaugeTTL != time.Minute || a.Percentiles[2] != 99.9 {
		t.Errorf("aggregate config %+v", a)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"unknown key", "udp = \"x\"\n\nflush_intervall = \"1s\"\n", `line 3: unknown key "flush_intervall"`},
		{"unknown nested key", "[parser]\nbogus = 1\n", `line 2: unknown key "parser.bogus"`},
		{"bad duration", "flush_interval = \"ten seconds\"\n", "line 1"},
		{"wrong type", "udp_readers = \"four\"\n", "line 1"},
		{"syntax", "udp = \n", "line 1"},
		{"bad percentile", "percentiles = [0]\n", "percentile 0 out of range"},
		{"bad backend", "backends = [\"graphite\"]\n", `unknown backend "graphite"`},
		{"bad idle", "idle = \"keep\"\n", `idle "keep"`},
		{"negative interval", "flush_interval = \"-1s\"\n", "negative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("missing file accepted")
	}
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte("nope = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), `unknown key "nope"`) {
		t.Errorf("error %v should name the file and the key", err)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	if _, err := Load(filepath.Join("..", "statsd-agent.example.toml")); err != nil {
		t.Fatal(err)
	}
}
