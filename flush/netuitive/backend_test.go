package netuitive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/netuitive/netuitivetest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var (
	_ flush.Backend = (*Backend)(nil)
	_ flush.Closer  = (*Backend)(nil)
	_ flush.Named   = (*Backend)(nil)
)

const testKey = "k3y-0123456789abcdef"

// logBuffer collects log output safely.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the log lines containing s.
func (l *logBuffer) lines(s string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// fakeClock is the backend's clock in tests: sleep advances it instead of
// waiting, within a per-flush budget that stands for the flush deadline.
type fakeClock struct {
	t      time.Time
	budget time.Duration
	slept  []time.Duration
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) sleep(_ context.Context, d time.Duration) bool {
	if d > c.budget {
		return false
	}
	c.t = c.t.Add(d)
	c.budget -= d
	c.slept = append(c.slept, d)
	return true
}

type harness struct {
	srv   *netuitivetest.Server
	b     *Backend
	clock *fakeClock
	logs  *logBuffer
	reg   *prometheus.Registry
}

// newHarness starts a fake accepting testKey and a backend posting to it.
func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	srv := netuitivetest.NewServer(testKey)
	t.Cleanup(srv.Close)
	cfg := Config{URL: srv.URL(), APIKey: NewSecret(testKey), ElementID: "web-01", PostsPerMinute: -1}
	if mod != nil {
		mod(&cfg)
	}
	h := &harness{srv: srv, clock: &fakeClock{t: flushTime}, logs: &logBuffer{}, reg: prometheus.NewRegistry()}
	b, err := New(cfg, slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), h.reg)
	if err != nil {
		t.Fatal(err)
	}
	b.now, b.sleep, b.jitter = h.clock.now, h.clock.sleep, func() float64 { return 0.5 }
	b.clockDone = true // the fake's clock is real time; TestClockSkewWarning checks it
	h.b = b
	t.Cleanup(func() {
		if s := h.logs.String(); strings.Contains(s, testKey) {
			t.Errorf("the API key appears in the logs:\n%s", s)
		}
	})
	return h
}

// flush runs one Flush at snap.Time, with budget of (fake) waiting
// allowed and a one-minute real deadline.
func (h *harness) flush(t *testing.T, snap *aggregate.Snapshot, budget time.Duration) error {
	t.Helper()
	return h.flushWithin(t, snap, budget, time.Minute)
}

// flushWithin is flush with a real deadline (it cuts hanging requests).
func (h *harness) flushWithin(t *testing.T, snap *aggregate.Snapshot, budget, deadline time.Duration) error {
	t.Helper()
	if h.clock.t.Before(snap.Time) {
		h.clock.t = snap.Time
	}
	h.clock.budget = budget
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	err := h.b.Flush(ctx, snap)
	if err != nil && strings.Contains(err.Error(), testKey) {
		t.Errorf("the API key appears in the error: %v", err)
	}
	return err
}

func counterValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	return testutil.ToFloat64(c)
}

// gotSample is a stored sample reduced to comparable values.
type gotSample struct {
	Timestamp                    int64
	Val, Min, Max, Avg, Sum, Cnt float64
	Has                          string // which fields were present, e.g. "v" or "mMasc"
}

func reduce(s netuitivetest.Sample) gotSample {
	g := gotSample{Timestamp: s.Timestamp.UnixMilli()}
	for _, f := range []struct {
		p    *float64
		dst  *float64
		mark string
	}{{s.Val, &g.Val, "v"}, {s.Min, &g.Min, "m"}, {s.Max, &g.Max, "M"}, {s.Avg, &g.Avg, "a"}, {s.Sum, &g.Sum, "s"}, {s.Cnt, &g.Cnt, "c"}} {
		if f.p != nil {
			*f.dst = *f.p
			g.Has += f.mark
		}
	}
	return g
}

// storedSamples maps element/metric id to the samples the fake stored.
func storedSamples(els []netuitivetest.Element) map[string][]gotSample {
	out := map[string][]gotSample{}
	for _, el := range els {
		for _, s := range el.Samples {
			k := el.ID + "/" + s.MetricID
			out[k] = append(out[k], reduce(s))
		}
	}
	return out
}

