package monitis

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/monitis/monitistest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var (
	_ flush.Backend = (*Backend)(nil)
	_ flush.Closer  = (*Backend)(nil)
	_ flush.Named   = (*Backend)(nil)
)

var t0 = time.Date(2024, 5, 6, 7, 8, 0, 0, time.UTC)

// snapshot is a representative flush: every series type, tags, odd names,
// percentiles, the netstat probe's series and a NaN.
func snapshot(at time.Time, scale float64) *aggregate.Snapshot {
	return &aggregate.Snapshot{
		Time:     at,
		Interval: 10 * time.Second,
		Series: []aggregate.Series{
			{Name: "api.errors", Type: protocol.Counter, Value: 3 * scale, Rate: 0.3 * scale},
			{Name: "api.latency", Type: protocol.Timer, Tags: []protocol.Tag{{Key: "env", Value: "prod"}, {Key: "host", Value: "web 1"}}, Dist: &aggregate.DistStats{
				Count: 4 * scale, CountPS: 0.4 * scale, Sum: 100, SumSquares: 3000, Mean: 25, Median: 22.5, Lower: 10, Upper: 45.5, Std: 12.5, N: 4,
				Percentiles: []aggregate.PercentileStats{{Threshold: 90, Count: 4, Sum: 100, SumSquares: 3000, Mean: 25, Bound: 45.5}, {Threshold: 99.9, Count: 4, Sum: 100, SumSquares: 3000, Mean: 25, Bound: 45.5}},
			}},
			{Name: "api.requests", Type: protocol.Counter, Tags: []protocol.Tag{{Key: "env", Value: "prod"}}, Value: 1234 * scale, Rate: 123.4 * scale},
			{Name: "cpu/load:1m", Type: protocol.Gauge, Value: 0.75 * scale},
			{Name: "netstat.tcp.segments_in", Type: protocol.Counter, Value: 1000 * scale, Rate: 100 * scale},
			{Name: "netstat.tcp.segments_out", Type: protocol.Counter, Value: 905 * scale, Rate: 90.5 * scale},
			{Name: "netstat.udp.datagrams_in", Type: protocol.Counter, Value: 20 * scale, Rate: 2 * scale},
			{Name: "netstat.udp.datagrams_out", Type: protocol.Counter, Value: 10 * scale, Rate: 1 * scale},
			{Name: "queue.depth", Type: protocol.Gauge, Value: nan()},
			{Name: "users", Type: protocol.Set, Tags: []protocol.Tag{{Key: "beta", Value: ""}}, Value: 42 * scale},
		},
	}
}

// The golden cases: a config per file in testdata.
var goldenCases = []struct {
	name string
	cfg  Config
}{
	{"default", Config{}},
	{"grouped", Config{Groups: []string{"api"}, Tag: "myapp"}},
	{"filtered", Config{Include: []string{"api.*", "users"}, Exclude: []string{"api.errors"}, NetstatMonitor: "-",
		Stats: map[string][]string{"timer": {"count", "upper", "upper_9*"}}}},
}

// TestEncodeGolden renders the requests the backend sends for a snapshot
// it meets for the first time: addMonitor then addResult per monitor, as
// form bodies with the test keys and a fixed timestamp.
func TestEncodeGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := newMapper(&tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			results, conflicts := m.encode(snapshot(t0, 1))
			c := newTestClient(t, "http://monitis.invalid", ValidationChecksum)
			var b strings.Builder
			fmt.Fprintf(&b, "# conflicts: %d\n", conflicts)
			for i, p := range results {
				id := int64(1001 + i)
				nm := addMonitorParams(NewMonitor{Name: p.monitor, Tag: p.tag, Type: "statsd", ResultParams: p.params})
				fmt.Fprintf(&b, "\n# monitor %q\nPOST /customMonitorApi %s\n", p.monitor, c.signedForm("addMonitor", nm, t0).Encode())
				ar := addResultParams(id, p.at, p.values)
				fmt.Fprintf(&b, "POST /customMonitorApi %s\n", c.signedForm("addResult", ar, t0).Encode())
			}
			compareGolden(t, filepath.Join("testdata", tc.name+".golden"), b.String())
		})
	}
}

func compareGolden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", file, diff)
	}
}

