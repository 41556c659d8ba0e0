package remotewrite

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/prompb"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/remotewrite/remotewritetest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var (
	_ flush.Backend = (*Backend)(nil)
	_ flush.Closer  = (*Backend)(nil)
	_ flush.Named   = (*Backend)(nil)
)

// fakeClock makes sleeps instant and records them.
type fakeClock struct {
	now    time.Time
	slept  []time.Duration
	refuse bool // sleep reports that ctx would end first
}

func (c *fakeClock) install(b *Backend) {
	b.now = func() time.Time { return c.now }
	b.sleep = func(_ context.Context, d time.Duration) bool {
		if c.refuse {
			return false
		}
		c.slept = append(c.slept, d)
		c.now = c.now.Add(d)
		return true
	}
	b.jitter = func() float64 { return 1 }
}

func newTestBackend(t *testing.T, cfg Config, reg prometheus.Registerer, log *bytes.Buffer) (*Backend, *fakeClock) {
	t.Helper()
	if cfg.Host == "" {
		cfg.Host = "h"
	}
	if cfg.MetadataInterval == 0 {
		cfg.MetadataInterval = -1 // request counts in these tests are of data
	}
	var logger *slog.Logger
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := New(cfg, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeClock{now: time.Unix(1763769600, 0)}
	c.install(b)
	return b, c
}

func counterSnap(i int, n float64) *aggregate.Snapshot {
	return &aggregate.Snapshot{
		Time:     time.Unix(1763769600, 0).Add(time.Duration(i) * 10 * time.Second),
		Interval: 10 * time.Second,
		Series:   []aggregate.Series{{Name: "c", Type: protocol.Counter, Value: n}},
	}
}

func deadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func totals(rcv *remotewritetest.Receiver) []float64 {
	var out []float64
	for _, wr := range rcv.Requests() {
		for _, ts := range wr.Timeseries {
			for _, s := range ts.Samples {
				out = append(out, s.Value)
			}
		}
	}
	return out
}

func TestRetryThenDeliver(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	reg := prometheus.NewPedanticRegistry()
	b, clock := newTestBackend(t, Config{URL: rcv.URL(), RequestsPerSecond: -1}, reg, nil)
	rcv.Fail(remotewritetest.Failure{Status: 503, Body: "overloaded"}, remotewritetest.Failure{Status: 429, Body: "slow down", RetryAfter: "7"})
	if err := b.Flush(deadline(t), counterSnap(0, 3)); err != nil {
		t.Fatal(err)
	}
	if got := totals(rcv); len(got) != 1 || got[0] != 3 {
		t.Fatalf("delivered %v, want [3]", got)
	}
	// Backoff 500ms (jitter 1 = full), then Retry-After 7s beats 1s.
	if want := []time.Duration{500 * time.Millisecond, 7 * time.Second}; !equalDurations(clock.slept, want) {
		t.Errorf("waits %v, want %v", clock.slept, want)
	}
	if got := testutil.ToFloat64(b.m.retries); got != 2 {
		t.Errorf("retries = %v", got)
	}
	if got := testutil.ToFloat64(b.m.requests.WithLabelValues("server")); got != 2 {
		t.Errorf("server failures = %v", got)
	}
	if got := testutil.ToFloat64(b.m.sent); got != 1 {
		t.Errorf("sent = %v", got)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("metrics: %d, %v", n, err)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestQueueKeepsOrder: while the endpoint is down, flushes queue up; when
// it is back they arrive in order, totals still increasing.
func TestQueueKeepsOrder(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	b, clock := newTestBackend(t, Config{URL: rcv.URL(), RequestsPerSecond: -1}, nil, nil)
	clock.refuse = true // no time for retries within a flush
	rcv.Fail(remotewritetest.Failure{Status: 500, Body: "down"}, remotewritetest.Failure{Status: 502, Body: "down"})
	if err := b.Flush(deadline(t), counterSnap(0, 1)); err == nil || !strings.Contains(err.Error(), "queued for retry") || !strings.Contains(err.Error(), "down") {
		t.Fatalf("flush 0: %v", err)
	}
	if err := b.Flush(deadline(t), counterSnap(1, 2)); err == nil {
		t.Fatal("flush 1 succeeded against a failing endpoint")
	}
	if n, _ := b.q.Size(); n != 2 || testutil.ToFloat64(b.m.queued) != 2 || testutil.ToFloat64(b.m.queuedReqs) != 2 {
		t.Fatalf("queue %d", n)
	}
	if err := b.Flush(deadline(t), counterSnap(2, 4)); err != nil {
		t.Fatal(err)
	}
	if got := totals(rcv); !equalFloats(got, []float64{1, 3, 7}) {
		t.Errorf("totals %v, want [1 3 7] in order", got)
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRejectedNotRetried: a 400 drops the request (logged once with the
// server's message) and the next one goes through.
func TestRejectedNotRetried(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	var log bytes.Buffer
	b, clock := newTestBackend(t, Config{URL: rcv.URL(), RequestsPerSecond: -1}, nil, &log)
	rcv.Fail(remotewritetest.Failure{Status: 400, Body: "out of bounds"}, remotewritetest.Failure{Status: 400, Body: "out of bounds"})
	for i := range 2 {
		if err := b.Flush(deadline(t), counterSnap(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if len(clock.slept) != 0 || len(rcv.Requests()) != 0 {
		t.Fatalf("retried: slept %v, delivered %d", clock.slept, len(rcv.Requests()))
	}
	if got := testutil.ToFloat64(b.m.dropped.WithLabelValues("rejected")); got != 2 {
		t.Errorf("dropped = %v", got)
	}
	if n := strings.Count(log.String(), "level=ERROR"); n != 1 || !strings.Contains(log.String(), "out of bounds") {
		t.Errorf("want one error with the server's message, got:\n%s", log.String())
	}
	if err := b.Flush(deadline(t), counterSnap(2, 1)); err != nil {
		t.Fatal(err)
	}
	if got := totals(rcv); !equalFloats(got, []float64{3}) {
		t.Errorf("totals %v", got)
	}
	if !strings.Contains(log.String(), "accepts requests again") {
		t.Errorf("recovery not logged:\n%s", log.String())
	}
}

func TestQueueLimitDropsOldest(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	b, clock := newTestBackend(t, Config{URL: rcv.URL(), RequestsPerSecond: -1, QueueLimit: 2}, nil, nil)
	clock.refuse = true
	rcv.Fail(remotewritetest.Failure{Status: 500}, remotewritetest.Failure{Status: 500}, remotewritetest.Failure{Status: 500})
	for i := range 3 {
		_ = b.Flush(deadline(t), counterSnap(i, 1))
	}
	if got := testutil.ToFloat64(b.m.dropped.WithLabelValues("overflow")); got != 1 {
		t.Errorf("overflow drops = %v, want 1", got)
	}
	if err := b.Close(deadline(t)); err != nil {
		t.Fatal(err)
	}
	if got := totals(rcv); !equalFloats(got, []float64{2, 3}) {
		t.Errorf("delivered %v, want the two newest [2 3]", got)
	}
}

func TestCloseReportsUndelivered(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	b, clock := newTestBackend(t, Config{URL: rcv.URL(), RequestsPerSecond: -1}, nil, nil)
	clock.refuse = true
	rcv.Close() // connection refused from now on
	if err := b.Flush(deadline(t), counterSnap(0, 1)); err == nil {
		t.Fatal("flush to a closed server succeeded")
	}
	err := b.Close(deadline(t))
	if err == nil || !strings.Contains(err.Error(), "1 series undelivered") {
		t.Fatalf("Close: %v", err)
	}
	if got := testutil.ToFloat64(b.m.dropped.WithLabelValues("closed")); got != 1 {
		t.Errorf("closed drops = %v", got)
	}
}

func TestHeadersAndAuth(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	b, _ := newTestBackend(t, Config{URL: rcv.URL(), BearerToken: NewSecret("s3cret"), Headers: map[string]string{"X-Scope-OrgID": "team-a"}}, nil, nil)
	if err := b.Flush(deadline(t), counterSnap(0, 1)); err != nil {
		t.Fatal(err)
	}
	h := rcv.Headers()[0]
	for k, want := range map[string]string{
		"Authorization": "Bearer s3cret", "X-Scope-Orgid": "team-a", "Content-Type": "application/x-protobuf",
		"Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "0.1.0",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	b2, _ := newTestBackend(t, Config{URL: rcv.URL(), Username: "u", Password: NewSecret("p")}, nil, nil)
	if err := b2.Flush(deadline(t), counterSnap(1, 1)); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "/", nil)
	req.Header = rcv.Headers()[1]
	if u, p, ok := req.BasicAuth(); !ok || u != "u" || p != "p" {
		t.Errorf("basic auth %q %q %v", u, p, ok)
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{EnvBearerToken: "from-env"}
	getenv := func(k string) string { return env[k] }
	host := func() (string, error) { return "myhost", nil }
	bad := []Config{
		{},
		{URL: "ftp://x/"},
		{URL: "http://user:pw@x/"},
		{URL: "http://x/", Schema: ptr(int32(9))},
		{URL: "http://x/", Headers: map[string]string{"Authorization": "x"}},
		{URL: "http://x/", MaxSeriesPerRequest: -1},
		{URL: "http://x/", QueueLimit: -1},
		{URL: "http://x/", Timeout: -1},
		{URL: "http://x/", Username: "u", BearerToken: NewSecret("t")},
	}
	for _, c := range bad {
		if _, err := c.resolve(getenv, host); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	r, err := Config{URL: "http://x/api/v1/write"}.resolve(getenv, host)
	if err != nil {
		t.Fatal(err)
	}
	if r.token != "from-env" || r.series.Host != "myhost" || *r.Schema != 6 || r.MaxSeriesPerRequest != 2000 ||
		r.RequestsPerSecond != 50 || time.Duration(r.Timeout) != 30*time.Second || r.QueueLimit != 1000000 {
		t.Errorf("defaults: %+v", r)
	}
	if s := NewSecret("x").String(); s != "[redacted]" {
		t.Errorf("secret prints %q", s)
	}
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-remotewrite-url", "http://p:9090/api/v1/write", "-remotewrite-schema", "3", "-remotewrite-host", "web"}); err != nil {
		t.Fatal(err)
	}
	if c.URL != "http://p:9090/api/v1/write" || *c.Schema != 3 || c.Host != "web" {
		t.Errorf("flags: %+v", c)
	}
}

func ptr[T any](v T) *T { return &v }

// TestNativeHistogramsDisabled: Prometheus answers 500 "native histograms
// are disabled" when its feature flag is off. Retrying cannot help: the
// request is dropped, native histograms are switched off, and the classic
// series keep flowing.
func TestNativeHistogramsDisabled(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	var log bytes.Buffer
	b, clock := newTestBackend(t, Config{URL: rcv.URL(), RequestsPerSecond: -1}, nil, &log)
	rcv.Fail(remotewritetest.Failure{Status: 500, Body: "native histograms are disabled"})
	snap := func(i int) *aggregate.Snapshot {
		s := counterSnap(i, 1)
		s.Series = append(s.Series, aggregate.Series{Name: "t", Type: protocol.Timer, Dist: dist(t, 1, 2)})
		return s
	}
	if err := b.Flush(deadline(t), snap(0)); err != nil {
		t.Fatal(err)
	}
	if len(clock.slept) != 0 || !strings.Contains(log.String(), "native-histograms") {
		t.Fatalf("retried (%v) or no hint:\n%s", clock.slept, log.String())
	}
	if err := b.Flush(deadline(t), snap(1)); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests delivered", len(reqs))
	}
	for _, ts := range reqs[0].Timeseries {
		if len(ts.Histograms) > 0 {
			t.Errorf("native histogram still sent: %v", ts.Labels)
		}
	}
	if len(reqs[0].Timeseries) != 4 { // c_total, t_count, t_sum, t_quantile
		t.Errorf("%d series, want 4", len(reqs[0].Timeseries))
	}
}

// TestTOML decodes a config section strictly, as the agent's config file
// does.
func TestTOML(t *testing.T) {
	const doc = `
url = "http://mimir:8080/api/v1/push"
host = "web-01"
labels = { region = "eu" }
headers = { "X-Scope-OrgID" = "team-a" }
bearer_token = "t0ken"
schema = 4
idle_timeout = "5m"
timeout = "10s"
spool_max_bytes = 1048576
`
	var c Config
	dec := toml.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.URL != "http://mimir:8080/api/v1/push" || *c.Schema != 4 || time.Duration(c.IdleTimeout) != 5*time.Minute ||
		time.Duration(c.Timeout) != 10*time.Second || c.BearerToken.Reveal() != "t0ken" || c.Headers["X-Scope-OrgID"] != "team-a" ||
		c.Labels["region"] != "eu" || c.SpoolMaxBytes != 1<<20 {
		t.Errorf("decoded %+v", c)
	}
	out, err := toml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "t0ken") {
		t.Errorf("config dump shows the token:\n%s", out)
	}
}

func TestURLQueryNotLogged(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	var log bytes.Buffer
	b, clock := newTestBackend(t, Config{URL: rcv.URL() + "?api_key=s3cret", RequestsPerSecond: -1}, nil, &log)
	clock.refuse = true
	rcv.Fail(remotewritetest.Failure{Status: 400, Body: "bad"})
	_ = b.Flush(deadline(t), counterSnap(0, 1))
	rcv.Close()
	err := b.Flush(deadline(t), counterSnap(1, 1))
	if err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(log.String(), "s3cret") {
		t.Errorf("query leaked: %v\n%s", err, log.String())
	}
}

// TestMetadata: metric metadata goes in requests of its own, at the first
// flush and then once per MetadataInterval (of snapshot time).
func TestMetadata(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	b, _ := newTestBackend(t, Config{URL: rcv.URL(), MetadataInterval: Duration(time.Minute)}, nil, nil)
	for i := range 8 { // flushes 10 s apart: metadata at 0 s and 60 s
		if err := b.Flush(deadline(t), counterSnap(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	var md []int
	for i, wr := range rcv.Requests() {
		if len(wr.Metadata) > 0 {
			if len(wr.Timeseries) != 0 || wr.Metadata[0].MetricFamilyName != "c_total" || wr.Metadata[0].Type != prompb.MetricMetadata_COUNTER {
				t.Errorf("request %d: %+v", i, wr)
			}
			md = append(md, i)
		}
	}
	// Requests: data0, md, data1..data5, data6, md, data7.
	if len(md) != 2 || md[0] != 1 || md[1] != 8 {
		t.Errorf("metadata in requests %v, want [1 8]", md)
	}
}
