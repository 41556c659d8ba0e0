package remotewrite

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/golang/snappy"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/prometheus/prompb"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/remotewrite/remotewritetest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// dist returns the DistStats of values (rate 1) with a sketch and the 90th
// percentile bound.
func dist(t testing.TB, values ...float64) *aggregate.DistStats {
	t.Helper()
	sk, err := ddsketch.LogUnboundedDenseDDSketch(aggregate.SketchAccuracy)
	if err != nil {
		t.Fatal(err)
	}
	d := &aggregate.DistStats{N: len(values), Count: float64(len(values)), Sketch: sk}
	for _, v := range values {
		d.Sum += v
		_ = sk.Add(v)
	}
	if len(values) > 0 {
		d.Percentiles = []aggregate.PercentileStats{{Threshold: 90, Bound: values[len(values)-1]}, {Threshold: -10, Bound: values[0]}}
	}
	return d
}

func tags(kv ...string) []protocol.Tag {
	var out []protocol.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, protocol.Tag{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// goldenCases are the snapshots (several flushes in a row through one
// backend) of each golden file.
func goldenCases(t testing.TB) map[string]struct {
	cfg   Config
	snaps []*aggregate.Snapshot
} {
	t0 := time.Unix(1763769600, 0).UTC()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }
	return map[string]struct {
		cfg   Config
		snaps []*aggregate.Snapshot
	}{
		// Every type, tags (bare, repeated key, reserved names, odd
		// characters), counters summed over two flushes, an idle counter
		// repeated, a cumulative histogram.
		"types": {Config{Host: "web-01", Labels: map[string]string{"region": "eu"}}, []*aggregate.Snapshot{
			{Time: at(0), Interval: 10 * time.Second, Series: []aggregate.Series{
				{Name: "api.requests", Type: protocol.Counter, Tags: tags("env", "prod", "route", "/login"), Value: 5, Rate: 0.5},
				{Name: "api.latency", Type: protocol.Timer, Tags: tags("env", "prod"), Dist: dist(t, 1, 2, 2, 10, 250)},
				{Name: "jobs.idle", Type: protocol.Counter, Value: 1, Rate: 0.1},
				{Name: "queue-depth", Type: protocol.Gauge, Tags: tags("canary", "", "host", "other", "__name__", "x", "env", "a", "env", "b"), Value: -3.5},
				{Name: "users", Type: protocol.Set, Value: 42},
				{Name: "9lives.métrique:x", Type: protocol.Gauge, Tags: tags("a.b", "1"), Value: 1},
			}},
			{Time: at(1), Interval: 10 * time.Second, Series: []aggregate.Series{
				{Name: "api.requests", Type: protocol.Counter, Tags: tags("env", "prod", "route", "/login"), Value: 7, Rate: 0.7},
				{Name: "api.latency", Type: protocol.Timer, Tags: tags("env", "prod"), Dist: dist(t, 3, 300)},
			}},
		}},
		// Zero and negative values in a distribution, a name that already
		// ends in _total, the prefix, a duplicate mapping, no host label.
		"signs": {Config{NoHostLabel: true, Prefix: "statsd."}, []*aggregate.Snapshot{
			{Time: at(0), Interval: 10 * time.Second, Series: []aggregate.Series{
				{Name: "bytes_total", Type: protocol.Counter, Value: 1024},
				{Name: "temp.delta", Type: protocol.Distribution, Dist: dist(t, -20, -1, 0, 0, 0.5, 17)},
				{Name: "x.y", Type: protocol.Gauge, Value: 1},
				{Name: "x_y", Type: protocol.Gauge, Value: 2},
			}},
		}},
		// Requests split at max_series_per_request; classic only.
		"split": {Config{Host: "h", MaxSeriesPerRequest: 2, NoNativeHistograms: true, NoPercentiles: true}, []*aggregate.Snapshot{
			{Time: at(0), Interval: 10 * time.Second, Series: []aggregate.Series{
				{Name: "a", Type: protocol.Counter, Value: 1},
				{Name: "b", Type: protocol.Gauge, Value: 2},
				{Name: "c", Type: protocol.Histogram, Dist: dist(t, 4, 8)},
			}},
		}},
	}
}

// decode reverses the wire encoding: snappy, then protobuf.
func decode(t testing.TB, body []byte) *prompb.WriteRequest {
	t.Helper()
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatalf("snappy: %v", err)
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		t.Fatalf("protobuf: %v", err)
	}
	return &wr
}

