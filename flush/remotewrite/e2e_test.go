package remotewrite

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

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/flush/remotewrite/remotewritetest"
)

// testAgent is an agent with one remote-write backend, fed over real UDP.
type testAgent struct {
	a    *agent.Agent
	conn net.Conn
	sent uint64
}

func startAgent(t *testing.T, url, host string) *testAgent {
	t.Helper()
	b, err := New(Config{URL: url, Host: host, RequestsPerSecond: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		UDP:       "127.0.0.1:0",
		Aggregate: aggregate.Config{Interval: time.Hour, Sketches: true, Percentiles: []float64{50, 90, 99}},
	}, []flush.Backend{b}, nil)
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
				t.Errorf("agent %s: Run: %v", host, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("agent %s did not stop", host)
		}
	})
	return &testAgent{a: a, conn: conn}
}

// send writes the lines (several per datagram) and waits, bounded, until
// the agent has read them all.
func (ta *testAgent) send(t *testing.T, lines []string) {
	t.Helper()
	for i := 0; i < len(lines); i += 20 {
		chunk := lines[i:min(i+20, len(lines))]
		if _, err := ta.conn.Write([]byte(strings.Join(chunk, "\n"))); err != nil {
			t.Fatal(err)
		}
		ta.sent += uint64(len(chunk))
		// Pace so the loopback socket buffer never overflows.
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

func (ta *testAgent) flush(t *testing.T, at time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ta.a.Flush(ctx, at)
}

func queryOne(t *testing.T, p *remotewritetest.Server, q string, at time.Time) remotewritetest.Sample {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := p.Query(ctx, q, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 {
		t.Fatalf("%s: %d samples, want 1: %+v", q, len(v), v)
	}
	return v[0]
}

func queryValue(t *testing.T, p *remotewritetest.Server, q string, at time.Time) float64 {
	t.Helper()
	return queryOne(t, p, q, at).Value
}

// TestPrometheusEndToEnd feeds two agents over UDP, remote-writes their
// flushes into a real Prometheus and checks what PromQL answers: counter
// totals and rates, gauges, and the percentiles of the merged native
// histograms of two agents that saw disjoint halves of one sample set,
// against the exact percentiles of the whole set.
func TestPrometheusEndToEnd(t *testing.T) {
	prom := remotewritetest.Start(t)
	a := startAgent(t, prom.WriteURL(), "host-a")
	b := startAgent(t, prom.WriteURL(), "host-b")

	// Timestamps must be recent for the TSDB head: three flushes 10 s apart
	// ending a minute ago.
	t2 := time.Now().Add(-time.Minute).Truncate(10 * time.Second)
	t0, t1 := t2.Add(-20*time.Second), t2.Add(-10*time.Second)

	// Latencies: one log-normal sample set split between the agents.
	r := rand.New(rand.NewPCG(10, 20))
	all := make([]float64, 4000)
	var half [2][]string
	for i := range all {
		v := math.Round(math.Exp(r.NormFloat64()*0.8+4)*1000) / 1000
		all[i] = v
		half[i%2] = append(half[i%2], fmt.Sprintf("fleet.latency:%g|ms|#route:/api", v))
	}

	// Flush 0: counters, gauges and the latencies.
	a.send(t, append(repeat("fleet.req:1|c|#route:/api", 10), append([]string{"fleet.queue:7|g", "fleet.users:u1|s", "fleet.users:u2|s"}, half[0]...)...))
	b.send(t, append(repeat("fleet.req:1|c|#route:/api", 4), append([]string{"fleet.queue:3|g"}, half[1]...)...))
	a.flush(t, t0)
	b.flush(t, t0)
	// Flush 1 and 2: host-a counts 20 then 30 more; host-b 4 each time.
	// Latencies of a slower second set, spread over both agents and both
	// flushes: the cumulative histograms' increase since t0 is that set.
	later := make([]float64, 3000)
	var quarter [4][]string
	for i := range later {
		v := math.Round(math.Exp(r.NormFloat64()*0.5+5)*1000) / 1000
		later[i] = v
		quarter[i%4] = append(quarter[i%4], fmt.Sprintf("fleet.latency:%g|ms|#route:/api", v))
	}
	a.send(t, append(repeat("fleet.req:2|c|#route:/api", 10), quarter[0]...))
	b.send(t, append(repeat("fleet.req:1|c|#route:/api", 4), quarter[1]...))
	a.flush(t, t1)
	b.flush(t, t1)
	a.send(t, append(append(repeat("fleet.req:3|c|#route:/api", 10), "fleet.queue:+5|g"), quarter[2]...))
	b.send(t, append(repeat("fleet.req:1|c|#route:/api", 4), quarter[3]...))
	a.flush(t, t2)
	b.flush(t, t2)

	// Counters are running totals: rate() works across hosts.
	if got := queryValue(t, prom, `fleet_req_total{host="host-a",route="/api"}`, t2); got != 60 {
		t.Errorf("host-a total = %v, want 60", got)
	}
	if got := queryValue(t, prom, `sum(fleet_req_total)`, t2); got != 72 {
		t.Errorf("fleet total = %v, want 72", got)
	}
	if got := queryValue(t, prom, `irate(fleet_req_total{host="host-a"}[1m])`, t2); got != 3 {
		t.Errorf("host-a irate = %v/s, want 3/s (30 in 10 s)", got)
	}
	if got := queryValue(t, prom, `sum(irate(fleet_req_total[1m]))`, t2); got != 3.4 {
		t.Errorf("fleet irate = %v/s, want 3.4/s", got)
	}
	// Gauges (carried by the aggregator), sets as gauges.
	if got := queryValue(t, prom, `fleet_queue{host="host-a"}`, t2); got != 12 {
		t.Errorf("host-a gauge = %v, want 12", got)
	}
	if got := queryValue(t, prom, `fleet_queue{host="host-b"}`, t2); got != 3 {
		t.Errorf("host-b gauge = %v, want 3", got)
	}
	if got := queryValue(t, prom, `fleet_users{host="host-a"}`, t0); got != 2 {
		t.Errorf("set = %v, want 2", got)
	}

	// Native histograms of both agents merged by PromQL.
	slices.Sort(all)
	h := queryOne(t, prom, `sum(fleet_latency{route="/api"})`, t0)
	if h.Histogram == nil || h.Histogram.Count != float64(len(all)) {
		t.Fatalf("merged native histogram: %+v, want count %d", h.Histogram, len(all))
	}
	var sum float64
	for _, v := range all {
		sum += v
	}
	if math.Abs(h.Histogram.Sum-sum) > 1e-6*sum {
		t.Errorf("histogram sum %v, want %v", h.Histogram.Sum, sum)
	}
	bound := expohist.ErrorBound(expohist.DefaultSchema, aggregate.SketchAccuracy)
	for _, q := range []float64{0.5, 0.75, 0.9, 0.99} {
		got := queryValue(t, prom, fmt.Sprintf(`histogram_quantile(%g, sum(fleet_latency{route="/api"}))`, q), t0)
		// The exact percentile is ambiguous between the values around rank
		// q*n; accept anything within the bound of that range.
		n := float64(len(all))
		lo := all[max(0, int(math.Floor(q*n))-1)] / (1 + bound)
		hi := all[min(len(all)-1, int(math.Ceil(q*n)))] * (1 + bound)
		exact := all[int(math.Ceil(q*n))-1]
		if got < lo || got > hi {
			t.Errorf("histogram_quantile(%v) = %v, exact %v: outside [%v, %v] (bound %.2f%%)", q, got, exact, lo, hi, 100*bound)
		}
		t.Logf("q %v: fleet %v, exact %v, relative error %.3f%% (bound %.2f%%)", q, got, exact, 100*(got-exact)/exact, 100*bound)
	}
	// Cumulative histograms: rate() over them (any extrapolation scales
	// every bucket alike) gives the distribution of what arrived after t0,
	// the second sample set, merged over both hosts.
	slices.Sort(later)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		got := queryValue(t, prom, fmt.Sprintf(`histogram_quantile(%g, sum(rate(fleet_latency{route="/api"}[25s])))`, q), t2)
		n := float64(len(later))
		lo := later[max(0, int(math.Floor(q*n))-1)] / (1 + bound)
		hi := later[min(len(later)-1, int(math.Ceil(q*n)))] * (1 + bound)
		if got < lo || got > hi {
			t.Errorf("histogram_quantile(%v, rate) = %v, outside [%v, %v] of the second set", q, got, lo, hi)
		}
	}
	if got := queryValue(t, prom, `histogram_count(sum(fleet_latency))`, t2); got != float64(len(all)+len(later)) {
		t.Errorf("cumulative count at t2 = %v, want %d", got, len(all)+len(later))
	}

	// The classic series add up too.
	if got := queryValue(t, prom, `sum(fleet_latency_count)`, t0); got != float64(len(all)) {
		t.Errorf("sum of _count = %v, want %d", got, len(all))
	}
	if got := queryValue(t, prom, `count(fleet_latency_quantile{quantile="0.9"})`, t0); got != 2 {
		t.Errorf("percentile gauges: %v series, want one per host", got)
	}

	// A restarted agent starts its totals from zero: Prometheus sees a
	// counter reset and rate() stays right.
	a2 := startAgent(t, prom.WriteURL(), "host-a")
	a2.send(t, repeat("fleet.req:1|c|#route:/api", 5))
	t3 := t2.Add(10 * time.Second)
	a2.flush(t, t3)
	if got := queryValue(t, prom, `resets(fleet_req_total{host="host-a"}[1m])`, t3); got != 1 {
		t.Errorf("resets after restart = %v, want 1", got)
	}
	if got := queryValue(t, prom, `irate(fleet_req_total{host="host-a"}[1m])`, t3); got != 0.5 {
		t.Errorf("irate after restart = %v/s, want 0.5/s", got)
	}
}

func repeat(line string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = line
	}
	return out
}

// TestPrometheusAcceptsGoldenCases sends the golden files' snapshots
// (odd names, reserved and repeated tags, negative and zero values,
// duplicates, split requests), re-timed to now, to a real Prometheus: it
// must accept every request, and store what we encoded.
func TestPrometheusAcceptsGoldenCases(t *testing.T) {
	prom := remotewritetest.Start(t)
	base := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	for name, c := range goldenCases(t) {
		c.cfg.URL = prom.WriteURL()
		c.cfg.RequestsPerSecond = -1
		c.cfg.Prefix = name + "_" + c.cfg.Prefix
		b, err := New(c.cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var last time.Time
		for i, s := range c.snaps {
			s2 := *s
			s2.Time = base.Add(time.Duration(i) * 10 * time.Second)
			last = s2.Time
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := b.Flush(ctx, &s2)
			cancel()
			if err != nil {
				t.Fatalf("%s flush %d: %v", name, i, err)
			}
		}
		if n := testutilCount(b); n != 0 {
			t.Errorf("%s: %v series rejected or dropped", name, n)
		}
		got := queryValue(t, prom, fmt.Sprintf(`count({__name__=~"%s_.+"})`, name), last)
		if got == 0 {
			t.Errorf("%s: nothing stored", name)
		}
	}
	// Spot checks of the mapping as Prometheus stores it.
	at := base.Add(10 * time.Second)
	if got := queryValue(t, prom, `types_api_requests_total{env="prod",route="/login",host="web-01",region="eu"}`, at); got != 12 {
		t.Errorf("counter total = %v, want 12", got)
	}
	if got := queryValue(t, prom, `types_queue_depth{canary="true",env="a,b",exported_host="other",tag__name__="x"}`, base); got != -3.5 {
		t.Errorf("gauge with odd tags = %v", got)
	}
	if got := queryValue(t, prom, `histogram_count(signs_statsd_temp_delta)`, base); got != 6 {
		t.Errorf("histogram with negative and zero values: count %v, want 6", got)
	}
}

// testutilCount returns the series the backend dropped for any reason.
func testutilCount(b *Backend) float64 {
	var n float64
	for _, r := range []string{"rejected", "overflow", "encode", "closed"} {
		n += testutil.ToFloat64(b.m.dropped.WithLabelValues(r))
	}
	return n
}
