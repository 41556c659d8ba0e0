package otlp

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/google/go-cmp/cmp"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/otlp/otlptest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func dist(t testing.TB, values ...float64) *aggregate.DistStats {
	t.Helper()
	sk, err := ddsketch.LogUnboundedDenseDDSketch(aggregate.SketchAccuracy)
	if err != nil {
		t.Fatal(err)
	}
	d := &aggregate.DistStats{N: len(values), Count: float64(len(values)), Sketch: sk}
	for i, v := range values {
		d.Sum += v
		_ = sk.Add(v)
		if i == 0 || v < d.Lower {
			d.Lower = v
		}
		if i == 0 || v > d.Upper {
			d.Upper = v
		}
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

func goldenSnapshots(t testing.TB) []*aggregate.Snapshot {
	t0 := time.Unix(1763769600, 0).UTC()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }
	return []*aggregate.Snapshot{
		{Time: at(0), Interval: 10 * time.Second, Series: []aggregate.Series{
			{Name: "api.requests", Type: protocol.Counter, Tags: tags("env", "prod", "route", "/login"), Value: 5},
			{Name: "api.latency", Type: protocol.Timer, Tags: tags("env", "prod"), Dist: dist(t, 1, 2, 2, 10, 250)},
			{Name: "jobs.idle", Type: protocol.Counter, Value: 1},
			{Name: "queue.depth", Type: protocol.Gauge, Tags: tags("canary", "", "env", "a", "env", "b"), Value: -3.5},
			{Name: "temp", Type: protocol.Distribution, Dist: dist(t, -20, 0, 0.5)},
			{Name: "users", Type: protocol.Set, Value: 42},
		}},
		{Time: at(1), Interval: 10 * time.Second, Series: []aggregate.Series{
			{Name: "api.requests", Type: protocol.Counter, Tags: tags("env", "prod", "route", "/login"), Value: 7},
			{Name: "api.latency", Type: protocol.Timer, Tags: tags("env", "prod"), Dist: dist(t, 3, 300)},
		}},
	}
}

func decodeRequest(t testing.TB, body []byte) *colmetricspb.ExportMetricsServiceRequest {
	t.Helper()
	var er colmetricspb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(body, &er); err != nil {
		t.Fatal(err)
	}
	return &er
}

// TestGolden encodes two flushes per temporality (and a split case),
// decodes the bytes as a receiver does, checks them with the receiver's
// validation and compares every data point with testdata/<case>.golden.
func TestGolden(t *testing.T) {
	cases := map[string]Config{
		"cumulative": {Host: "web-01", ResourceAttributes: map[string]string{"deployment.environment": "prod"}},
		"delta":      {Host: "web-01", Temporality: TemporalityDelta, Prefix: "statsd."},
		"split":      {Host: "web-01", Temporality: TemporalityDelta, MaxDataPointsPerExport: 2},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := New(cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			for i, s := range goldenSnapshots(t) {
				reqs, err := b.encode(s)
				if err != nil {
					t.Fatal(err)
				}
				for j, r := range reqs {
					er := decodeRequest(t, r.Body)
					if err := otlptest.Validate(er); err != nil {
						t.Error(err)
					}
					if !proto.Equal(er, r.Msg) {
						t.Error("body does not decode to the message")
					}
					fmt.Fprintf(&out, "# flush %d export %d: %d data points\n", i+1, j+1, r.Items)
					out.WriteString(Format(er))
				}
			}
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}

func attrString(kvs []*commonpb.KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, fmt.Sprintf("%s=%q", kv.Key, kv.GetValue().GetStringValue()))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Format renders a request as text, one line per data point.
func Format(er *colmetricspb.ExportMetricsServiceRequest) string {
	var b strings.Builder
	for _, rm := range er.ResourceMetrics {
		fmt.Fprintf(&b, "resource %s\n", attrString(rm.GetResource().GetAttributes()))
		for _, sm := range rm.ScopeMetrics {
			fmt.Fprintf(&b, "scope %s\n", sm.GetScope().GetName())
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case *metricspb.Metric_Sum:
					for _, p := range d.Sum.DataPoints {
						fmt.Fprintf(&b, "sum %s%s %s monotonic=%v %g start=%d time=%d\n", m.Name, attrString(p.Attributes), d.Sum.AggregationTemporality, d.Sum.IsMonotonic, p.GetAsDouble(), p.StartTimeUnixNano, p.TimeUnixNano)
					}
				case *metricspb.Metric_Gauge:
					for _, p := range d.Gauge.DataPoints {
						fmt.Fprintf(&b, "gauge %s%s %g time=%d\n", m.Name, attrString(p.Attributes), p.GetAsDouble(), p.TimeUnixNano)
					}
				case *metricspb.Metric_ExponentialHistogram:
					for _, p := range d.ExponentialHistogram.DataPoints {
						fmt.Fprintf(&b, "exphist %s%s unit=%q %s count=%d sum=%g min=%g max=%g scale=%d zero_count=%d zero_threshold=%g positive=%s negative=%s start=%d time=%d\n",
							m.Name, attrString(p.Attributes), m.Unit, d.ExponentialHistogram.AggregationTemporality, p.Count, p.GetSum(), p.GetMin(), p.GetMax(), p.Scale, p.ZeroCount, p.ZeroThreshold,
							buckets(p.GetPositive()), buckets(p.GetNegative()), p.StartTimeUnixNano, p.TimeUnixNano)
					}
				}
			}
		}
	}
	return b.String()
}

// buckets renders dense buckets sparsely: offset, length and the non-zero
// counts by OTLP bucket index.
func buckets(b *metricspb.ExponentialHistogramDataPoint_Buckets) string {
	var nz []string
	for i, c := range b.GetBucketCounts() {
		if c != 0 {
			nz = append(nz, fmt.Sprintf("%d:%d", int(b.GetOffset())+i, c))
		}
	}
	return fmt.Sprintf("(offset %d, %d buckets){%s}", b.GetOffset(), len(b.GetBucketCounts()), strings.Join(nz, " "))
}