// TestGolden encodes each case's snapshots, decodes the bytes as a
// receiver does and compares them with testdata/<case>.golden (JSON of
// the decoded requests in the text form of format). go test -update rewrites.
func TestGolden(t *testing.T) {
	for name, c := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			c.cfg.URL = "http://127.0.0.1:1/api/v1/write"
			b, err := New(c.cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var flushes [][]*prompb.WriteRequest
			for _, s := range c.snaps {
				reqs, err := b.encode(s)
				if err != nil {
					t.Fatal(err)
				}
				var wrs []*prompb.WriteRequest
				for _, r := range reqs {
					wr := decode(t, r.Body)
					if len(wr.Timeseries) != r.Items {
						t.Errorf("request counts %d series, holds %d", r.Items, len(wr.Timeseries))
					}
					if err := validate(wr); err != nil {
						t.Error(err)
					}
					wrs = append(wrs, wr)
				}
				flushes = append(flushes, wrs)
			}
			got := []byte(format(flushes))
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", path, diff)
			}
		})
	}
}

func validate(wr *prompb.WriteRequest) error { return remotewritetest.Validate(wr) }

// format renders decoded requests as text, one line per time series:
//
//	name{label="value",...} value @timestamp
//	name{...} histogram{count=... sum=... schema=... zero_threshold=... zero_count=... positive=[offset:length ...]/[deltas] negative=...} @timestamp
func format(flushes [][]*prompb.WriteRequest) string {
	var b strings.Builder
	for i, wrs := range flushes {
		for j, wr := range wrs {
			fmt.Fprintf(&b, "# flush %d request %d: %d series, %d metadata\n", i+1, j+1, len(wr.Timeseries), len(wr.Metadata))
			for _, md := range wr.Metadata {
				fmt.Fprintf(&b, "metadata %s %s %q\n", md.MetricFamilyName, md.Type, md.Help)
			}
			for _, ts := range wr.Timeseries {
				name := ""
				var ls []string
				for _, l := range ts.Labels {
					if l.Name == "__name__" {
						name = l.Value
						continue
					}
					ls = append(ls, l.Name+"="+strconv.Quote(l.Value))
				}
				head := name + "{" + strings.Join(ls, ",") + "}"
				for _, s := range ts.Samples {
					fmt.Fprintf(&b, "%s %s @%d\n", head, strconv.FormatFloat(s.Value, 'g', -1, 64), s.Timestamp)
				}
				for _, h := range ts.Histograms {
					fmt.Fprintf(&b, "%s histogram{count=%d sum=%s schema=%d zero_threshold=%g zero_count=%d positive=%s/%v negative=%s/%v reset_hint=%s} @%d\n",
						head, h.GetCountInt(), strconv.FormatFloat(h.Sum, 'g', -1, 64), h.Schema, h.ZeroThreshold, h.GetZeroCountInt(),
						formatSpans(h.PositiveSpans), h.PositiveDeltas, formatSpans(h.NegativeSpans), h.NegativeDeltas, h.ResetHint, h.Timestamp)
				}
			}
		}
	}
	return b.String()
}

func formatSpans(spans []prompb.BucketSpan) string {
	var parts []string
	for _, s := range spans {
		parts = append(parts, fmt.Sprintf("%d:%d", s.Offset, s.Length))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
