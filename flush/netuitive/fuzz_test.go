package netuitive

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http/httptest"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/netuitive/netuitivetest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// FuzzParseErrorBody feeds arbitrary response bodies to the error-body
// parser: no panic, and an accepted body round-trips.
func FuzzParseErrorBody(f *testing.F) {
	for _, s := range []string{
		`{"status":400,"message":"BAD_REQUEST","detail":"Input Validation Failed","errors":["Missing required field 'timestamp' on Sample"],"serverTimestamp":1,"iso8601DateTime":"x"}`,
		`{"status":500}`, `<html>oops</html>`, ``, `null`, `[]`, `{"errors":[1]}`, `{"detail":""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		eb, ok := parseErrorBody(b)
		if !ok {
			return
		}
		b2, err := json.Marshal(eb)
		if err != nil {
			t.Fatal(err)
		}
		again, ok2 := parseErrorBody(b2)
		if !ok2 || !reflect.DeepEqual(eb, again) {
			t.Errorf("round trip: %+v -> %+v", eb, again)
		}
	})
}

var validID = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// FuzzEncodeAccepted encodes series with arbitrary names, tags and values
// in both mappings and posts them to the fake: every post is accepted, and
// every id is already in the server's character set (so the server does not
// rename anything).
func FuzzEncodeAccepted(f *testing.F) {
	f.Add("checkout.latency", "region", "eu", 12.5, false)
	f.Add("api/v1 requests", "h", "web 2", -3.0, true)
	f.Add("ünïcødé", "", "", math.Inf(1), false)
	f.Add(".lead", "un", "ms", 0.0, true)
	f.Fuzz(func(t *testing.T, name, key, value string, v float64, vendor bool) {
		var tags []protocol.Tag
		if key != "" {
			tags = []protocol.Tag{{Key: key, Value: value}}
		}
		snap := &aggregate.Snapshot{Time: time.UnixMilli(1700000040000), Interval: 10 * time.Second,
			Series: []aggregate.Series{
				{Name: name, Type: protocol.Counter, Tags: tags, Value: v, Rate: v / 10},
				{Name: name, Type: protocol.Gauge, Tags: tags, Value: v},
				{Name: name, Type: protocol.Timer, Tags: tags, Dist: &aggregate.DistStats{Count: 1, N: 1, Sum: v, Mean: v, Median: v, Lower: v, Upper: v,
					Percentiles: []aggregate.PercentileStats{{Threshold: 90, Count: 1, Sum: v, Mean: v, Bound: v}}}},
			},
			Events:        []protocol.Event{{Title: name, Text: value, Hostname: key, Tags: tags}},
			ServiceChecks: []protocol.ServiceCheck{{Name: name, Status: 2, Message: value, Hostname: value}},
		}
		mapping := MappingDefault
		if vendor {
			mapping = MappingNetuitiveStatsd
		}
		cfg := Config{APIKey: NewSecret("k"), ElementID: "web-01", Mapping: mapping}
		r, err := cfg.resolve(noEnv, noHost)
		if err != nil {
			t.Fatal(err)
		}
		checkAppendMatches(t, snap, &r)
		posts, invalid := encode(snap, &r)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if invalid != 3 {
				t.Errorf("invalid = %d, want 3", invalid)
			}
		}
		fake := netuitivetest.New()
		for _, p := range posts {
			path := "/ingest/k"
			if p.kind == kindEvents {
				path = "/ingest/events/k"
			}
			rec := httptest.NewRecorder()
			fake.ServeHTTP(rec, httptest.NewRequest("POST", path, bytes.NewReader(p.body)))
			if rec.Code != 202 {
				t.Fatalf("%s answered %d: %s\nbody: %s", path, rec.Code, rec.Body, p.body)
			}
			var raw []map[string]json.RawMessage
			if err := json.Unmarshal(p.body, &raw); err != nil {
				t.Fatal(err)
			}
		}
		for _, el := range fake.Elements() {
			for _, m := range el.Metrics {
				if !validID.MatchString(m.ID) && m.ID != "statsd." {
					t.Errorf("metric id %q outside [a-zA-Z0-9._-]", m.ID)
				}
			}
		}
		// The client's ids are what the server stores: no renaming.
		var sent []string
		for _, p := range posts {
			if p.kind != kindIngest {
				continue
			}
			var els []refElement
			json.Unmarshal(p.body, &els)
			for _, el := range els {
				for _, m := range el.Metrics {
					sent = append(sent, el.ID+"/"+m.ID)
				}
			}
		}
		var stored []string
		for _, el := range fake.Elements() {
			for _, m := range el.Metrics {
				stored = append(stored, el.ID+"/"+m.ID)
			}
		}
		if !reflect.DeepEqual(sent, stored) {
			t.Errorf("server renamed ids: sent %q, stored %q", sent, stored)
		}
		if len(fake.DiscardedEvents()) != 0 {
			t.Errorf("events discarded: %+v", fake.DiscardedEvents())
		}
	})
}
