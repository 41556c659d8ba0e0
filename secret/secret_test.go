package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedacted(t *testing.T) {
	s := String("hunter2-api-key")
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "key", s)
	j, _ := json.Marshal(struct{ Key String }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %+v %#v", s, s, s, s), fmt.Sprintf("%v", struct{ K String }{s}), logs.String(), string(j)} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "[redacted]") {
			t.Errorf("leaked or not redacted: %q", out)
		}
	}
	if s.Reveal() != "hunter2-api-key" {
		t.Error("Reveal")
	}
	if String("").String() != "" {
		t.Error("empty secret should print empty")
	}
	var u String
	if err := u.UnmarshalText([]byte("abc")); err != nil || u.Reveal() != "abc" {
		t.Error("UnmarshalText")
	}
}