// wantSamples derives the expected stored samples of the default mapping
// from the snapshot's statistics under the reference key names
// (Series.Values): the metric "<id>" of a counter, gauge or set has val =
// count/value/count; a distribution's "<id>" has min/max/avg/sum/cnt =
// lower/upper/mean/sum/count and "<id>.<stat>" has val = the statistic.
func wantSamples(t *testing.T, element string, snap *aggregate.Snapshot) map[string][]gotSample {
	t.Helper()
	ts := snap.Time.UnixMilli()
	out := map[string][]gotSample{}
	for _, s := range snap.Series {
		id := "statsd." + s.Name
		for _, tg := range s.Tags {
			id += "." + tg.Key + "_" + tg.Value
		}
		v := map[string]float64{}
		for _, kv := range s.Values() {
			v[kv.Key] = kv.Value
		}
		key := element + "/" + id
		switch s.Type {
		case protocol.Counter, protocol.Set:
			out[key] = append(out[key], gotSample{Timestamp: ts, Val: v["count"], Has: "v"})
		case protocol.Gauge:
			out[key] = append(out[key], gotSample{Timestamp: ts, Val: v["value"], Has: "v"})
		default:
			if s.Dist == nil || s.Dist.N == 0 {
				continue // nothing observed: nothing sent
			}
			if s.Dist.N != int(s.Dist.Count) {
				t.Fatal("wantSamples handles unsampled distributions only")
			}
			out[key] = append(out[key], gotSample{Timestamp: ts, Min: v["lower"], Max: v["upper"], Avg: v["mean"], Sum: v["sum"], Cnt: v["count"], Has: "mMasc"})
			for k, x := range v {
				if k == "median" || strings.HasPrefix(k, "upper_") || strings.HasPrefix(k, "lower_") {
					out[key+"."+k] = append(out[key+"."+k], gotSample{Timestamp: ts, Val: x, Has: "v"})
				}
			}
		}
	}
	return out
}

// e2eSnapshot is a flush with every type and tags.
func e2eSnapshot(at time.Time, scale float64) *aggregate.Snapshot {
	return &aggregate.Snapshot{
		Time: at, Interval: 10 * time.Second,
		Series: []aggregate.Series{
			{Name: "orders.placed", Type: protocol.Counter, Tags: []protocol.Tag{{Key: "shop", Value: "eu"}}, Value: 5 * scale, Rate: 0.5 * scale},
			{Name: "queue.depth", Type: protocol.Gauge, Value: 12 * scale},
			{Name: "checkout.latency", Type: protocol.Timer, Dist: &aggregate.DistStats{
				Count: 4, CountPS: 0.4, Sum: 100 * scale, Mean: 25 * scale, Median: 20 * scale, Lower: 10 * scale, Upper: 50 * scale, N: 4,
				Percentiles: []aggregate.PercentileStats{{Threshold: 90, Count: 4, Sum: 100 * scale, Mean: 25 * scale, Bound: 50 * scale}},
			}},
			{Name: "payload", Type: protocol.Histogram, Dist: &aggregate.DistStats{
				Count: 1, CountPS: 0.1, Sum: 7 * scale, Mean: 7 * scale, Median: 7 * scale, Lower: 7 * scale, Upper: 7 * scale, N: 1,
			}},
			{Name: "users", Type: protocol.Set, Value: 3 * scale},
		},
	}
}

