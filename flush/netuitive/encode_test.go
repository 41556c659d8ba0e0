package netuitive

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// flushTime is 2023-11-14T22:14:00Z, the spec's worked example.
var flushTime = time.UnixMilli(1700000040000).UTC()

// representative is one flush with every type, tags (key:value and bare),
// the netuitive-statsd reserved tags, two series that differ only by tags,
// a sampled timer, events and service checks.
func representative() *aggregate.Snapshot {
	return &aggregate.Snapshot{
		Time:     flushTime,
		Interval: time.Minute,
		Series: []aggregate.Series{
			{Name: "api/v1 requests", Type: protocol.Counter, Value: 7, Rate: 7.0 / 60},
			{Name: "app.info", Type: protocol.Gauge, Tags: []protocol.Tag{{Key: "ty", Value: "WEB"}, {Key: "v", Value: "2.3.1"}}, Value: 1},
			{Name: "checkout.latency", Type: protocol.Timer, Tags: []protocol.Tag{{Key: "region", Value: "eu"}}, Dist: &aggregate.DistStats{
				Count: 5, CountPS: 5.0 / 60, Sum: 612.5, SumSquares: 142294.25, Mean: 122.5, Median: 95, Lower: 12, Upper: 340.5, Std: 118.6, N: 5,
				Percentiles: []aggregate.PercentileStats{
					{Threshold: 90, Count: 4, Sum: 272, SumSquares: 26594, Mean: 68, Bound: 125},
					{Threshold: 99.9, Count: 5, Sum: 612.5, SumSquares: 142294.25, Mean: 122.5, Bound: 340.5},
				},
			}},
			{Name: "db.query", Type: protocol.Timer, Dist: &aggregate.DistStats{
				// Two values received at @0.1.
				Count: 20, CountPS: 20.0 / 60, Sum: 30, SumSquares: 500, Mean: 15, Median: 15, Lower: 10, Upper: 20, Std: 5, N: 2,
				Percentiles: []aggregate.PercentileStats{{Threshold: 90, Count: 2, Sum: 30, SumSquares: 500, Mean: 15, Bound: 20}},
			}},
			{Name: "http.requests", Type: protocol.Counter, Tags: []protocol.Tag{{Key: "code", Value: "200"}}, Value: 40, Rate: 40.0 / 60},
			{Name: "http.requests", Type: protocol.Counter, Tags: []protocol.Tag{{Key: "code", Value: "500"}}, Value: 2, Rate: 2.0 / 60},
			{Name: "idle.timer", Type: protocol.Timer, Dist: &aggregate.DistStats{}},
			{Name: "payload.size", Type: protocol.Histogram, Tags: []protocol.Tag{{Key: "un", Value: "bytes"}}, Dist: &aggregate.DistStats{
				Count: 2, CountPS: 2.0 / 60, Sum: 3072, SumSquares: 5242880, Mean: 1536, Median: 1536, Lower: 1024, Upper: 2048, Std: 512, N: 2,
			}},
			{Name: "queue.depth", Type: protocol.Gauge, Tags: []protocol.Tag{{Key: "canary"}}, Value: 12},
			{Name: "remote.temp", Type: protocol.Gauge, Tags: []protocol.Tag{{Key: "h", Value: "sensor-7"}, {Key: "un", Value: "celsius"}}, Value: 21.5},
			{Name: "render.time", Type: protocol.Distribution, Tags: []protocol.Tag{{Key: "sds", Value: "ReplaceWithLast"}}, Dist: &aggregate.DistStats{
				Count: 1, CountPS: 1.0 / 60, Sum: 8.25, SumSquares: 68.0625, Mean: 8.25, Median: 8.25, Lower: 8.25, Upper: 8.25, N: 1,
				Percentiles: []aggregate.PercentileStats{{Threshold: -10, Count: 1, Sum: 8.25, SumSquares: 68.0625, Mean: 8.25, Bound: 8.25}},
			}},
			{Name: "users.unique", Type: protocol.Set, Value: 3},
		},
		Events: []protocol.Event{
			{Title: "deploy finished", Text: "v2.3.1 rolled out", Priority: "normal", AlertType: "success", AggregationKey: "deploy",
				Tags: []protocol.Tag{{Key: "team", Value: "web"}, {Key: "manual"}}},
			{Title: "disk full", Text: "/var at 100%", Timestamp: 1700000012, Hostname: "db-1", Priority: "low", AlertType: "error", SourceType: "nagios"},
		},
		ServiceChecks: []protocol.ServiceCheck{
			{Name: "db.ping", Status: 2, Message: "timeout after 5s", Tags: []protocol.Tag{{Key: "db", Value: "main"}}},
			{Name: "cache.ping", Status: 0, Hostname: "cache-1", Timestamp: 1700000030},
		},
	}
}