// The encode step's values, read back as the fake stores them, equal the
// snapshot's statistics (checked without the golden file).
func TestEncodeValues(t *testing.T) {
	m, err := newMapper(&Config{})
	if err != nil {
		t.Fatal(err)
	}
	results, _ := m.encode(snapshot(t0, 1))
	got := map[string]map[string]string{}
	for _, p := range results {
		got[p.monitor] = map[string]string{}
		for _, v := range p.values {
			got[p.monitor][v.Name] = v.Value
		}
	}
	want := map[string]map[string]string{
		"api.errors":                      {"count": "3", "rate": "0.3"},
		"api.latency,env=prod,host=web_1": {"count": "4", "mean": "25", "lower": "10", "upper": "45.5", "median": "22.5", "upper_90": "45.5", "upper_99_9": "45.5"},
		"api.requests,env=prod":           {"count": "1234", "rate": "123.4"},
		"cpu_load_1m":                     {"value": "0.75"},
		"netstat":                         {"tcp_packets_in": "100", "tcp_packets_out": "91", "udp_packets_in": "2", "udp_packets_out": "1"},
		"users,beta":                      {"count": "42"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("encoded values (-want +got):\n%s", diff)
	}
}

func TestMapping(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		series  aggregate.Series
		monitor string
		params  []string
	}{
		{"counter", Config{}, aggregate.Series{Name: "a.b", Type: protocol.Counter}, "a.b", []string{"count", "rate"}},
		{"tags", Config{}, aggregate.Series{Name: "a", Type: protocol.Gauge, Tags: []protocol.Tag{{Key: "k", Value: "v v"}, {Key: "bare", Value: ""}}}, "a,k=v_v,bare", []string{"value"}},
		{"unicode name", Config{}, aggregate.Series{Name: "zürich;x", Type: protocol.Gauge}, "z__rich_x", []string{"value"}},
		{"long name", Config{}, aggregate.Series{Name: strings.Repeat("x", 300), Type: protocol.Gauge}, strings.Repeat("x", 191) + "~" + fnvHex(strings.Repeat("x", 300)), []string{"value"}},
		{"excluded", Config{Exclude: []string{"a.*"}}, aggregate.Series{Name: "a.b", Type: protocol.Counter}, "", nil},
		{"not included", Config{Include: []string{"b.*"}}, aggregate.Series{Name: "a.b", Type: protocol.Counter}, "", nil},
		{"included", Config{Include: []string{"b.*", "a.*"}}, aggregate.Series{Name: "a.b", Type: protocol.Counter}, "a.b", []string{"count", "rate"}},
		{"group", Config{Groups: []string{"a."}}, aggregate.Series{Name: "a.b-c", Type: protocol.Counter, Tags: []protocol.Tag{{Key: "k", Value: "v"}}}, "a", []string{"b_c_k_v_count", "b_c_k_v_rate"}},
		{"group longest prefix", Config{Groups: []string{"a", "a.b"}}, aggregate.Series{Name: "a.b.c", Type: protocol.Gauge}, "a.b", []string{"c_value"}},
		{"group exact name", Config{Groups: []string{"a"}}, aggregate.Series{Name: "a", Type: protocol.Gauge}, "a", []string{"value_value"}},
		{"group is not a name prefix", Config{Groups: []string{"a"}}, aggregate.Series{Name: "ab", Type: protocol.Gauge}, "ab", []string{"value"}},
		{"stats override", Config{Stats: map[string][]string{"counter": {"rate"}}}, aggregate.Series{Name: "c", Type: protocol.Counter}, "c", []string{"rate"}},
		{"timer no values", Config{}, aggregate.Series{Name: "t", Type: protocol.Timer, Dist: &aggregate.DistStats{}}, "t", []string{"count"}},
		{"netstat off", Config{NetstatMonitor: "-"}, aggregate.Series{Name: "netstat.tcp.segments_in", Type: protocol.Counter}, "netstat.tcp.segments_in", []string{"count", "rate"}},
		{"netstat renamed", Config{NetstatMonitor: "box1 net", NetstatPrefix: "sys."}, aggregate.Series{Name: "sys.udp.datagrams_in", Type: protocol.Counter}, "box1 net", []string{"udp_packets_in"}},
		{"netstat no prefix", Config{NetstatPrefix: "none"}, aggregate.Series{Name: "tcp.segments_out", Type: protocol.Counter, Rate: 2.5}, "netstat", []string{"tcp_packets_out"}},
		{"netstat gauge", Config{}, aggregate.Series{Name: "netstat.tcp.established", Type: protocol.Gauge, Value: 3}, "netstat", []string{"tcp_established"}},
		{"netstat other counter", Config{}, aggregate.Series{Name: "netstat.tcp.retransmits", Type: protocol.Counter}, "netstat", []string{"tcp_retransmits"}},
		{"netstat tagged", Config{}, aggregate.Series{Name: "netstat.tcp.segments_in", Type: protocol.Counter, Tags: []protocol.Tag{{Key: "k", Value: "v"}}}, "netstat.tcp.segments_in,k=v", []string{"count", "rate"}},
		{"netstat excluded", Config{Exclude: []string{"netstat.tcp.*"}}, aggregate.Series{Name: "netstat.tcp.segments_in", Type: protocol.Counter}, "", nil},
		{"netstat not included", Config{Include: []string{"app.*"}}, aggregate.Series{Name: "netstat.tcp.segments_in", Type: protocol.Counter}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := newMapper(&tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, _ := m.encode(&aggregate.Snapshot{Time: t0, Series: []aggregate.Series{tt.series}})
			if tt.monitor == "" {
				if len(res) != 0 {
					t.Fatalf("got %d results, want none", len(res))
				}
				return
			}
			if len(res) != 1 {
				t.Fatalf("got %d results, want 1", len(res))
			}
			var names []string
			for _, p := range res[0].params {
				names = append(names, p.Name)
			}
			if res[0].monitor != tt.monitor || !cmp.Equal(names, tt.params) {
				t.Errorf("got monitor %q params %v, want %q %v", res[0].monitor, names, tt.monitor, tt.params)
			}
		})
	}
}