func TestFlushEndToEnd(t *testing.T) {
	h := newHarness(t, nil)
	snap := e2eSnapshot(flushTime, 1)
	snap.Events = representative().Events
	snap.ServiceChecks = representative().ServiceChecks
	if err := h.flush(t, snap, 0); err != nil {
		t.Fatal(err)
	}
	got := storedSamples(h.srv.Elements())
	if diff := cmp.Diff(wantSamples(t, "web-01", snap), got); diff != "" {
		t.Errorf("stored samples (-want +got):\n%s", diff)
	}
	var titles []string
	for _, e := range h.srv.Events() {
		titles = append(titles, e.Title+"@"+e.Data.ElementID+"/"+e.Data.Level)
	}
	want := []string{"deploy finished@web-01/INFO", "disk full@db-1/CRITICAL", "db.ping - CRITICAL@web-01/CRITICAL", "cache.ping - OK@cache-1/INFO"}
	if diff := cmp.Diff(want, titles); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if d := h.srv.DiscardedEvents(); len(d) != 0 {
		t.Errorf("discarded events: %+v", d)
	}
	checks := h.srv.Checks()
	if len(checks) != 1 || checks[0].Name != DefaultCheckName || checks[0].ElementFQN != "web-01" || checks[0].TTL != 30*time.Second || checks[0].Key != testKey {
		t.Errorf("check-ins = %+v, want one statsd-agent/web-01 with ttl 30s", checks)
	}
	for _, p := range h.srv.Posts() {
		if p.Status != 202 {
			t.Errorf("%s answered %d", p.Path, p.Status)
		}
		if p.Endpoint != netuitivetest.CheckIn && p.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s Content-Type = %q", p.Path, p.Header.Get("Content-Type"))
		}
		if p.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s is compressed; the service does not document compression", p.Path)
		}
	}
	if n := counterValue(t, h.b.m.delivered.WithLabelValues("samples")); n != 8 {
		t.Errorf("delivered samples = %v, want 8", n)
	}
	if n := counterValue(t, h.b.m.delivered.WithLabelValues("events")); n != 4 {
		t.Errorf("delivered events = %v, want 4", n)
	}
}

// TestFlushDatasourceType checks the URL derivation against the fake's
// routing with a type segment: ingest, events and the check-in without it.
func TestFlushDatasourceType(t *testing.T) {
	h := newHarness(t, nil)
	cfg := h.b.cfg.Config
	cfg.URL = h.srv.URL() + "/infrastructure/"
	b, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap := e2eSnapshot(flushTime, 1)
	snap.Events = representative().Events[:1]
	if err := b.Flush(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range h.srv.Posts() {
		got = append(got, fmt.Sprintf("%s %s %d", p.Endpoint, p.DatasourceType, p.Status))
	}
	want := []string{"check  202", "ingest infrastructure 202", "events infrastructure 202"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("posts (-want +got):\n%s", diff)
	}
}

func TestOutageLosesNothing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    netuitivetest.Fault
		deadline time.Duration // real flush deadline during the outage
	}{
		{"503", netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: 503}, time.Minute},
		{"500 with body", netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: 500, Errors: []string{"database unavailable"}}, time.Minute},
		{"429", netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: 429}, time.Minute},
		{"dropped connection", netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Drop: true}, time.Minute},
		// The flush deadline cuts the hanging request.
		{"hanging server", netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Hang: true}, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			h.srv.InjectFault(tc.fault)
			const outage = 4
			var snaps []*aggregate.Snapshot
			for i := range outage {
				snap := e2eSnapshot(flushTime.Add(time.Duration(i)*10*time.Second), float64(i+1))
				snaps = append(snaps, snap)
				err := h.flushWithin(t, snap, 3*time.Second, tc.deadline)
				if err == nil || !strings.Contains(err.Error(), "queued for retry") {
					t.Fatalf("flush %d during the outage: err = %v, want queued for retry", i, err)
				}
			}
			if n := len(h.srv.Elements()); n != 0 {
				t.Fatalf("fake stored %d elements during the outage", n)
			}
			// A hanging request takes the whole (real) flush deadline: one
			// attempt per flush at most, none when a loaded machine spent
			// the deadline before it.
			if n := counterValue(t, h.b.m.retries); tc.fault.Hang && (n < 1 || n > outage) || !tc.fault.Hang && n < outage {
				t.Errorf("retries = %v, want >= %d (hanging: 1 to %d)", n, outage, outage)
			}
			h.srv.ClearFaults()
			last := e2eSnapshot(flushTime.Add(outage*10*time.Second), outage+1)
			snaps = append(snaps, last)
			if err := h.flush(t, last, 0); err != nil {
				t.Fatalf("flush after the outage: %v", err)
			}
			want := map[string][]gotSample{}
			for _, s := range snaps {
				for k, v := range wantSamples(t, "web-01", s) {
					want[k] = append(want[k], v...)
				}
			}
			if diff := cmp.Diff(want, storedSamples(h.srv.Elements())); diff != "" {
				t.Errorf("stored samples (-want +got):\n%s", diff)
			}
			if n := counterValue(t, h.b.m.dropped.WithLabelValues("samples", "overflow")); n != 0 {
				t.Errorf("dropped %v samples", n)
			}
			if n := counterValue(t, h.b.m.queued.WithLabelValues("samples")); n != 0 {
				t.Errorf("queued gauge = %v after recovery", n)
			}
		})
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: 502})
	h.flush(t, e2eSnapshot(flushTime, 1), 40*time.Second)
	// jitter 0.5: 0.75 of 1s, 2s, 4s, 8s, 16s; the next (24s) exceeds the
	// 9s budget left.
	want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 12 * time.Second}
	if diff := cmp.Diff(want, h.clock.slept); diff != "" {
		t.Errorf("backoff waits (-want +got):\n%s", diff)
	}
	if n := len(h.srv.Posts()); n != 1+len(want)+1 { // check-in, then attempts
		t.Errorf("requests = %d, want %d", n, 1+len(want)+1)
	}
	h.b.jitter = func() float64 { return 0 }
	if got := h.b.backoff(100); got != retryMax/2 {
		t.Errorf("backoff(100) = %v, want %v", got, retryMax/2)
	}
}

