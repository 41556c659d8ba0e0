package agent

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cactus/go-statsd-client/v5/statsd"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// recorder is a backend that keeps every snapshot it is given.
type recorder struct {
	mu    sync.Mutex
	snaps []*aggregate.Snapshot
}

func (r *recorder) Flush(_ context.Context, s *aggregate.Snapshot) error {
	r.mu.Lock()
	r.snaps = append(r.snaps, s)
	r.mu.Unlock()
	return nil
}

func (r *recorder) all() []*aggregate.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*aggregate.Snapshot(nil), r.snaps...)
}

// start runs an agent on 127.0.0.1:0 with an hour-long interval, so only
// the test's Flush calls (and shutdown) flush.
func start(t *testing.T, cfg Config, backends ...flush.Backend) (*Agent, func() error) {
	t.Helper()
	cfg.UDP = "127.0.0.1:0"
	if cfg.Aggregate.Interval == 0 {
		cfg.Aggregate.Interval = time.Hour
	}
	a, err := New(cfg, backends, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				t.Error("agent did not stop")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return a, stop
}

// waitLines waits (bounded) until the agent has received n lines.
func waitLines(t *testing.T, a *Agent, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.LinesReceived() < n {
		if time.Now().After(deadline) {
			t.Fatalf("agent received %d lines, want %d", a.LinesReceived(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func values(s aggregate.Series) map[string]float64 {
	m := map[string]float64{}
	for _, v := range s.Values() {
		m[v.Key] = v.Value
	}
	return m
}

func TestEndToEndWithGoStatsdClient(t *testing.T) {
	rec := &recorder{}
	a, _ := start(t, Config{Aggregate: aggregate.Config{Percentiles: []float64{90, -10, 99.9}}}, rec)

	c, err := statsd.NewClientWithConfig(&statsd.ClientConfig{Address: a.UDPAddr().String(), Prefix: "app", TagFormat: statsd.SuffixOctothorpe})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lines := uint64(0)
	send := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		lines++
	}
	send(c.Inc("req", 1, 1.0, statsd.Tag{"env", "prod"}, statsd.Tag{"code", "200"}))
	// The client samples itself at rates below 1, so send the sampled
	// line raw; other tag order, same series.
	send(c.Raw("req", "1|c|@0.1", 1.0, statsd.Tag{"code", "200"}, statsd.Tag{"env", "prod"}))
	send(c.Gauge("temp", 20, 1.0))
	send(c.GaugeDelta("temp", -3, 1.0))
	for i := int64(1); i <= 10; i++ {
		send(c.Timing("lat", i, 1.0))
	}
	send(c.Set("users", "alice", 1.0))
	send(c.Set("users", "bob", 1.0))
	send(c.Set("users", "alice", 1.0))
	waitLines(t, a, lines)

	snap := a.Flush(context.Background(), time.Unix(1763769600, 0))
	got := map[string]map[string]float64{}
	for _, s := range snap.Series {
		got[s.Type.String()+" "+s.Name+" "+s.TagString()] = values(s)
	}
	want := map[string]map[string]float64{
		"counter app.req code:200,env:prod": {"count": 11, "rate": 11.0 / 3600},
		"gauge app.temp ":                   {"value": 17},
		"timer app.lat ": {"count": 10, "count_ps": 10.0 / 3600, "sum": 55, "sum_squares": 385, "mean": 5.5, "median": 5.5,
			"upper": 10, "lower": 1, "std": 2.8722813232690143,
			"count_90": 9, "upper_90": 9, "sum_90": 45, "mean_90": 5, "sum_squares_90": 285,
			"count_top10": 1, "lower_top10": 10, "sum_top10": 10, "mean_top10": 10, "sum_squares_top10": 100,
			"count_99_9": 10, "upper_99_9": 10, "sum_99_9": 55, "mean_99_9": 5.5, "sum_squares_99_9": 385},
		"set app.users ": {"count": 2},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("flushed series (-want +got):\n%s", d)
	}
	if r := rec.all(); len(r) != 1 || r[0] != snap {
		t.Errorf("backend got %d snapshots, want the flushed one", len(r))
	}
}

func TestBadLinesCountedRestKept(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec := &recorder{}
	a, _ := start(t, Config{Registerer: reg}, rec)
	conn, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("good:1|c\nbad:x|c\n:1|c\n\ngood:2|c\r\n")); err != nil {
		t.Fatal(err)
	}
	waitLines(t, a, 4)
	snap := a.Flush(context.Background(), time.Unix(0, 0))
	if len(snap.Series) != 1 || snap.Series[0].Value != 3 {
		t.Errorf("series %+v, want good count 3", snap.Series)
	}
	if n := testutil.ToFloat64(invalidCounter(t, reg, "invalid_value")); n != 1 {
		t.Errorf("invalid_value = %v", n)
	}
	inv := a.Metrics().InvalidByReason()
	if inv["invalid_value"] != 1 || inv["empty_name"] != 1 {
		t.Errorf("invalid by reason %v", inv)
	}
	if p := a.Metrics().Packets.Load(); p != 1 {
		t.Errorf("packets = %d", p)
	}
}

func invalidCounter(t *testing.T, reg *prometheus.Registry, reason string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "statsd_agent_lines_invalid_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	t.Fatalf("no statsd_agent_lines_invalid_total{reason=%q}", reason)
	return nil
}

// Everything sent before shutdown reaches the backends in the final flush.
func TestShutdownDrainsAndFlushes(t *testing.T) {
	rec := &recorder{}
	a, stop := start(t, Config{}, rec)
	conn, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const packets = 500
	for i := 0; i < packets; i++ {
		if _, err := conn.Write([]byte("inflight:1|c\ninflight.t:5|ms")); err != nil {
			t.Fatal(err)
		}
	}
	// Like SIGTERM, with datagrams still queued in the socket.
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	drops, _ := a.udp.KernelDrops()
	var count float64
	for _, s := range rec.all() {
		for _, x := range s.Series {
			if x.Name == "inflight" && x.Type == protocol.Counter {
				count += x.Value
			}
		}
	}
	if count != packets {
		t.Errorf("backends saw %v of %d counts (lines received %d, kernel drops %d)", count, packets, a.LinesReceived(), drops)
	}
}

func TestScheduledFlushAligned(t *testing.T) {
	rec := &recorder{}
	a, err := New(Config{UDP: "127.0.0.1:0", Aggregate: aggregate.Config{Interval: 20 * time.Millisecond}}, []flush.Backend{rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.all()) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	snaps := rec.all()
	if len(snaps) < 3 {
		t.Fatalf("got %d flushes", len(snaps))
	}
	for _, s := range snaps[:len(snaps)-1] { // the last is the final flush
		if s.Time.UnixNano()%int64(20*time.Millisecond) != 0 {
			t.Errorf("flush at %v not aligned to the interval", s.Time)
		}
	}
}

func TestInvalidConfig(t *testing.T) {
	if _, err := New(Config{Aggregate: aggregate.Config{Percentiles: []float64{101}}}, nil, nil); err == nil {
		t.Error("percentile 101 accepted")
	}
	if _, err := New(Config{UDP: "256.0.0.1:1"}, nil, nil); err == nil {
		t.Error("bad UDP address accepted")
	}
}

// The final flush on shutdown reports rates over the partial interval.
func TestFinalFlushRateOverPartialInterval(t *testing.T) {
	rec := &recorder{}
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, stop := start(t, Config{Now: clock}, rec)
	c, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x:5|c")); err != nil {
		t.Fatal(err)
	}
	waitLines(t, a, 1)
	mu.Lock()
	now = now.Add(2 * time.Second) // SIGTERM 2 s after start (interval 1 h)
	mu.Unlock()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	snaps := rec.all()
	last := snaps[len(snaps)-1]
	if len(last.Series) != 1 || last.Series[0].Value != 5 || last.Series[0].Rate != 2.5 || last.Interval != 2*time.Second {
		t.Errorf("final flush %+v interval %v, want count 5 rate 2.5 over 2s", last.Series, last.Interval)
	}
}

// Gauges survive a restart through the state directory.
func TestRestartKeepsGauges(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	a, stop := start(t, Config{StateDir: dir}, rec)
	c, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("temp:20|g\nqueue:5|g|#q:a")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitLines(t, a, 2)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	rec2 := &recorder{}
	b, _ := start(t, Config{StateDir: dir}, rec2)
	c, err = net.Dial("udp", b.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("temp:-3|g")); err != nil { // a delta on the restored value
		t.Fatal(err)
	}
	waitLines(t, b, 1)
	got := map[string]float64{}
	for _, s := range b.Flush(context.Background(), time.Now()).Series {
		got[s.Name+"{"+s.TagString()+"}"] = s.Value
	}
	if want := map[string]float64{"temp{}": 17, "queue{q:a}": 5}; !cmp.Equal(got, want) {
		t.Errorf("after restart %v, want %v", got, want)
	}
}
