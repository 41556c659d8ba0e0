package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/statsd-agent/statsd-agent/bench"
)

// TestMain lets the test binary be statsd-agent itself when
// STATSD_AGENT_TEST_AS_MAIN=1, so that `bench sweep` can start it as the
// agent under test and as the bare reader (it runs os.Executable()).
func TestMain(m *testing.M) {
	if os.Getenv("STATSD_AGENT_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runBenchArgs runs the bench command and returns its exit code and output.
func runBenchArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	code := runBench(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestBenchUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"-rate", "fast"}, "-rate: bench: invalid rate"},
		{[]string{"-packet-bytes", "1000", "-lines-per-packet", "5"}, "exclude each other"},
		{[]string{"-mix", "c=1,x=2"}, "unknown type"},
		{[]string{"-keys", "0"}, "-keys must be positive"},
		{[]string{"-max-loss", "1"}, "-max-loss needs -verify"},
		{[]string{"-cpu-sender", "9999"}, "-cpu-sender 9999"},
		{[]string{"-duration", "0s"}, "-duration"},
		{[]string{"-target", "nowhere"}, "want host:port"},
		{[]string{"-nosuchflag"}, "flag provided but not defined"},
		{[]string{"-lines", "1", "extra"}, `unexpected argument "extra"`},
		{[]string{"baseline", "-every", "0s"}, "-every must be positive"},
		{[]string{"sweep", "-target", "127.0.0.1:1"}, "-target and -verify go together"},
		{[]string{"sweep", "-rates", "1k,,2k"}, "-rates"},
		{[]string{"sweep", "-cpu-sender", "-1"}, "pin both"},
		{[]string{"sweep", "-pid", "1"}, "-pid needs -target"},
		{[]string{"sweep", "-target", "127.0.0.1:1", "-verify", "http://x/", "-agent-cmd", "x"}, "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runBenchArgs(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
		})
	}
}

func TestBenchHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"baseline", "-h"}, {"sweep", "-h"}} {
		code, stdout, stderr := runBenchArgs(t, args...)
		if code != 0 || !strings.Contains(stdout+stderr, "usage: statsd-agent bench") {
			t.Errorf("%v: exit %d, output %q", args, code, stdout+stderr)
		}
	}
}

// startReader runs a bare reader on 127.0.0.1:0 serving its counters, for
// the duration of the test.
func startReader(t *testing.T) (udp, metricsURL string) {
	t.Helper()
	b, err := bench.ListenBaseline(bench.BaselineConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = b.Run(ctx) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _ = b.WriteMetrics(w) }))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		wg.Wait()
	})
	return b.Addr().String(), srv.URL + "/metrics"
}

func TestBenchRunVerify(t *testing.T) {
	udp, url := startReader(t)
	code, stdout, stderr := runBenchArgs(t, "-target", udp, "-rate", "100k", "-lines", "20000", "-lines-per-packet", "20",
		"-mix", "c=70,ms=20,g=10", "-tags", "2", "-verify", url, "-max-loss", "0", "-quiet")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"sent:      20000 lines in 1000 datagrams", "received:  20000 lines", "loss:      0.000 %"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("stderr not empty with -quiet: %q", stderr)
	}
}

func TestBenchRunMaxLoss(t *testing.T) {
	udp, _ := startReader(t)
	// An agent whose counter never moves: every line is lost.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s 7\n", bench.MetricLines)
	}))
	defer srv.Close()
	code, stdout, stderr := runBenchArgs(t, "-target", udp, "-lines", "1000", "-verify", srv.URL, "-max-loss", "5", "-quiet")
	if code != 1 || !strings.Contains(stderr, "exceeds -max-loss 5 %") || !strings.Contains(stdout, "loss:      100.000 %") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestBenchBaselineCommand(t *testing.T) {
	code, stdout, stderr := runBenchArgs(t, "baseline", "-listen", "127.0.0.1:0", "-http", "127.0.0.1:0", "-duration", "100ms")
	if code != 0 || !strings.Contains(stdout, "received 0 lines") || !strings.Contains(stderr, "counters at http://127.0.0.1:") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestBenchSweepCommand(t *testing.T) {
	t.Setenv("STATSD_AGENT_TEST_AS_MAIN", "1")
	udp, url := startReader(t)
	svg := filepath.Join(t.TempDir(), "sweep.svg")
	code, stdout, stderr := runBenchArgs(t, "sweep", "-target", udp, "-verify", url, "-pid", fmt.Sprint(os.Getpid()),
		"-rates", "50k,max", "-duration", "100ms", "-keys", "100", "-cpu-sender", "-1", "-cpu-agent", "-1", "-svg", svg)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	lines := tableLines(stdout)
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "workload: 100 keys, mix c=100, 0 tags, 20 lines per datagram") ||
		!strings.Contains(lines[1], "offered") || !strings.HasPrefix(strings.TrimSpace(lines[2]), "50k") || !strings.HasPrefix(strings.TrimSpace(lines[3]), "max") {
		t.Fatalf("table:\n%s", stdout)
	}
	b, err := os.ReadFile(svg)
	if err != nil || !strings.HasPrefix(string(b), "<svg") {
		t.Fatalf("svg: %v %.40q", err, b)
	}
}

// TestBenchSweepRealAgent starts this binary as the agent under test (the
// default -agent-cmd) and as the bare reader, as `statsd-agent bench sweep`
// does, at a low rate that both must receive whole.
func TestBenchSweepRealAgent(t *testing.T) {
	t.Setenv("STATSD_AGENT_TEST_AS_MAIN", "1")
	code, stdout, stderr := runBenchArgs(t, "sweep", "-rates", "20k", "-duration", "200ms", "-keys", "100",
		"-cpu-sender", "-1", "-cpu-agent", "-1", "-svg", "")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	lines := tableLines(stdout)
	if len(lines) != 3 {
		t.Fatalf("table:\n%s", stdout)
	}
	if !strings.Contains(stdout, "peak received: agent ") || !strings.Contains(stdout, "(offered 20k), bare reader ") {
		t.Errorf("no peak line:\n%s", stdout)
	}
	// offered sent/s received/s loss% CPU RSS bare-sent bare-recv bare-loss bare-CPU ratio
	f := strings.Fields(lines[2])
	if len(f) != 11 || f[0] != "20k" || f[3] != "0.00" || f[8] != "0.00" || f[10] == "-" || f[10] == "0.00" {
		t.Fatalf("want no loss and a ratio at 20k lines/s:\n%s\nstderr:\n%s", stdout, stderr)
	}
}

// tableLines returns stdout's lines but the warnings (a busy machine may
// cause some).
func tableLines(stdout string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if !strings.HasPrefix(l, "warning: ") && !strings.HasPrefix(l, "peak received: ") {
			out = append(out, l)
		}
	}
	return out
}