func TestRejectedIsLoggedOnceWithDetail(t *testing.T) {
	h := newHarness(t, nil)
	detail := "Missing required field 'timestamp' on Sample [element=web-01, metricId=statsd.queue.depth]"
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Count: 1, Status: 400, Errors: []string{detail}})
	if err := h.flush(t, e2eSnapshot(flushTime, 1), 10*time.Second); err != nil {
		t.Errorf("Flush = %v, want nil (the rejection is logged, not returned)", err)
	}
	lines := h.logs.lines("rejected")
	if len(lines) != 1 {
		t.Fatalf("want one log line about the rejection, got:\n%s", h.logs)
	}
	for _, want := range []string{"level=ERROR", "status=400", "Bad Request", "metricId=statsd.queue.depth", "timestamp", "samples=8"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line lacks %q: %s", want, lines[0])
		}
	}
	var ingest int
	for _, p := range h.srv.Posts() {
		if p.Endpoint == netuitivetest.Ingest {
			ingest++
		}
	}
	if ingest != 1 {
		t.Errorf("ingest requests = %d, want 1 (a 400 is not retried)", ingest)
	}
	if n := counterValue(t, h.b.m.dropped.WithLabelValues("samples", "rejected")); n != 8 {
		t.Errorf("dropped rejected = %v, want 8", n)
	}
	// The next flush goes through.
	if err := h.flush(t, e2eSnapshot(flushTime.Add(10*time.Second), 2), 0); err != nil {
		t.Fatal(err)
	}
	if n := len(h.srv.Elements()); n != 1 {
		t.Errorf("stored elements = %d, want 1", n)
	}
}

func TestRealValidationError(t *testing.T) {
	// A body the fake really rejects: the backend logs the fake's detail.
	h := newHarness(t, nil)
	h.b.queue = append(h.b.queue, queued{post: post{kind: kindIngest, body: []byte(`[{"id":"web-01","metrics":[{"id":"m"}],"samples":[{"metricId":"m","val":1}]}]`), items: 1}})
	h.b.queuedItems[kindIngest]++
	if err := h.flush(t, &aggregate.Snapshot{Time: flushTime}, 0); err != nil {
		t.Fatal(err)
	}
	lines := h.logs.lines("rejected")
	if len(lines) != 1 || !strings.Contains(lines[0], "Input Validation Failed") || !strings.Contains(lines[0], "'timestamp'") {
		t.Errorf("want the fake's validation detail logged once, got:\n%s", h.logs)
	}
}

