package otlp

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/flush/otlp/otlptest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var (
	_ flush.Backend = (*Backend)(nil)
	_ flush.Closer  = (*Backend)(nil)
	_ flush.Named   = (*Backend)(nil)
)

func startReceiver(t *testing.T) *otlptest.Receiver {
	t.Helper()
	r, err := otlptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

type testAgent struct {
	a    *agent.Agent
	conn net.Conn
	sent uint64
}

func startAgent(t *testing.T, b flush.Backend) *testAgent {
	t.Helper()
	a, err := agent.New(agent.Config{UDP: "127.0.0.1:0", Aggregate: aggregate.Config{Interval: time.Hour, Sketches: true}}, []flush.Backend{b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	conn, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("agent did not stop")
		}
	})
	return &testAgent{a: a, conn: conn}
}

func (ta *testAgent) send(t *testing.T, lines ...string) {
	t.Helper()
	for i := 0; i < len(lines); i += 20 {
		chunk := lines[i:min(i+20, len(lines))]
		if _, err := ta.conn.Write([]byte(strings.Join(chunk, "\n"))); err != nil {
			t.Fatal(err)
		}
		ta.sent += uint64(len(chunk))
		if i%2000 == 0 {
			ta.wait(t)
		}
	}
	ta.wait(t)
}

func (ta *testAgent) wait(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ta.a.LinesReceived() < ta.sent {
		if time.Now().After(deadline) {
			t.Fatalf("agent read %d of %d lines", ta.a.LinesReceived(), ta.sent)
		}
		time.Sleep(time.Millisecond)
	}
}

func (ta *testAgent) flush(t *testing.T, at time.Time) *aggregate.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return ta.a.Flush(ctx, at)
}

// point is a data point found by metric name and attributes.
type point struct {
	kind string
	num  *metricspb.NumberDataPoint
	hist *metricspb.ExponentialHistogramDataPoint
	temp metricspb.AggregationTemporality
	mono bool
}

func pointKey(name string, attrs []*commonpb.KeyValue) string {
	var b strings.Builder
	b.WriteString(name)
	for _, a := range attrs {
		fmt.Fprintf(&b, "|%s=%s", a.Key, a.GetValue().GetStringValue())
	}
	return b.String()
}

func dataPoints(er *colmetricspb.ExportMetricsServiceRequest) map[string]point {
	out := map[string]point{}
	for _, rm := range er.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case *metricspb.Metric_Sum:
					for _, p := range d.Sum.DataPoints {
						out[pointKey(m.Name, p.Attributes)] = point{kind: "sum", num: p, temp: d.Sum.AggregationTemporality, mono: d.Sum.IsMonotonic}
					}
				case *metricspb.Metric_Gauge:
					for _, p := range d.Gauge.DataPoints {
						out[pointKey(m.Name, p.Attributes)] = point{kind: "gauge", num: p}
					}
				case *metricspb.Metric_ExponentialHistogram:
					for _, p := range d.ExponentialHistogram.DataPoints {
						out[pointKey(m.Name, p.Attributes)] = point{kind: "exphist", hist: p, temp: d.ExponentialHistogram.AggregationTemporality}
					}
				}
			}
		}
	}
	return out
}

func seriesKey(s *aggregate.Series) string {
	var attrs []*commonpb.KeyValue
	for _, t := range s.Tags {
		attrs = append(attrs, strAttr(t.Key, t.Value))
	}
	return pointKey(s.Name, attrs)
}