// goldenConfig is the configuration of the golden files.
func goldenConfig(t *testing.T, mapping string) *resolved {
	t.Helper()
	cfg := Config{
		APIKey: NewSecret("0123456789abcdef"), ElementID: "web-01", Location: "eu-west-1", Mapping: mapping,
		Tags:       map[string]string{"env": "prod", "app.version": "2.3.0"},
		Attributes: map[string]string{"agent": "statsd-agent"},
	}
	r, err := cfg.resolve(noEnv, noHost)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func noEnv(string) string { return "" }

func noHost() (string, error) { return "", errors.New("no host name in tests") }

// render formats posts for a golden file: a header line per post, then its
// body indented.
func render(t *testing.T, posts []post) []byte {
	t.Helper()
	var buf bytes.Buffer
	for i, p := range posts {
		fmt.Fprintf(&buf, "# post %d: %s, %d items\n", i+1, p.kind, p.items)
		if err := json.Indent(&buf, p.body, "", "  "); err != nil {
			t.Fatalf("post %d is not JSON: %v", i+1, err)
		}
		buf.WriteString("\n")
	}
	return buf.Bytes()
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func TestEncodeGolden(t *testing.T) {
	for _, tc := range []struct{ mapping, file string }{
		{MappingDefault, "default.golden"},
		{MappingNetuitiveStatsd, "netuitive-statsd.golden"},
	} {
		t.Run(tc.mapping, func(t *testing.T) {
			posts, invalid := encode(representative(), goldenConfig(t, tc.mapping))
			if invalid != 0 {
				t.Errorf("invalid = %d, want 0", invalid)
			}
			checkGolden(t, tc.file, render(t, posts))
		})
	}
}

// decodedSample is a sample with its fields as the fake would read them.
type decodedSample struct {
	MetricID                     string
	Timestamp                    int64
	Val, Min, Max, Avg, Sum, Cnt *float64
}

func decodeIngest(t *testing.T, posts []post) (metrics []refMetric, samples []decodedSample) {
	t.Helper()
	for _, p := range posts {
		if p.kind != kindIngest {
			continue
		}
		var els []struct {
			ID      string          `json:"id"`
			Metrics []refMetric     `json:"metrics"`
			Samples []decodedSample `json:"samples"`
		}
		if err := json.Unmarshal(p.body, &els); err != nil {
			t.Fatal(err)
		}
		for _, el := range els {
			metrics = append(metrics, el.Metrics...)
			samples = append(samples, el.Samples...)
		}
	}
	return metrics, samples
}

// TestEncodeSplit checks that a small per-post metric limit splits the
// element into posts that together carry exactly the unsplit content.
func TestEncodeSplit(t *testing.T) {
	for _, mapping := range []string{MappingDefault, MappingNetuitiveStatsd} {
		for _, per := range []int{1, 2, 3, 7, 1000} {
			t.Run(fmt.Sprintf("%s/%d", mapping, per), func(t *testing.T) {
				whole := goldenConfig(t, mapping)
				wantPosts, _ := encode(representative(), whole)
				wantM, wantS := decodeIngest(t, wantPosts)

				cfg := goldenConfig(t, mapping)
				cfg.MaxMetricsPerPost = per
				posts, _ := encode(representative(), cfg)
				for i, p := range posts {
					m, s := decodeIngest(t, []post{p})
					if len(m) > per {
						t.Errorf("post %d has %d metrics, limit %d", i, len(m), per)
					}
					if p.kind == kindIngest && p.items != len(s) {
						t.Errorf("post %d: items = %d, samples = %d", i, p.items, len(s))
					}
				}
				gotM, gotS := decodeIngest(t, posts)
				if diff := cmp.Diff(wantM, gotM); diff != "" {
					t.Errorf("metrics differ (-unsplit +split):\n%s", diff)
				}
				if diff := cmp.Diff(wantS, gotS); diff != "" {
					t.Errorf("samples differ (-unsplit +split):\n%s", diff)
				}
			})
		}
	}
}

// TestEncodeNonFinite checks that NaN and infinite values are dropped and
// counted, since JSON cannot carry them.
func TestEncodeNonFinite(t *testing.T) {
	snap := &aggregate.Snapshot{Time: flushTime, Series: []aggregate.Series{
		{Name: "a", Type: protocol.Gauge, Value: math.NaN()},
		{Name: "b", Type: protocol.Counter, Value: math.Inf(1)},
		{Name: "c", Type: protocol.Timer, Dist: &aggregate.DistStats{Count: 1, N: 1, Sum: math.Inf(-1), Mean: math.Inf(-1), Lower: math.Inf(-1), Upper: math.Inf(-1), Median: math.Inf(-1)}},
		{Name: "d", Type: protocol.Gauge, Value: 4},
	}}
	for _, mapping := range []string{MappingDefault, MappingNetuitiveStatsd} {
		posts, invalid := encode(snap, goldenConfig(t, mapping))
		if invalid != 3 {
			t.Errorf("%s: invalid = %d, want 3", mapping, invalid)
		}
		_, samples := decodeIngest(t, posts)
		if len(samples) != 1 || samples[0].MetricID != "statsd.d" || *samples[0].Val != 4 {
			t.Errorf("%s: samples = %+v, want only statsd.d = 4", mapping, samples)
		}
	}
}

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, client, vendor string }{
		{"cpu.total.idle", "cpu.total.idle", "cpu.total.idle"},
		{"eviction$server populating queue,:but", "eviction_server_populating_queue__but", "evictionserver_populating_queuebut"},
		{"counter/* test", "counter___test", "counter__test"},
		{".lead", ".lead", "lead"},
		{"a  \tb", "a___b", "a_b"},
		{"temp°C", "temp_C", "tempC"},
		{"", "", ""},
	} {
		if got := sanitize(tc.in); got != tc.client {
			t.Errorf("sanitize(%q) = %q, want %q", tc.in, got, tc.client)
		}
		if got := vendorName(tc.in); got != tc.vendor {
			t.Errorf("vendorName(%q) = %q, want %q", tc.in, got, tc.vendor)
		}
	}
}

