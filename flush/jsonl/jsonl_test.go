package jsonl

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var update = flag.Bool("update", false, "rewrite golden files")

func representative() *aggregate.Snapshot {
	return &aggregate.Snapshot{
		Time:     time.Unix(1763769600, 0),
		Interval: 10 * time.Second,
		Series: []aggregate.Series{
			{Name: "api.req", Type: protocol.Counter, Tags: []protocol.Tag{{Key: "env", Value: "prod"}}, Value: 12, Rate: 1.2},
			{Name: "queue.depth", Type: protocol.Gauge, Value: -7.5},
			{Name: "db.query", Type: protocol.Timer, Tags: []protocol.Tag{{Key: "op", Value: "select"}, {Key: "role", Value: "a"}, {Key: "role", Value: "b"}, {Key: "slow"}},
				Dist: &aggregate.DistStats{Count: 10, CountPS: 1, Sum: 55, SumSquares: 385, Mean: 5.5, Median: 5.5, Lower: 1, Upper: 10, Std: 2.8722813232690143, N: 10,
					Percentiles: []aggregate.PercentileStats{{Threshold: 90, Count: 9, Sum: 45, SumSquares: 285, Mean: 5, Bound: 9}, {Threshold: -10, Count: 1, Sum: 10, SumSquares: 100, Mean: 10, Bound: 10}}}},
			{Name: "resp.size", Type: protocol.Histogram, Dist: &aggregate.DistStats{}},
			{Name: "page.views", Type: protocol.Distribution, Dist: &aggregate.DistStats{Count: 3, CountPS: 0.3, Sum: 35, SumSquares: 1029, Mean: 35.0 / 3, Median: 2, Lower: 1, Upper: 32, Std: 14.142135623730951, N: 3}},
			{Name: "uniques", Type: protocol.Set, Value: 2},
			{Name: "weird \"name\"\n\x01é", Type: protocol.Counter, Value: math.Inf(1), Rate: math.Inf(1)},
		},
		Events:        []protocol.Event{{Title: "An exception occurred", Text: "Cannot parse CSV file\nfrom 10.0.0.17", AlertType: "warning", Priority: "normal", Tags: []protocol.Tag{{Key: "err_type", Value: "bad_file"}}}},
		ServiceChecks: []protocol.ServiceCheck{{Name: "Redis connection", Status: 2, Message: "Redis connection timed out after 10s", Tags: []protocol.Tag{{Key: "env", Value: "dev"}}}},
	}
}

func TestGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := New(&buf).Flush(context.Background(), representative()); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "snapshot.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("output differs from %s (run with -update to accept):\n%s", golden, buf.String())
	}
	// Every line is a JSON object with exactly the documented keys.
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("invalid JSON line %q: %v", line, err)
		}
		if m["type"] == "event" || m["type"] == "service_check" {
			continue
		}
		for _, k := range []string{"ts", "interval", "name", "type", "tags", "values"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %q lacks key %q", line, k)
			}
		}
		if len(m) != 6 {
			t.Errorf("line %q has %d keys, want 6", line, len(m))
		}
	}
}

func TestOpenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	for i := 0; i < 2; i++ {
		b, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Flush(context.Background(), &aggregate.Snapshot{Time: time.Unix(1, 0), Interval: time.Second,
			Series: []aggregate.Series{{Name: "x", Type: protocol.Gauge, Value: float64(i)}}}); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(path)
	want := `{"ts":1,"interval":1,"name":"x","type":"gauge","tags":{},"values":{"value":0}}` + "\n" +
		`{"ts":1,"interval":1,"name":"x","type":"gauge","tags":{},"values":{"value":1}}` + "\n"
	if string(got) != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir")); err == nil {
		t.Error("Open of a missing directory succeeded")
	}
}

// appendString must agree with encoding/json on every input.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x1f\n\r\t\b\f", "é\u2028\u2029", "\xff\xfe bad utf8", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got := string(appendString(nil, s)) + "\n"
		if got != want.String() {
			t.Errorf("appendString(%q) = %s, encoding/json gives %s", s, got, want.String())
		}
	})
}