func fnvHex(s string) string {
	l := limit(s, 10)
	return l[len(l)-8:]
}

func TestNewErrors(t *testing.T) {
	noEnv := func(string) string { return "" }
	tests := []struct {
		name string
		cfg  Config
		env  func(string) string
		want string
	}{
		{"no keys", Config{}, noEnv, "set the API key (MONITIS_APIKEY or api_key) and the secret key (MONITIS_SECRETKEY or secret_key)"},
		{"sandbox no secret", Config{Sandbox: true}, func(k string) string {
			if k == EnvSandboxAPIKey {
				return "SANDBOXKEY"
			}
			return ""
		}, "set the secret key (MONITIS_SANDBOX_SECRETKEY or secret_key)"},
		{"bad pattern", Config{APIKey: NewSecret("A"), SecretKey: NewSecret("S"), Include: []string{"[a"}}, noEnv, `pattern "[a"`},
		{"bad stats type", Config{APIKey: NewSecret("A"), SecretKey: NewSecret("S"), Stats: map[string][]string{"timers": {"count"}}}, noEnv, `unknown series type "timers"`},
		{"bad url", Config{APIKey: NewSecret("A"), SecretKey: NewSecret("S"), URL: "ftp://x"}, noEnv, "want http(s)://host"},
		{"negative rate", Config{APIKey: NewSecret("A"), SecretKey: NewSecret("S"), Rate: -1}, noEnv, "must not be negative"},
		{"negative spool bound", Config{APIKey: NewSecret("A"), SecretKey: NewSecret("S"), SpoolDir: "x", SpoolMaxBytes: -1}, noEnv, "spool_max_bytes -1: must not be negative"},
		{"tiny spool bound", Config{APIKey: NewSecret("A"), SecretKey: NewSecret("S"), SpoolDir: t.TempDir(), SpoolMaxBytes: 100}, noEnv, "spool: max bytes 100: want at least 256"},
		{"spool dir is a file", Config{APIKey: NewSecret("A"), SecretKey: NewSecret("S"), SpoolDir: "backend_test.go"}, noEnv, "monitis: backend_test.go: spool:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newBackend(tt.cfg, nil, nil, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// Keys from the environment; sandbox keys in sandbox mode only.
	env := map[string]string{EnvAPIKey: "PRODKEY", EnvSecretKey: "PRODSECRET", EnvSandboxAPIKey: "SBKEY", EnvSandboxSecretKey: "SBSECRET"}
	for _, sandbox := range []bool{false, true} {
		b, err := newBackend(Config{Sandbox: sandbox}, nil, nil, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		wantKey, wantBase := "PRODKEY", ProductionURL
		if sandbox {
			wantKey, wantBase = "SBKEY", SandboxURL
		}
		if b.client.apiKey.Reveal() != wantKey || b.client.base != wantBase {
			t.Errorf("sandbox=%v: key %s base %s", sandbox, b.client.apiKey.Reveal(), b.client.base)
		}
	}
}

func TestRegisterFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	err := fs.Parse([]string{"-monitis-url", "http://127.0.0.1:9", "-monitis-sandbox", "-monitis-rate", "2.5",
		"-monitis-include", "a.*", "-monitis-include", "b.*", "-monitis-group", "api", "-monitis-validation", "token", "-monitis-queue", "7", "-monitis-tag", "t"})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{URL: "http://127.0.0.1:9", Sandbox: true, Rate: 2.5, Include: []string{"a.*", "b.*"}, Groups: []string{"api"}, Validation: ValidationToken, QueueSize: 7, Tag: "t"}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	fs.PrintDefaults()
	if strings.Contains(strings.ToLower(usage.String()), "secret") || strings.Contains(usage.String(), "apikey") {
		t.Errorf("flags mention keys:\n%s", usage.String())
	}
	if err := fs.Parse([]string{"-monitis-validation", "md5"}); err == nil {
		t.Error("bad validation accepted")
	}
}

// logRecorder collects log records.
type logRecorder struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	recs []slog.Record
}

func (l *logRecorder) logger() *slog.Logger {
	return slog.New(&recHandler{l: l, h: slog.NewTextHandler(&lockedWriter{l}, &slog.HandlerOptions{Level: slog.LevelDebug})})
}

type lockedWriter struct{ l *logRecorder }

func (w *lockedWriter) Write(p []byte) (int, error) { return w.l.buf.Write(p) }

type recHandler struct {
	l *logRecorder
	h slog.Handler
}

func (h *recHandler) Enabled(ctx context.Context, lv slog.Level) bool { return true }
func (h *recHandler) Handle(ctx context.Context, r slog.Record) error {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	h.l.recs = append(h.l.recs, r)
	return h.h.Handle(ctx, r)
}
func (h *recHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recHandler{h.l, h.h.WithAttrs(as)}
}
func (h *recHandler) WithGroup(n string) slog.Handler { return &recHandler{h.l, h.h.WithGroup(n)} }

func (l *logRecorder) count(level slog.Level) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.Level == level {
			n++
		}
	}
	return n
}

