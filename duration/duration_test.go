package duration

import (
	"flag"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

func TestDuration(t *testing.T) {
	var c struct {
		D Duration `toml:"d"`
	}
	if err := toml.Unmarshal([]byte(`d = "1m30s"`), &c); err != nil || time.Duration(c.D) != 90*time.Second {
		t.Fatalf("decode: %v %v", err, c.D)
	}
	if err := toml.Unmarshal([]byte(`d = "soon"`), &c); err == nil {
		t.Error("bad duration accepted")
	}
	b, err := toml.Marshal(c)
	if err != nil || string(b) != "d = '1m30s'\n" {
		t.Errorf("encode: %q %v", b, err)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Var(&c.D, "d", "")
	if err := fs.Parse([]string{"-d", "-2s"}); err != nil || time.Duration(c.D) != -2*time.Second || c.D.String() != "-2s" {
		t.Errorf("flag: %v %v", err, c.D)
	}
}