func TestBadKeyOneClearMessage(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.APIKey = NewSecret("wrong-" + testKey) })
	for i := range 3 {
		if err := h.flush(t, e2eSnapshot(flushTime.Add(time.Duration(i)*10*time.Second), 1), 10*time.Second); err != nil {
			t.Errorf("flush %d: %v (the refusal is logged once, not returned)", i, err)
		}
	}
	lines := h.logs.lines("level=ERROR")
	if len(lines) != 1 {
		t.Fatalf("want exactly one error line, got:\n%s", h.logs)
	}
	for _, want := range []string{"403", "API key", EnvAPIKey, "other backends"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("message lacks %q: %s", want, lines[0])
		}
	}
	if strings.Contains(h.logs.String(), "wrong-") {
		t.Errorf("the key leaked into the logs:\n%s", h.logs)
	}
	// Nothing was retried within a flush, and the data stays queued.
	var ingest int
	for _, p := range h.srv.Posts() {
		if p.Endpoint == netuitivetest.Ingest {
			ingest++
		}
	}
	if ingest != 3 {
		t.Errorf("ingest requests = %d, want 3 (one per flush)", ingest)
	}
	if n := counterValue(t, h.b.m.queued.WithLabelValues("samples")); n != 24 {
		t.Errorf("queued samples = %v, want 24", n)
	}
	// The key is enabled: the queue drains in order.
	h.srv.SetKeys(testKey, "wrong-"+testKey)
	if err := h.flush(t, e2eSnapshot(flushTime.Add(30*time.Second), 1), 0); err != nil {
		t.Fatal(err)
	}
	var times []int64
	for _, el := range h.srv.Elements() {
		times = append(times, el.Samples[0].Timestamp.UnixMilli())
	}
	want := []int64{flushTime.UnixMilli(), flushTime.UnixMilli() + 10000, flushTime.UnixMilli() + 20000, flushTime.UnixMilli() + 30000}
	if diff := cmp.Diff(want, times); diff != "" {
		t.Errorf("delivered flush times (-want +got):\n%s", diff)
	}
	if len(h.logs.lines("accepts posts again")) != 1 {
		t.Errorf("recovery not logged:\n%s", h.logs)
	}
}

func TestKillSwitch(t *testing.T) {
	for _, status := range []int{410, 418} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			h := newHarness(t, nil)
			h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: status})
			if err := h.flush(t, e2eSnapshot(flushTime, 1), 10*time.Second); err != nil {
				t.Errorf("Flush = %v", err)
			}
			lines := h.logs.lines("stop posting")
			if len(lines) != 1 || !strings.Contains(lines[0], fmt.Sprint(status)) {
				t.Errorf("want one message about the stop signal, got:\n%s", h.logs)
			}
			n := len(h.srv.Posts())
			for i := 1; i <= 2; i++ {
				if err := h.flush(t, e2eSnapshot(flushTime.Add(time.Duration(i)*10*time.Second), 1), 10*time.Second); err != nil {
					t.Errorf("Flush = %v", err)
				}
			}
			if got := len(h.srv.Posts()); got != n {
				t.Errorf("%d requests after the stop signal", got-n)
			}
			if v := counterValue(t, h.b.m.stopped); v != 1 {
				t.Errorf("stopped gauge = %v", v)
			}
			if v := counterValue(t, h.b.m.dropped.WithLabelValues("samples", "stopped")); v != 24 {
				t.Errorf("dropped stopped = %v, want 24", v)
			}
			if len(h.logs.lines("stop posting")) != 1 {
				t.Errorf("stop reported more than once:\n%s", h.logs)
			}
		})
	}
}

func TestKillSwitchOnCheckIn(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.CheckIn, Status: 410})
	h.flush(t, e2eSnapshot(flushTime, 1), 0)
	for _, p := range h.srv.Posts() {
		if p.Endpoint != netuitivetest.CheckIn {
			t.Errorf("posted to %s after 410 on the check-in", p.Endpoint)
		}
	}
}