func TestDefaultIDsUnique(t *testing.T) {
	// "a.b_c" untagged and "a" tagged b:c sanitize to the same id.
	snap := &aggregate.Snapshot{Time: flushTime, Series: []aggregate.Series{
		{Name: "a", Type: protocol.Gauge, Tags: []protocol.Tag{{Key: "b", Value: "c"}}, Value: 1},
		{Name: "a.b_c", Type: protocol.Gauge, Value: 2},
		{Name: "a.b_c", Type: protocol.Counter, Value: 3},
	}}
	posts, _ := encode(snap, goldenConfig(t, MappingDefault))
	metrics, _ := decodeIngest(t, posts)
	var ids []string
	for _, m := range metrics {
		ids = append(ids, m.ID)
	}
	want := []string{"statsd.a.b_c", "statsd.a.b_c_2", "statsd.a.b_c_3"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

// The reference model: the API's JSON as encoding/json structs, to check
// that the hand-written writers produce the same bytes.
type (
	refElement struct {
		ID         string      `json:"id"`
		Name       string      `json:"name"`
		Type       string      `json:"type"`
		Location   string      `json:"location,omitempty"`
		Tags       []refTag    `json:"tags"`
		Attributes []refTag    `json:"attributes"`
		Relations  []struct{}  `json:"relations"`
		Metrics    []refMetric `json:"metrics"`
		Samples    []refSample `json:"samples"`
	}
	refTag struct {
		Name  string  `json:"name"`
		Value *string `json:"value"`
	}
	refMetric struct {
		ID                 string   `json:"id"`
		Type               string   `json:"type"`
		Unit               string   `json:"unit"`
		SparseDataStrategy string   `json:"sparseDataStrategy"`
		Tags               []refTag `json:"tags"`
	}
	refSample struct {
		MetricID  string   `json:"metricId"`
		Timestamp int64    `json:"timestamp"`
		Val       *float64 `json:"val,omitempty"`
		Min       *float64 `json:"min,omitempty"`
		Max       *float64 `json:"max,omitempty"`
		Avg       *float64 `json:"avg,omitempty"`
		Sum       *float64 `json:"sum,omitempty"`
		Cnt       *float64 `json:"cnt,omitempty"`
	}
	refEvent struct {
		Type      string   `json:"type"`
		Title     string   `json:"title"`
		Source    string   `json:"source"`
		Timestamp int64    `json:"timestamp"`
		Tags      []refTag `json:"tags,omitempty"`
		Data      struct {
			ElementID string `json:"elementId"`
			Level     string `json:"level"`
			Message   string `json:"message,omitempty"`
		} `json:"data"`
	}
)

func refTags(ts []tag) []refTag {
	out := []refTag{}
	for _, t := range ts {
		r := refTag{Name: t.Name}
		if !t.Null {
			v := t.Value
			r.Value = &v
		}
		out = append(out, r)
	}
	return out
}

func toRef(el *element) refElement {
	r := refElement{ID: el.ID, Name: el.Name, Type: el.Type, Location: el.Location,
		Tags: refTags(el.Tags), Attributes: refTags(el.Attributes), Relations: []struct{}{}, Metrics: []refMetric{}, Samples: []refSample{}}
	for _, m := range el.Metrics {
		r.Metrics = append(r.Metrics, refMetric{m.ID, m.Type, m.Unit, m.SparseDataStrategy, refTags(m.Tags)})
	}
	for _, s := range el.Samples {
		rs := refSample{MetricID: s.MetricID, Timestamp: s.Timestamp}
		for f, dst := range []**float64{&rs.Val, &rs.Min, &rs.Max, &rs.Avg, &rs.Sum, &rs.Cnt} {
			if s.has&(1<<f) != 0 {
				v := s.v[f]
				*dst = &v
			}
		}
		r.Samples = append(r.Samples, rs)
	}
	return r
}

func toRefEvents(evs []event) []refEvent {
	var out []refEvent
	for _, e := range evs {
		r := refEvent{Type: e.Type, Title: e.Title, Source: e.Source, Timestamp: e.Timestamp}
		if len(e.Tags) > 0 {
			r.Tags = refTags(e.Tags)
		}
		r.Data.ElementID, r.Data.Level, r.Data.Message = e.ElementID, e.Level, e.Message
		out = append(out, r)
	}
	return out
}

// checkAppendMatches compares the writers with encoding/json on the
// elements and events of a snapshot.
func checkAppendMatches(t *testing.T, snap *aggregate.Snapshot, cfg *resolved) {
	t.Helper()
	e := &encoder{cfg: cfg, ts: snap.Time.UnixMilli()}
	elems := []*element{e.defaultElement(snap)}
	events := e.defaultEvents(snap)
	if cfg.vendor {
		elems, events = e.vendorElements(snap), e.vendorEvents(snap)
	}
	for _, el := range elems {
		got := appendElement(nil, el, el.Metrics, el.Samples)
		want, err := json.Marshal(toRef(el))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("element differs from encoding/json:\n got %s\nwant %s", got, want)
		}
	}
	if len(events) > 0 {
		got := appendEvents(nil, events)
		want, _ := json.Marshal(toRefEvents(events))
		if !bytes.Equal(got, want) {
			t.Errorf("events differ from encoding/json:\n got %s\nwant %s", got, want)
		}
	}
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	odd := representative()
	odd.Series = append(odd.Series,
		aggregate.Series{Name: "tiny", Type: protocol.Gauge, Value: 1.5e-9, Tags: []protocol.Tag{{Key: "q", Value: "\"<&>\\ \u2028 \x01 \xff"}}},
		aggregate.Series{Name: "huge", Type: protocol.Gauge, Value: -3e21},
		aggregate.Series{Name: "zero", Type: protocol.Counter, Value: 0},
	)
	odd.Events = append(odd.Events, protocol.Event{Title: "tab\there", Text: "ünïcødé </script>"})
	for _, mapping := range []string{MappingDefault, MappingNetuitiveStatsd} {
		checkAppendMatches(t, odd, goldenConfig(t, mapping))
	}
}
