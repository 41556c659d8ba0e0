package bench

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain lets the test binary play the agent under test for the sweep
// tests: with BENCH_FAKE_AGENT=1 it runs a bare reader on -udp and serves its
// counters on -http, like `statsd-agent -udp ... -http ...`.
func TestMain(m *testing.M) {
	if os.Getenv("BENCH_FAKE_AGENT") == "1" {
		os.Exit(fakeAgentMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeAgentMain(args []string) int {
	fs := flag.NewFlagSet("fake-agent", flag.ContinueOnError)
	udp := fs.String("udp", "", "")
	httpAddr := fs.String("http", "", "")
	fs.String("backend", "", "")
	fs.Duration("flush-interval", 0, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b, err := ListenBaseline(BaselineConfig{Listen: *udp})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.WriteMetrics(w) })}
	go srv.Serve(ln)
	defer srv.Close()
	if err := b.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startBaseline runs a bare reader on 127.0.0.1:0 and serves its metrics
// until the test ends.
func startBaseline(t *testing.T) (*Baseline, string) {
	t.Helper()
	b, err := ListenBaseline(BaselineConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := b.Run(ctx); err != nil {
			t.Errorf("baseline Run: %v", err)
		}
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.WriteMetrics(w) }))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		wg.Wait()
	})
	return b, srv.URL + "/metrics"
}

// waitStable polls count until it reaches want or stays unchanged for
// settle, bounded by maxWait.
func waitStable(count func() int64, want int64, settle, maxWait time.Duration) {
	deadline := time.Now().Add(maxWait)
	last, changed := count(), time.Now()
	for last < want && time.Since(changed) < settle && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling a counter, not driving logic
		if c := count(); c != last {
			last, changed = c, time.Now()
		}
	}
}