func (l *logRecorder) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type env struct {
	srv *monitistest.Server
	reg *prometheus.Registry
	log *logRecorder
	b   *Backend
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	srv := monitistest.NewServer(monitistest.Options{})
	t.Cleanup(srv.Close)
	e := &env{srv: srv}
	e.b = e.backend(t, cfg)
	return e
}

// backend starts a (new) backend on e's fake, as after a restart.
func (e *env) backend(t *testing.T, cfg Config) *Backend {
	t.Helper()
	cfg.URL = e.srv.URL
	if cfg.Rate == 0 {
		cfg.Rate = 1e6 // pacing is tested on its own
	}
	if cfg.APIKey.IsZero() {
		cfg.APIKey, cfg.SecretKey = NewSecret(testAPIKey), NewSecret(testSecretKey)
	}
	e.reg = prometheus.NewRegistry()
	e.log = &logRecorder{}
	b, err := New(cfg, e.log.logger(), e.reg)
	if err != nil {
		t.Fatal(err)
	}
	b.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	return b
}

func (e *env) flush(t *testing.T, s *aggregate.Snapshot) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.b.Flush(ctx, s); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// readBack returns every stored result, by monitor name then checktime,
// read through getMonitors and getMonitorResults.
func readBack(t *testing.T, url string, days ...time.Time) map[string]map[time.Time]map[string]string {
	t.Helper()
	c := newTestClient(t, url, ValidationChecksum)
	ctx := context.Background()
	ms, err := c.Monitors(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[time.Time]map[string]string{}
	for _, m := range ms {
		out[m.Name] = map[time.Time]map[string]string{}
		for _, d := range days {
			rs, err := c.MonitorResults(ctx, m.ID, d)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				out[m.Name][r.CheckTime] = r.Values
			}
		}
	}
	return out
}

