package monitis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"
)

// Every documented config key decodes strictly, and a dump redacts the keys.
func TestConfigTOML(t *testing.T) {
	const doc = `
url = "http://127.0.0.1:8080"
sandbox = true
api_key = "TOMLAPIKEY"
secret_key = "TOMLSECRET"
validation = "token"
rate = 2.5
retries = -1
queue_size = 500
spool_max_bytes = 1048576
tag = "myapp"
include = ["api.*"]
exclude = ["api.debug.*"]
groups = ["api"]
netstat_monitor = "box1 netstat"
netstat_prefix = "none"

[stats]
counter = ["rate"]
timer = ["count", "upper_*"]
`
	var got Config
	dec := toml.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := Config{
		URL: "http://127.0.0.1:8080", Sandbox: true, APIKey: NewSecret("TOMLAPIKEY"), SecretKey: NewSecret("TOMLSECRET"), Validation: ValidationToken,
		Rate: 2.5, Retries: -1, QueueSize: 500, SpoolMaxBytes: 1 << 20, Tag: "myapp", Include: []string{"api.*"}, Exclude: []string{"api.debug.*"},
		Groups: []string{"api"}, NetstatMonitor: "box1 netstat", NetstatPrefix: "none",
		Stats: map[string][]string{"counter": {"rate"}, "timer": {"count", "upper_*"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
	// A JSON dump (and %v, %+v, slog) redacts the keys. (go-toml's encoder
	// ignores MarshalText on string types, so a TOML dump must not encode
	// Config directly.)
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(got); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&buf, "%v %+v", got, got)
	if strings.Contains(buf.String(), "TOMLAPIKEY") || strings.Contains(buf.String(), "TOMLSECRET") || !strings.Contains(buf.String(), "[redacted]") {
		t.Errorf("dump does not redact the keys:\n%s", buf.String())
	}
	if _, err := New(got, nil, nil); err != nil {
		t.Errorf("New: %v", err)
	}
}