func TestPacing(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PostsPerMinute = 2; c.MaxMetricsPerPost = 1; c.NoCheckIn = true })
	snap := &aggregate.Snapshot{Time: flushTime, Interval: time.Minute}
	for i := range 5 {
		snap.Series = append(snap.Series, aggregate.Series{Name: fmt.Sprintf("g%d", i), Type: protocol.Gauge, Value: float64(i)})
	}
	// No time to wait: the burst of 2 goes out, 3 posts stay queued.
	if err := h.flush(t, snap, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(h.srv.Elements()); n != 2 {
		t.Fatalf("posts in the first flush = %d, want the burst of 2", n)
	}
	if n := len(h.b.queue); n != 3 {
		t.Fatalf("queued posts = %d, want 3", n)
	}
	// Given time, the rest goes out one every 30 s.
	if err := h.flush(t, &aggregate.Snapshot{Time: flushTime}, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second}, h.clock.slept); diff != "" {
		t.Errorf("pacing waits (-want +got):\n%s", diff)
	}
	var ids []string
	for _, el := range h.srv.Elements() {
		ids = append(ids, el.Metrics[0].ID)
	}
	if diff := cmp.Diff([]string{"statsd.g0", "statsd.g1", "statsd.g2", "statsd.g3", "statsd.g4"}, ids); diff != "" {
		t.Errorf("post order (-want +got):\n%s", diff)
	}
}

func TestQueueLimitDropsOldest(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.QueueLimit = 10 })
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: 503})
	var errs []error
	for i := range 3 {
		errs = append(errs, h.flush(t, e2eSnapshot(flushTime.Add(time.Duration(i)*10*time.Second), 1), 0))
	}
	if errs[0] == nil || strings.Contains(errs[0].Error(), "queue_limit") {
		t.Errorf("flush 0: %v, want a retry error without drops", errs[0])
	}
	for _, err := range errs[1:] {
		if err == nil || !strings.Contains(err.Error(), "queue_limit 10 reached: dropped the oldest 8 samples") {
			t.Errorf("err = %v, want a queue_limit drop", err)
		}
	}
	if v := counterValue(t, h.b.m.dropped.WithLabelValues("samples", "overflow")); v != 16 {
		t.Errorf("dropped overflow = %v, want 16", v)
	}
	h.srv.ClearFaults()
	if err := h.flush(t, &aggregate.Snapshot{Time: flushTime.Add(30 * time.Second)}, 0); err != nil {
		t.Fatal(err)
	}
	els := h.srv.Elements()
	if len(els) != 1 || els[0].Samples[0].Timestamp.UnixMilli() != flushTime.UnixMilli()+20000 {
		t.Errorf("delivered %d elements, want only the newest flush", len(els))
	}
}

func TestCloseReportsUndelivered(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: 503})
	h.flush(t, e2eSnapshot(flushTime, 1), 0)
	err := h.b.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "8 samples and 0 events undelivered") {
		t.Errorf("Close = %v, want 8 samples undelivered", err)
	}
	if v := counterValue(t, h.b.m.dropped.WithLabelValues("samples", "closed")); v != 8 {
		t.Errorf("dropped closed = %v", v)
	}
	// Close delivers what it can.
	h2 := newHarness(t, nil)
	h2.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: 503, Count: 1})
	h2.flush(t, e2eSnapshot(flushTime, 1), 0)
	if err := h2.b.Close(context.Background()); err != nil {
		t.Errorf("Close = %v", err)
	}
	if n := len(h2.srv.Elements()); n != 1 {
		t.Errorf("delivered at Close: %d elements, want 1", n)
	}
}

func TestNetworkErrorRedacted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	logs := &logBuffer{}
	b, err := New(Config{URL: "http://" + addr + "/ingest", APIKey: NewSecret(testKey), ElementID: "h", NoCheckIn: true},
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Flush(context.Background(), e2eSnapshot(flushTime, 1))
	if err == nil {
		t.Fatal("Flush to a closed port succeeded")
	}
	if strings.Contains(err.Error(), testKey) || !strings.Contains(err.Error(), "/ingest/****") {
		t.Errorf("error not redacted: %v", err)
	}
	if strings.Contains(logs.String(), testKey) {
		t.Errorf("logs not redacted: %s", logs)
	}
	err = b.Close(context.Background())
	if err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("Close = %v", err)
	}
}