// TestAgentEndToEnd sends StatsD over UDP through an agent whose only
// backend exports to the in-process receiver, over both transports and
// both temporalities, and checks every received data point against the
// snapshots the agent built.
func TestAgentEndToEnd(t *testing.T) {
	for _, proto := range []string{ProtocolHTTP, ProtocolGRPC} {
		for _, temp := range []string{TemporalityDelta, TemporalityCumulative} {
			t.Run(proto+"/"+temp, func(t *testing.T) {
				rcv := startReceiver(t)
				endpoint := rcv.HTTPURL()
				if proto == ProtocolGRPC {
					endpoint = rcv.GRPCAddr()
				}
				b, err := New(Config{Protocol: proto, Endpoint: endpoint, Temporality: temp, Host: "web-01",
					Headers: map[string]Secret{"X-Api-Key": NewSecret("k")}, RequestsPerSecond: -1}, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				ta := startAgent(t, b)
				t0 := time.Unix(1763769600, 0)
				var snaps []*aggregate.Snapshot
				ta.send(t, "req:1|c|#route:/a", "req:2|c|@0.5|#route:/a", "req:1|c|#route:/b", "q:5|g", "u:x|s", "u:y|s",
					"lat:10|ms", "lat:20|ms", "lat:30|ms|@0.5", "neg:-2|h", "neg:0|h", "neg:3|h")
				snaps = append(snaps, ta.flush(t, t0))
				ta.send(t, "req:4|c|#route:/a", "q:+1|g", "lat:15|ms")
				snaps = append(snaps, ta.flush(t, t0.Add(10*time.Second)))

				reqs := rcv.Requests()
				if len(reqs) != len(snaps) {
					t.Fatalf("%d exports for %d flushes", len(reqs), len(snaps))
				}
				for _, h := range rcv.Headers() {
					if h["X-Api-Key"] != "k" && h["x-api-key"] != "k" {
						t.Errorf("header missing: %v", h)
					}
				}
				totals := map[string]float64{}
				hists := map[string]*expohist.Accumulator{}
				for i, s := range snaps {
					got := dataPoints(reqs[i])
					res := reqs[i].ResourceMetrics[0].Resource.Attributes
					if pointKey("", res) != "|host.name=web-01|service.name=statsd-agent" {
						t.Errorf("resource %v", res)
					}
					seen := 0
					for j := range s.Series {
						ser := &s.Series[j]
						k := seriesKey(ser)
						p, ok := got[k]
						if !ok {
							t.Errorf("flush %d: no data point for %s", i, k)
							continue
						}
						seen++
						checkPoint(t, i, ser, p, temp == TemporalityCumulative, totals, hists)
					}
					if temp == TemporalityDelta && seen != len(got) {
						t.Errorf("flush %d: %d data points, %d series", i, len(got), seen)
					}
				}
			})
		}
	}
}

func checkPoint(t *testing.T, i int, s *aggregate.Series, p point, cumulative bool, totals map[string]float64, hists map[string]*expohist.Accumulator) {
	t.Helper()
	k := seriesKey(s)
	wantTemp := metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
	if cumulative {
		wantTemp = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
	}
	switch s.Type {
	case protocol.Counter:
		want := s.Value
		if cumulative {
			totals[k] += s.Value
			want = totals[k]
		}
		if p.kind != "sum" || !p.mono || p.temp != wantTemp || p.num.GetAsDouble() != want {
			t.Errorf("flush %d %s: %s %v mono=%v %v, want sum %v", i, k, p.kind, p.temp, p.mono, p.num.GetAsDouble(), want)
		}
	case protocol.Gauge, protocol.Set:
		if p.kind != "gauge" || p.num.GetAsDouble() != s.Value {
			t.Errorf("flush %d %s: %s %v, want gauge %v", i, k, p.kind, p.num.GetAsDouble(), s.Value)
		}
	default:
		d := s.Dist
		h, err := expohist.FromSketch(d.Sketch, expohist.DefaultSchema, d.Count/float64(d.N), d.Sum*d.Count/float64(d.N))
		if err != nil {
			t.Fatal(err)
		}
		if cumulative {
			if hists[k] == nil {
				hists[k] = &expohist.Accumulator{}
			}
			hists[k].Add(h)
			h = hists[k].Histogram()
		}
		hp := p.hist
		if p.kind != "exphist" || p.temp != wantTemp || hp.Count != expohist.IntCount(h) || math.Abs(hp.GetSum()-h.Sum) > 1e-9 || hp.Scale != expohist.DefaultSchema {
			t.Errorf("flush %d %s: %s %v count %d sum %v scale %d, want count %d sum %v", i, k, p.kind, p.temp, hp.GetCount(), hp.GetSum(), hp.GetScale(), expohist.IntCount(h), h.Sum)
		}
		if !cumulative && (hp.GetMin() != d.Lower || hp.GetMax() != d.Upper) {
			t.Errorf("flush %d %s: min/max %v/%v, want %v/%v", i, k, hp.GetMin(), hp.GetMax(), d.Lower, d.Upper)
		}
		if got, want := hp.GetPositive().GetBucketCounts(), expohist.RoundCounts(h.Positive.Counts); !slices.Equal(got, want) || (len(want) > 0 && hp.GetPositive().GetOffset() != h.Positive.OTLPOffset()) {
			t.Errorf("flush %d %s: positive buckets differ", i, k)
		}
		if got, want := hp.GetNegative().GetBucketCounts(), expohist.RoundCounts(h.Negative.Counts); !slices.Equal(got, want) {
			t.Errorf("flush %d %s: negative buckets differ", i, k)
		}
		if hp.ZeroCount != uint64(math.Round(h.ZeroCount)) {
			t.Errorf("flush %d %s: zero count %d", i, k, hp.ZeroCount)
		}
	}
}

// TestFleetMerge: two agents get disjoint halves of one sample set; adding
// their exported exponential histograms bucket by bucket (what a
// collector's or backend's aggregation does) gives percentiles within the
// documented bound of the exact percentiles of the whole set.
func TestFleetMerge(t *testing.T) {
	rcv := startReceiver(t)
	var agents []*testAgent
	for _, host := range []string{"a", "b"} {
		b, err := New(Config{Endpoint: rcv.HTTPURL(), Temporality: TemporalityDelta, Host: host}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		agents = append(agents, startAgent(t, b))
	}
	r := rand.New(rand.NewPCG(1, 1))
	all := make([]float64, 4000)
	var halves [2][]string
	for i := range all {
		all[i] = math.Round(math.Exp(r.NormFloat64()+3)*1000) / 1000
		halves[i%2] = append(halves[i%2], fmt.Sprintf("lat:%g|ms", all[i]))
	}
	t0 := time.Unix(1763769600, 0)
	for i, a := range agents {
		a.send(t, halves[i]...)
		a.flush(t, t0)
	}
	// Merge: OTLP bucket index -> count.
	merged := map[int32]uint64{}
	var count uint64
	for _, er := range rcv.Requests() {
		p := dataPoints(er)["lat"]
		if p.hist == nil {
			t.Fatalf("no histogram in %v", er)
		}
		count += p.hist.Count
		for i, c := range p.hist.GetPositive().GetBucketCounts() {
			merged[p.hist.GetPositive().GetOffset()+int32(i)] += c
		}
	}
	if count != uint64(len(all)) {
		t.Fatalf("merged count %d, want %d", count, len(all))
	}
	idx := make([]int32, 0, len(merged))
	for i := range merged {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	slices.Sort(all)
	bound := expohist.ErrorBound(expohist.DefaultSchema, aggregate.SketchAccuracy)
	base := math.Exp2(math.Exp2(-float64(expohist.DefaultSchema)))
	for _, q := range []float64{0.5, 0.9, 0.99} {
		rank := q * float64(count)
		var seen float64
		var got float64
		for _, i := range idx {
			c := float64(merged[i])
			if seen+c >= rank {
				lo, hi := math.Pow(base, float64(i)), math.Pow(base, float64(i+1)) // OTLP bucket i: (base^i, base^(i+1)]
				got = lo + (hi-lo)*(rank-seen)/c
				break
			}
			seen += c
		}
		n := float64(len(all))
		lo := all[max(0, int(math.Floor(q*n))-1)] / (1 + bound)
		hi := all[min(len(all)-1, int(math.Ceil(q*n)))] * (1 + bound)
		if got < lo || got > hi {
			t.Errorf("merged q%v = %v, outside [%v, %v]", q, got, lo, hi)
		}
	}
}
