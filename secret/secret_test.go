package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

func TestRedacted(t *testing.T) {
	s := New("hunter2-api-key")
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "key", s)
	j, _ := json.Marshal(struct{ Key String }{s})
	tm, err := toml.Marshal(struct {
		Key String `toml:"key"`
	}{s})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %+v %#v %q", s, s, s, s, s), fmt.Sprintf("%v", struct{ K String }{s}),
		fmt.Sprintf("%+v", struct{ K String }{s}), logs.String(), string(j), string(tm)} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "[redacted]") {
			t.Errorf("leaked or not redacted: %q", out)
		}
	}
	if s.Reveal() != "hunter2-api-key" || s.IsZero() {
		t.Error("Reveal")
	}
	if New("").String() != "" || !New("").IsZero() {
		t.Error("empty secret should print empty")
	}
	var cfg struct {
		Key String `toml:"key"`
	}
	if err := toml.Unmarshal([]byte(`key = "abc"`), &cfg); err != nil || cfg.Key.Reveal() != "abc" {
		t.Errorf("decode: %v %q", err, cfg.Key.Reveal())
	}
}