func TestClockSkewWarning(t *testing.T) {
	for _, tc := range []struct {
		offset time.Duration
		warn   bool
	}{{0, false}, {4 * time.Minute, false}, {-10 * time.Minute, true}, {time.Hour, true}} {
		h := newHarness(t, nil)
		h.b.clockDone = false
		h.srv.Now = func() time.Time { return flushTime }
		h.srv.ClockOffset = tc.offset
		h.flush(t, e2eSnapshot(flushTime, 1), 0)
		h.flush(t, e2eSnapshot(flushTime.Add(10*time.Second), 1), 0)
		if got := len(h.logs.lines("clock differs")); got != map[bool]int{false: 0, true: 1}[tc.warn] {
			t.Errorf("offset %v: %d warnings:\n%s", tc.offset, got, h.logs)
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Setenv(EnvAPIKey, "")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no key", Config{ElementID: "h"}, EnvAPIKey},
		{"bad url", Config{APIKey: NewSecret("k"), ElementID: "h", URL: "ftp://x/ingest"}, "bad url"},
		{"no ingest", Config{APIKey: NewSecret("k"), ElementID: "h", URL: "https://x/api"}, "/ingest"},
		{"events url", Config{APIKey: NewSecret("k"), ElementID: "h", URL: "https://x/ingest/events"}, "not the events URL"},
		{"deep url", Config{APIKey: NewSecret("k"), ElementID: "h", URL: "https://x/ingest/a/b"}, "at most one segment"},
		{"mapping", Config{APIKey: NewSecret("k"), ElementID: "h", Mapping: "lossy"}, "unknown mapping"},
		{"key with slash", Config{APIKey: NewSecret("a/b"), ElementID: "h"}, "URL path segment"},
		{"check name", Config{APIKey: NewSecret("k"), ElementID: "h", CheckName: "my check"}, "check_name"},
		{"negative limit", Config{APIKey: NewSecret("k"), ElementID: "h", QueueLimit: -1}, "queue_limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error about %q", err, tc.want)
			}
			if err != nil && len(tc.cfg.APIKey.Reveal()) > 1 && strings.Contains(err.Error(), tc.cfg.APIKey.Reveal()) {
				t.Errorf("error shows the key: %v", err)
			}
		})
	}
	t.Setenv(EnvAPIKey, " from-env ")
	b, err := New(Config{ElementID: "h"}, nil, nil)
	if err != nil || b.cfg.key != "from-env" {
		t.Errorf("key from %s: %v", EnvAPIKey, err)
	}
}

func TestDeriveEndpoints(t *testing.T) {
	for _, tc := range []struct {
		base string
		want endpoints
	}{
		{"https://api.app.netuitive.com/ingest", endpoints{
			"https://api.app.netuitive.com/ingest/K", "https://api.app.netuitive.com/ingest/events/K",
			"https://api.app.netuitive.com/check/K", "https://api.app.netuitive.com/time"}},
		{"https://api.app.netuitive.com/ingest/infrastructure/", endpoints{
			"https://api.app.netuitive.com/ingest/infrastructure/K", "https://api.app.netuitive.com/ingest/events/infrastructure/K",
			"https://api.app.netuitive.com/check/K", "https://api.app.netuitive.com/time"}},
		{"http://127.0.0.1:8000/proxy/ingest/windows", endpoints{
			"http://127.0.0.1:8000/proxy/ingest/windows/K", "http://127.0.0.1:8000/proxy/ingest/events/windows/K",
			"http://127.0.0.1:8000/proxy/check/K", "http://127.0.0.1:8000/time"}},
	} {
		got, err := deriveEndpoints(tc.base, "K")
		if err != nil {
			t.Errorf("%s: %v", tc.base, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.base, got, tc.want)
		}
	}
}

func TestSecretRedacts(t *testing.T) {
	cfg := Config{APIKey: NewSecret(testKey), URL: "https://x/ingest"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "key", cfg.APIKey, "cfg", cfg)
	js, _ := json.Marshal(cfg)
	for _, s := range []string{
		fmt.Sprint(cfg.APIKey), fmt.Sprintf("%s %q %v %+v %#v", cfg.APIKey, cfg.APIKey, cfg, cfg, cfg),
		buf.String(), string(js),
	} {
		if strings.Contains(s, testKey) {
			t.Errorf("key visible in %s", s)
		}
		if !strings.Contains(s, "[redacted]") {
			t.Errorf("no [redacted] marker in %s", s)
		}
	}
	if cfg.APIKey.Reveal() != testKey {
		t.Error("Reveal lost the key")
	}
}