func testPool(t *testing.T) *Pool {
	t.Helper()
	p, err := Workload{Keys: 1000, LinesPerPacket: 20}.Build()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSenderToBaseline(t *testing.T) {
	b, _ := startBaseline(t)
	pool := testPool(t)
	const rate = 200_000
	s, err := NewSender(SendConfig{Target: b.Addr().String(), Rate: rate, MaxLines: 50_000, Duration: 5 * time.Second}, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Lines != 50_000 || st.Datagrams != 2500 || st.Errors != 0 {
		t.Fatalf("sent %+v, want 50000 lines in 2500 datagrams", st)
	}
	// Pacing: never ahead of the offered rate by more than one batch.
	batchLines := float64(s.cfg.Batch * 20)
	if limit := rate*st.Elapsed.Seconds() + batchLines; float64(st.Lines) > limit+batchLines {
		t.Fatalf("sent %d lines in %v, more than the rate allows (%v)", st.Lines, st.Elapsed, limit)
	}
	waitStable(func() int64 { return b.Stats().Lines }, st.Lines, time.Second, 10*time.Second)
	got := b.Stats()
	if got.Lines != st.Lines || got.Datagrams != st.Datagrams || got.Bytes != st.Bytes {
		t.Fatalf("baseline got %+v, sender sent %+v", got, st)
	}
	if got.First.IsZero() || got.Last.Before(got.First) {
		t.Fatalf("baseline first/last = %v/%v", got.First, got.Last)
	}
}

func TestSenderMaxRateStopsAtDuration(t *testing.T) {
	b, _ := startBaseline(t)
	s, err := NewSender(SendConfig{Target: b.Addr().String(), Duration: 100 * time.Millisecond}, testPool(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Lines == 0 || st.Elapsed < 100*time.Millisecond {
		t.Fatalf("sent %+v", st)
	}
	if b.Stats().Lines > st.Lines {
		t.Fatalf("baseline counted %d lines, more than the %d sent", b.Stats().Lines, st.Lines)
	}
}

func TestSenderCancel(t *testing.T) {
	b, _ := startBaseline(t)
	s, err := NewSender(SendConfig{Target: b.Addr().String(), Rate: 1000, Duration: time.Hour}, testPool(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan SendStats)
	go func() {
		st, _ := s.Run(ctx)
		done <- st
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestSenderConnectionRefused(t *testing.T) {
	// A port that nothing listens on: the kernel reports ICMP errors, which
	// are counted, not fatal.
	addr, err := freeAddr("udp")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSender(SendConfig{Target: addr, Rate: 100_000, MaxLines: 20_000, Duration: 5 * time.Second, Batch: 1}, testPool(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Errors == 0 || !strings.Contains(st.LastError, "connection refused") {
		t.Fatalf("no send errors counted sending to a closed port: %+v", st)
	}
}

func TestSenderConfigErrors(t *testing.T) {
	pool := testPool(t)
	for _, tt := range []struct {
		cfg  SendConfig
		want string
	}{
		{SendConfig{Target: "127.0.0.1:1", Duration: 2 * time.Hour}, "duration"},
		{SendConfig{Target: "127.0.0.1:1", Rate: -1}, "negative rate"},
		{SendConfig{Target: "127.0.0.1:1", Batch: 5000}, "batch"},
		{SendConfig{Target: "nohostport"}, "target"},
	} {
		_, err := NewSender(tt.cfg, pool)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewSender(%+v) error = %v, want containing %q", tt.cfg, err, tt.want)
		}
	}
	if _, err := NewSender(SendConfig{Target: "127.0.0.1:1"}, &Pool{}); err == nil {
		t.Error("empty pool accepted")
	}
}

func TestIsLoopback(t *testing.T) {
	for in, want := range map[string]bool{
		"127.0.0.1:8125": true, "127.3.2.1:1": true, "[::1]:8125": true, "localhost:8125": true,
		"10.0.0.1:8125": false, "example.com:8125": false, "127.0.0.1": false,
	} {
		if got := IsLoopback(in); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestAutoBatch(t *testing.T) {
	for _, tt := range []struct {
		rate, lpd float64
		want      int
	}{{0, 20, 64}, {100, 20, 1}, {1e6, 20, 50}, {1e7, 20, 64}, {1e6, 0, 64}} {
		if got := autoBatch(tt.rate, tt.lpd); got != tt.want {
			t.Errorf("autoBatch(%v, %v) = %d, want %d", tt.rate, tt.lpd, got, tt.want)
		}
	}
}

func TestRunVerify(t *testing.T) {
	b, url := startBaseline(t)
	var progress strings.Builder
	res, err := Run(context.Background(), RunConfig{
		Workload:  Workload{Keys: 100, Mix: DefaultMix, LinesPerPacket: 10},
		Send:      SendConfig{Target: b.Addr().String(), Rate: 100_000, MaxLines: 20_000, Duration: 5 * time.Second},
		VerifyURL: url,
		Verifier:  Verifier{Poll: 5 * time.Millisecond, Settle: time.Second},
		Progress:  Progress{W: &syncWriter{w: &progress}, Every: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.Verdict.Sent != 20_000 || res.Verdict.Received != 20_000 || res.Verdict.Packets != 2000 || res.Verdict.Loss() != 0 {
		t.Fatalf("result %+v", res)
	}
	var sum strings.Builder
	if err := res.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"offered:   100k lines/s", "sent:      20000 lines in 2000 datagrams (10.0 lines each)", "received:  20000 lines", "datagrams: 2000 received", "loss:      0.000 %"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

func TestRunVerifyUnreachable(t *testing.T) {
	addr, err := freeAddr("tcp")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), RunConfig{
		Send:      SendConfig{Target: "127.0.0.1:9", MaxLines: 1},
		VerifyURL: "http://" + addr + "/metrics",
	})
	if err == nil || !strings.Contains(err.Error(), "verify") {
		t.Fatalf("Run with an unreachable -verify: %v", err)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// fakeCmd is the test binary playing the agent or the bare reader (see TestMain).
func fakeCmd(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BENCH_FAKE_AGENT", "1")
	return append([]string{exe}, DefaultAgentArgs...)
}

func TestSweepExternalTarget(t *testing.T) {
	b, url := startBaseline(t)
	rows, err := Sweep(context.Background(), SweepConfig{
		Rates:       []float64{100_000, 0},
		Duration:    100 * time.Millisecond,
		Workload:    Workload{Keys: 100, LinesPerPacket: 20},
		Target:      b.Addr().String(),
		VerifyURL:   url,
		PID:         os.Getpid(),
		BaselineCmd: fakeCmd(t),
		Verifier:    Verifier{Poll: 5 * time.Millisecond, Settle: 300 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for i, r := range rows {
		for _, m := range []Measure{r.Agent, r.Baseline} {
			// At max, a receiver starved of CPU (race detector, busy CI) may
			// count nothing; at 100k lines/s it must count everything.
			if m.Sent.Lines == 0 || m.Received > m.Sent.Lines || i == 0 && m.Received != m.Sent.Lines || !m.HasCPU || m.PeakRSS == 0 {
				t.Errorf("row %+v", r)
			}
		}
		if !r.HasBaseline || i == 0 && r.Ratio() == 0 {
			t.Errorf("row %+v: no baseline", r)
		}
	}
	if rows[0].Offered != 100_000 || rows[1].Offered != 0 {
		t.Errorf("offered %v, %v", rows[0].Offered, rows[1].Offered)
	}
	if b.Stats().Lines != rows[0].Agent.Received+rows[1].Agent.Received {
		t.Errorf("reader counted %d lines, rows %d + %d", b.Stats().Lines, rows[0].Agent.Received, rows[1].Agent.Received)
	}
}

func TestSweepStartsAgent(t *testing.T) {
	cmd := fakeCmd(t)
	var log strings.Builder
	rows, err := Sweep(context.Background(), SweepConfig{
		Rates:       []float64{50_000},
		Duration:    100 * time.Millisecond,
		Workload:    Workload{Keys: 100, LinesPerPacket: 20},
		AgentCmd:    cmd,
		BaselineCmd: cmd,
		Verifier:    Verifier{Poll: 5 * time.Millisecond, Settle: 200 * time.Millisecond},
		Log:         &log,
	})
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	r := rows[0]
	for _, m := range []Measure{r.Agent, r.Baseline} {
		if m.Sent.Lines == 0 || m.Received != m.Sent.Lines || !m.HasCPU || m.PeakRSS == 0 {
			t.Fatalf("row %+v", r)
		}
	}
	if want := "rate 50k: agent run (100ms)\nrate 50k: bare reader run\n"; log.String() != want {
		t.Fatalf("log %q, want %q", log.String(), want)
	}
}

func TestSweepAgentFails(t *testing.T) {
	_, err := Sweep(context.Background(), SweepConfig{
		Rates:    []float64{1000},
		Duration: 10 * time.Millisecond,
		AgentCmd: []string{"/bin/sh", "-c", "echo no such flag >&2; exit 3"},
	})
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "no such flag") {
		t.Fatalf("Sweep with a failing agent: %v", err)
	}
}

func TestSweepConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  SweepConfig
		want string
	}{
		{SweepConfig{}, "no rates"},
		{SweepConfig{Rates: []float64{1}, Target: "127.0.0.1:1"}, "needs -verify"},
		{SweepConfig{Rates: []float64{1}, VerifyURL: "http://127.0.0.1:1/metrics"}, "needs -target"},
	} {
		_, err := Sweep(context.Background(), tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Sweep(%+v) error = %v, want containing %q", tt.cfg, err, tt.want)
		}
	}
}

func TestExpandAgentArgs(t *testing.T) {
	got := expandAgentArgs([]string{"agent", "-udp", "{udp}", "-http={http}"}, "127.0.0.1:1", "127.0.0.1:2")
	want := []string{"agent", "-udp", "127.0.0.1:1", "-http=127.0.0.1:2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSweepPinnedRestoresAffinity(t *testing.T) {
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	b, url := startBaseline(t)
	rows, err := Sweep(context.Background(), SweepConfig{
		Rates:      []float64{20_000},
		Duration:   50 * time.Millisecond,
		Workload:   Workload{Keys: 10, LinesPerPacket: 20},
		Target:     b.Addr().String(),
		VerifyURL:  url,
		Pin:        true, // CPU 0 for both: exists on every machine
		NoBaseline: true,
		Verifier:   Verifier{Poll: 5 * time.Millisecond, Settle: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Agent.Received == 0 {
		t.Fatalf("rows %+v", rows)
	}
	var after unix.CPUSet
	if err := unix.SchedGetaffinity(0, &after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("affinity after the sweep %v, before %v", after, before)
	}
}

func TestSweepWarmup(t *testing.T) {
	b, url := startBaseline(t)
	rows, err := Sweep(context.Background(), SweepConfig{
		Rates:      []float64{100_000},
		Duration:   100 * time.Millisecond,
		Warmup:     100 * time.Millisecond,
		Workload:   Workload{Keys: 100, LinesPerPacket: 20},
		Target:     b.Addr().String(),
		VerifyURL:  url,
		NoBaseline: true,
		Verifier:   Verifier{Poll: 5 * time.Millisecond, Settle: 300 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rows[0].Agent
	if r.Received != r.Sent.Lines {
		t.Fatalf("measured send: %d of %d lines received", r.Received, r.Sent.Lines)
	}
	// The reader also got the warm-up's lines, which the row leaves out.
	if total := b.Stats().Lines; total <= r.Received {
		t.Fatalf("reader counted %d lines, the row %d: no warm-up sent", total, r.Received)
	}
}