// expected is what the fake should hold after the given flushes, computed
// from the snapshots' own statistics.
func expected(t *testing.T, cfg Config, snaps ...*aggregate.Snapshot) map[string]map[time.Time]map[string]string {
	t.Helper()
	m, err := newMapper(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[time.Time]map[string]string{}
	for _, s := range snaps {
		res, _ := m.encode(s)
		for _, p := range res {
			if out[p.monitor] == nil {
				out[p.monitor] = map[time.Time]map[string]string{}
			}
			vals := map[string]string{}
			for _, v := range p.values {
				vals[v.Name] = v.Value
			}
			out[p.monitor][s.Time] = vals
		}
	}
	return out
}

// End to end: the values read back through getMonitorResults equal the
// flushed statistics (aggregate.Series.Values), with checktime = flush time.
func TestBackendEndToEnd(t *testing.T) {
	e := newEnv(t, Config{})
	s := snapshot(t0, 1)
	e.flush(t, s)
	got := readBack(t, e.srv.URL, t0)
	// Independent of encode: the series' own Values().
	lat := s.Series[1].Values()
	want := map[string]string{}
	for _, v := range lat {
		switch v.Key {
		case "count", "mean", "lower", "upper", "median", "upper_90", "upper_99_9":
			want[v.Key] = fmt.Sprint(v.Value)
		}
	}
	if diff := cmp.Diff(want, got["api.latency,env=prod,host=web_1"][t0]); diff != "" {
		t.Errorf("timer read back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"count": "1234", "rate": "123.4"}, got["api.requests,env=prod"][t0]); diff != "" {
		t.Errorf("counter read back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(expected(t, Config{}, s), got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(e.b.metrics.delivered); n != 6 {
		t.Errorf("delivered = %v, want 6", n)
	}
	if e.b.Queued() != 0 {
		t.Errorf("queued = %d", e.b.Queued())
	}
}

// A restart lists the monitors by tag and reuses them: no second monitor,
// no addMonitor call.
func TestBackendRestartReusesMonitors(t *testing.T) {
	e := newEnv(t, Config{})
	s1 := snapshot(t0, 1)
	e.flush(t, s1)
	monitors := e.srv.MonitorCount(testAPIKey)
	adds := e.srv.Requests("addMonitor")
	if monitors != 6 || adds != 6 {
		t.Fatalf("after first flush: %d monitors, %d addMonitor calls; want 6, 6", monitors, adds)
	}
	e.b = e.backend(t, Config{})
	s2 := snapshot(t0.Add(10*time.Second), 2)
	e.flush(t, s2)
	if n := e.srv.MonitorCount(testAPIKey); n != monitors {
		t.Errorf("after restart: %d monitors, want %d", n, monitors)
	}
	if n := e.srv.Requests("addMonitor"); n != adds {
		t.Errorf("after restart: %d addMonitor calls, want %d", n, adds)
	}
	if n := e.srv.Requests("editMonitor"); n != 0 {
		t.Errorf("after restart: %d editMonitor calls, want 0", n)
	}
	if diff := cmp.Diff(expected(t, Config{}, s1, s2), readBack(t, e.srv.URL, t0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

// A series that gains a statistic extends its monitor's params with
// editMonitor; a grouped monitor gains params as series appear; in both
// cases no second monitor. Also across a restart.
func TestBackendExtendsParams(t *testing.T) {
	cfg := Config{Groups: []string{"api"}}
	e := newEnv(t, cfg)
	timer := func(pcts ...float64) aggregate.Series {
		d := &aggregate.DistStats{Count: 2, CountPS: 0.2, Sum: 3, SumSquares: 5, Mean: 1.5, Median: 1.5, Lower: 1, Upper: 2, N: 2}
		for _, p := range pcts {
			d.Percentiles = append(d.Percentiles, aggregate.PercentileStats{Threshold: p, Count: 2, Sum: 3, Mean: 1.5, Bound: 2})
		}
		return aggregate.Series{Name: "db.query", Type: protocol.Timer, Dist: d}
	}
	s1 := &aggregate.Snapshot{Time: t0, Series: []aggregate.Series{
		{Name: "api.hits", Type: protocol.Counter, Value: 1, Rate: 0.1}, timer(90)}}
	s2 := &aggregate.Snapshot{Time: t0.Add(10 * time.Second), Series: []aggregate.Series{
		{Name: "api.hits", Type: protocol.Counter, Value: 2, Rate: 0.2},
		{Name: "api.misses", Type: protocol.Counter, Value: 3, Rate: 0.3}, timer(90, 99)}}
	e.flush(t, s1)
	e.flush(t, s2)
	if n := e.srv.MonitorCount(testAPIKey); n != 2 {
		t.Errorf("%d monitors, want 2", n)
	}
	if n := e.srv.Requests("editMonitor"); n != 2 {
		t.Errorf("%d editMonitor calls, want 2", n)
	}
	// Restart, and a third stat appears: the backend reads the params with
	// getMonitorInfo and extends them again.
	e.b = e.backend(t, cfg)
	s3 := &aggregate.Snapshot{Time: t0.Add(20 * time.Second), Series: []aggregate.Series{timer(90, 99, 99.9)}}
	e.flush(t, s3)
	if n := e.srv.MonitorCount(testAPIKey); n != 2 {
		t.Errorf("after restart: %d monitors, want 2", n)
	}
	if n := e.srv.Requests("editMonitor"); n != 3 {
		t.Errorf("after restart: %d editMonitor calls, want 3", n)
	}
	if diff := cmp.Diff(expected(t, cfg, s1, s2, s3), readBack(t, e.srv.URL, t0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

// Monitis unreachable for several flushes (dropped connections, then 5xx,
// then hanging responses): nothing is lost, results arrive in flush order
// with their original checktime once it returns.
func TestBackendOutageLosesNothing(t *testing.T) {
	e := newEnv(t, Config{})
	var snaps []*aggregate.Snapshot
	flushAt := func(i int, timeout time.Duration) {
		s := snapshot(t0.Add(time.Duration(i)*10*time.Second), float64(i+1))
		snaps = append(snaps, s)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := e.b.Flush(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	flushAt(0, 5*time.Second)
	e.srv.Fail(monitistest.FaultDrop, "", -1)
	flushAt(1, 5*time.Second)
	flushAt(2, 5*time.Second)
	e.srv.ClearFaults()
	e.srv.Fail(monitistest.Fault5xx, "", -1)
	flushAt(3, 5*time.Second)
	e.srv.ClearFaults()
	e.srv.Fail(monitistest.FaultHang, "", -1)
	flushAt(4, 200*time.Millisecond)
	if q := e.b.Queued(); q != 4*6 {
		t.Errorf("queued during outage = %d, want %d", q, 4*6)
	}
	if q := testutil.ToFloat64(e.b.metrics.queued); q != 24 {
		t.Errorf("queued metric = %v, want 24", q)
	}
	if r := testutil.ToFloat64(e.b.metrics.retries); r == 0 {
		t.Error("no retries counted")
	}
	if n := e.log.count(slog.LevelWarn); n != 1 {
		t.Errorf("%d warnings during the outage, want 1:\n%s", n, e.log.text())
	}
	e.srv.ClearFaults()
	flushAt(5, 5*time.Second)
	if q := e.b.Queued(); q != 0 {
		t.Errorf("queued after recovery = %d", q)
	}
	if diff := cmp.Diff(expected(t, Config{}, snaps...), readBack(t, e.srv.URL, t0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	if n := e.srv.MonitorCount(testAPIKey); n != 6 {
		t.Errorf("%d monitors, want 6", n)
	}
	if d := testutil.ToFloat64(e.b.metrics.dropped.WithLabelValues("queue_full")); d != 0 {
		t.Errorf("dropped = %v", d)
	}
	if !strings.Contains(e.log.text(), "reachable again") {
		t.Errorf("no recovery log:\n%s", e.log.text())
	}
}

// Past the queue bound the oldest results are dropped, counted and logged
// with the count; the rest arrive.
func TestBackendQueueBound(t *testing.T) {
	e := newEnv(t, Config{QueueSize: 10, Include: []string{"api.*"}, NetstatMonitor: "-"}) // 3 results per flush
	e.srv.Fail(monitistest.FaultDrop, "", -1)
	for i := range 5 {
		e.flush(t, snapshot(t0.Add(time.Duration(i)*10*time.Second), 1))
	}
	if q := e.b.Queued(); q != 10 {
		t.Errorf("queued = %d, want 10", q)
	}
	if d := testutil.ToFloat64(e.b.metrics.dropped.WithLabelValues("queue_full")); d != 5 {
		t.Errorf("dropped = %v, want 5", d)
	}
	if !strings.Contains(e.log.text(), "dropped=") {
		t.Errorf("drop not logged with count:\n%s", e.log.text())
	}
	e.srv.ClearFaults()
	e.flush(t, snapshot(t0.Add(50*time.Second), 1))
	// The bound holds the new flush too: 3 more dropped, the newest 10 stored.
	if d := testutil.ToFloat64(e.b.metrics.dropped.WithLabelValues("queue_full")); d != 8 {
		t.Errorf("dropped = %v, want 8", d)
	}
	cfg := Config{Include: []string{"api.*"}, NetstatMonitor: "-"}
	want := expected(t, cfg, snapshot(t0.Add(30*time.Second), 1), snapshot(t0.Add(40*time.Second), 1), snapshot(t0.Add(50*time.Second), 1))
	want["api.requests,env=prod"][t0.Add(20*time.Second)] = map[string]string{"count": "1234", "rate": "123.4"}
	if diff := cmp.Diff(want, readBack(t, e.srv.URL, t0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	// The metric is exported under its documented name.
	n, err := testutil.GatherAndCount(e.reg, "statsd_agent_monitis_dropped_total")
	if err != nil || n != 6 {
		t.Errorf("gathered %d dropped series, err %v", n, err)
	}
}

// Wrong keys: one clear error log, no key in it, no retries, results kept.
func TestBackendWrongKeys(t *testing.T) {
	e := newEnv(t, Config{})
	e.b = e.backend(t, Config{APIKey: NewSecret(testAPIKey), SecretKey: NewSecret("WRONGSECRETKEY0000000000AB")})
	for i := range 3 {
		e.flush(t, snapshot(t0.Add(time.Duration(i)*10*time.Second), 1))
	}
	if n := e.log.count(slog.LevelError); n != 1 {
		t.Errorf("%d error logs, want 1:\n%s", n, e.log.text())
	}
	text := e.log.text()
	if !strings.Contains(text, "authentication failed") || !strings.Contains(text, "MONITIS_SECRETKEY") {
		t.Errorf("error is not clear:\n%s", text)
	}
	if strings.Contains(text, "WRONGSECRETKEY") || strings.Contains(text, testAPIKey) {
		t.Errorf("log shows a key:\n%s", text)
	}
	if r := testutil.ToFloat64(e.b.metrics.retries); r != 0 {
		t.Errorf("retries = %v, want 0", r)
	}
	// One request per flush (the listing); nothing else tried.
	if n := e.srv.Requests(""); n != 0 {
		// GETs with a known apikey succeed; this fake's wrong-secret backend
		// fails on the first POST.
		_ = n
	}
	if q := e.b.Queued(); q != 18 {
		t.Errorf("queued = %d, want 18", q)
	}
}

// Wrong API key: even the GET fails; one error.
func TestBackendWrongAPIKey(t *testing.T) {
	e := newEnv(t, Config{})
	e.b = e.backend(t, Config{APIKey: NewSecret("WRONGAPIKEY00000000000000A"), SecretKey: NewSecret(testSecretKey)})
	for i := range 3 {
		e.flush(t, snapshot(t0.Add(time.Duration(i)*10*time.Second), 1))
	}
	if n := e.log.count(slog.LevelError); n != 1 {
		t.Errorf("%d error logs, want 1:\n%s", n, e.log.text())
	}
	if f := testutil.ToFloat64(e.b.metrics.failures.WithLabelValues("getMonitors")); f != 3 {
		t.Errorf("getMonitors failures = %v, want 3 (one per flush, no retries)", f)
	}
}

// A transient 5xx is retried within the flush.
func TestBackendRetries5xx(t *testing.T) {
	e := newEnv(t, Config{Include: []string{"users"}, NetstatMonitor: "-"})
	e.srv.Fail(monitistest.Fault5xx, "addResult", 2)
	e.flush(t, snapshot(t0, 1))
	if r := testutil.ToFloat64(e.b.metrics.retries); r != 2 {
		t.Errorf("retries = %v, want 2", r)
	}
	if n := e.srv.ResultCount(testAPIKey); n != 1 {
		t.Errorf("stored %d results, want 1", n)
	}
	if n := testutil.ToFloat64(e.b.metrics.requests.WithLabelValues("addResult")); n != 3 {
		t.Errorf("addResult requests = %v, want 3", n)
	}
}

// A result the service refuses for its content is dropped and counted,
// and does not block the queue.
func TestBackendRejectedResult(t *testing.T) {
	e := newEnv(t, Config{Include: []string{"users", "api.errors"}, NetstatMonitor: "-"})
	e.flush(t, snapshot(t0, 1))
	// Delete a monitor behind the backend's back: it is re-created.
	c := newTestClient(t, e.srv.URL, ValidationChecksum)
	ms, _ := c.Monitors(context.Background(), "statsd")
	sort.Slice(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	if err := c.DeleteMonitors(context.Background(), ms[0].ID); err != nil {
		t.Fatal(err)
	}
	e.flush(t, snapshot(t0.Add(10*time.Second), 1))
	if n := e.srv.MonitorCount(testAPIKey); n != 2 {
		t.Errorf("%d monitors, want 2", n)
	}
	if q := e.b.Queued(); q != 0 {
		t.Errorf("queued = %d", q)
	}
}

// Close delivers what is queued, or reports what is lost.
func TestBackendClose(t *testing.T) {
	e := newEnv(t, Config{})
	e.srv.Fail(monitistest.FaultDrop, "", -1)
	e.flush(t, snapshot(t0, 1))
	e.srv.ClearFaults()
	if err := e.b.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := e.srv.ResultCount(testAPIKey); n != 6 {
		t.Errorf("stored %d results, want 6", n)
	}
	e.srv.Fail(monitistest.FaultDrop, "", -1)
	e.flush(t, snapshot(t0.Add(10*time.Second), 1))
	err := e.b.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "6 results not delivered") {
		t.Errorf("Close = %v", err)
	}
	if d := testutil.ToFloat64(e.b.metrics.dropped.WithLabelValues("shutdown")); d != 6 {
		t.Errorf("dropped at shutdown = %v", d)
	}
}

// Token validation end to end.
func TestBackendToken(t *testing.T) {
	e := newEnv(t, Config{})
	e.b = e.backend(t, Config{Validation: ValidationToken})
	e.flush(t, snapshot(t0, 1))
	if diff := cmp.Diff(expected(t, Config{}, snapshot(t0, 1)), readBack(t, e.srv.URL, t0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	if n := e.srv.Requests("authToken"); n != 1 {
		t.Errorf("authToken requests = %d", n)
	}
}

// The request rate is limited (checked by the limiter's settings, not by
// timing).
func TestBackendRate(t *testing.T) {
	for _, tt := range []struct {
		rate, want float64
		burst      int
	}{{2.5, 2.5, 2}, {0, 10, 10}, {0.5, 0.5, 1}} {
		b, err := New(Config{Rate: tt.rate, APIKey: NewSecret("A"), SecretKey: NewSecret("S")}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l, bu := float64(b.limiter.Limit()), b.limiter.Burst(); l != tt.want || bu != tt.burst {
			t.Errorf("rate %v: limit %v burst %d, want %v %d", tt.rate, l, bu, tt.want, tt.burst)
		}
	}
}

func TestBackoff(t *testing.T) {
	for attempt := range 40 {
		d := backoff(attempt)
		max := 250 * time.Millisecond << attempt
		if max > 5*time.Second || max <= 0 {
			max = 5 * time.Second
		}
		if d <= 0 || d > max {
			t.Errorf("backoff(%d) = %v, want in (0, %v]", attempt, d, max)
		}
	}
}

// When pacing leaves results for later, that is said once, and is not
// taken for an outage.
func TestBackendPacingBacklog(t *testing.T) {
	e := newEnv(t, Config{Rate: 0.01}) // burst 1: the listing, then nothing within the deadline
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		if err := e.b.Flush(ctx, snapshot(t0.Add(time.Duration(i)*10*time.Second), 1)); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	if q := e.b.Queued(); q != 12 {
		t.Errorf("queued = %d, want 12", q)
	}
	text := e.log.text()
	if n := e.log.count(slog.LevelWarn); n != 1 || !strings.Contains(text, "flush deadline reached") || strings.Contains(text, "unreachable") {
		t.Errorf("%d warnings:\n%s", n, text)
	}
}