func TestTooLargeIsSplit(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Count: 2, Status: 413})
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Events, Count: 1, Status: 413})
	snap := e2eSnapshot(flushTime, 1)
	snap.Events = representative().Events
	snap.ServiceChecks = representative().ServiceChecks
	if err := h.flush(t, snap, 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantSamples(t, "web-01", snap), storedSamples(h.srv.Elements())); diff != "" {
		t.Errorf("stored samples (-want +got):\n%s", diff)
	}
	if n := len(h.srv.Events()); n != 4 {
		t.Errorf("stored events = %d, want 4", n)
	}
	var sizes []int
	for _, p := range h.srv.Posts() {
		if p.Status == 202 && p.Endpoint == netuitivetest.Ingest {
			sizes = append(sizes, len(p.Elements[0].Metrics))
		}
	}
	if diff := cmp.Diff([]int{2, 2, 4}, sizes); diff != "" {
		t.Errorf("metrics per accepted post (-want +got):\n%s", diff)
	}
	if v := counterValue(t, h.b.m.splits); v != 3 {
		t.Errorf("splits = %v, want 3", v)
	}
	if n := len(h.logs.lines("too large")); n != 1 {
		t.Errorf("want one warning, got:\n%s", h.logs)
	}
	// A post of one metric cannot be split: it is rejected.
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Count: 1, Status: 413})
	one := &aggregate.Snapshot{Time: flushTime.Add(10 * time.Second), Series: []aggregate.Series{{Name: "g", Type: protocol.Gauge, Value: 1}}}
	h.flush(t, one, 0)
	if lines := h.logs.lines("rejected"); len(lines) != 1 || !strings.Contains(lines[0], "max_metrics_per_post") {
		t.Errorf("want one rejection with the hint, got:\n%s", h.logs)
	}
}

func TestCheckInRefusedOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.CheckIn, Status: 404})
	for i := range 3 {
		if err := h.flush(t, e2eSnapshot(flushTime.Add(time.Duration(i)*10*time.Second), 1), 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.logs.lines("level=ERROR")); n != 1 || len(h.logs.lines("heartbeat")) != 1 {
		t.Errorf("want one error about the heartbeat, got:\n%s", h.logs)
	}
	if n := len(h.srv.Elements()); n != 3 {
		t.Errorf("data posts = %d, want 3 (the check-in does not block data)", n)
	}
	h.srv.ClearFaults()
	h.flush(t, e2eSnapshot(flushTime.Add(30*time.Second), 1), 0)
	if len(h.logs.lines("check-in again")) != 1 {
		t.Errorf("recovery not logged:\n%s", h.logs)
	}
}

func TestCheckInTTLKeepsFullInterval(t *testing.T) {
	h := newHarness(t, nil)
	h.flush(t, &aggregate.Snapshot{Time: flushTime, Interval: 10 * time.Second}, 0)
	// A final flush on shutdown carries only the elapsed part.
	h.flush(t, &aggregate.Snapshot{Time: flushTime.Add(250 * time.Millisecond), Interval: 250 * time.Millisecond}, 0)
	var ttls []time.Duration
	for _, c := range h.srv.Checks() {
		ttls = append(ttls, c.TTL)
	}
	if diff := cmp.Diff([]time.Duration{30 * time.Second, 30 * time.Second}, ttls); diff != "" {
		t.Errorf("check-in TTLs (-want +got):\n%s", diff)
	}
	h2 := newHarness(t, func(c *Config) { c.CheckTTL = Duration(90*time.Second + time.Millisecond) })
	h2.flush(t, &aggregate.Snapshot{Time: flushTime, Interval: 10 * time.Second}, 0)
	if c := h2.srv.Checks(); len(c) != 1 || c[0].TTL != 91*time.Second {
		t.Errorf("check_ttl 90.001s: %+v, want 91s (rounded up)", c)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Count: 1, Status: 503, RetryAfter: 20})
	if err := h.flush(t, e2eSnapshot(flushTime, 1), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]time.Duration{20 * time.Second}, h.clock.slept); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if n := len(h.srv.Elements()); n != 1 {
		t.Errorf("delivered %d elements, want 1", n)
	}
}
