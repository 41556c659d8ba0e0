package monitis

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/statsd-agent/statsd-agent/flush/monitis/monitistest"
)

// What the client encodes, the fake (written from the spec's parsing
// rules) decodes back to the same names and values, whatever they hold.
func FuzzResultsRoundTrip(f *testing.F) {
	for _, s := range [][2]string{{"count", "1.5"}, {"odd;name", "-2"}, {"a:b", "c d"}, {"100%", "+1"}, {"", ""}, {"zürich", "%zz"}} {
		f.Add(s[0], s[1], "TCP Packets In", "pkts/s")
	}
	f.Fuzz(func(t *testing.T, name, value, display, uom string) {
		items, err := monitistest.ParseItems(formatResults([]ResultValue{{name, value}, {"second", "2"}}), 2, 2)
		if err != nil {
			t.Fatalf("results %q %q: %v", name, value, err)
		}
		if len(items) != 2 || items[0][0] != name || items[0][1] != value || items[1][0] != "second" {
			t.Fatalf("results %q %q read back as %q", name, value, items)
		}
		if uom == "" {
			uom = "N/A"
		}
		items, err = monitistest.ParseItems(formatResultParams([]ResultParam{{name, display, uom, Float}}), 4, 7)
		if err != nil {
			t.Fatalf("resultParams: %v", err)
		}
		if len(items) != 1 || items[0][0] != name || items[0][1] != display || items[0][2] != uom || items[0][3] != "4" {
			t.Fatalf("resultParams %q %q %q read back as %q", name, display, uom, items)
		}
	})
}

// parse never panics, and reports success only for what the spec calls
// success: a POST envelope with status ok, a GET JSON value without an
// "error" key.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{`{"status":"ok","data":794}`, `{"error":"Authentication failure"}`, `[{"id":"56","name":"x"}]`,
		`{"status":"monitorNameExists"}`, `<html>503</html>`, `{"status":"ok","da`, ``, `{"authToken":"ABC"}`, `  {"status":"OK"} `} {
		f.Add(200, []byte(s))
		f.Add(403, []byte(s))
		f.Add(503, []byte(s))
	}
	c, err := NewClient(ClientConfig{APIKey: NewSecret("K"), SecretKey: NewSecret("S")})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, isPost := range []bool{true, false} {
			data, err := c.parse("addResult", status, body, isPost)
			if err != nil {
				continue
			}
			if status >= 300 {
				t.Fatalf("HTTP %d accepted: %q", status, body)
			}
			b := bytes.TrimSpace(body)
			if !json.Valid(b) {
				t.Fatalf("invalid JSON accepted: %q", body)
			}
			if b[0] == '{' {
				var env map[string]json.RawMessage
				json.Unmarshal(b, &env)
				if _, bad := env["error"]; bad {
					t.Fatalf("error body accepted: %q", body)
				}
				if st, ok := env["status"]; (isPost || ok) && !strings.EqualFold(lenientString(st), "ok") {
					t.Fatalf("status %s accepted: %q", st, body)
				}
			} else if isPost {
				t.Fatalf("non-object POST response accepted: %q", body)
			}
			_ = data
		}
	})
}

// A spool record from disk never panics the decoder; what decodes
// re-encodes to a record that decodes to the same result.
func FuzzDecodePending(f *testing.F) {
	m, err := newMapper(&Config{Groups: []string{"api"}})
	if err != nil {
		f.Fatal(err)
	}
	res, _ := m.encode(snapshot(t0, 1))
	for _, p := range res {
		f.Add(encodePending(nil, p))
	}
	f.Add([]byte{1})
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePending(b)
		if err != nil {
			return
		}
		again, err := decodePending(encodePending(nil, p))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(p, again) {
			t.Fatalf("round trip changed the result:\n%+v\n%+v", p, again)
		}
	})
}
