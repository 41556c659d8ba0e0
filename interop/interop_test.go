package interop

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the clients' datagrams")

// scriptTimeout bounds one run of a client program.
const scriptTimeout = 5 * time.Second

// flushTime is the fixed time the tests flush at, a multiple of the interval.
var flushTime = time.Unix(1_800_000_000, 0)

// series is one flushed series in the reference server's terms: its key
// names and values (aggregate.Series.Values), tags as "k:v,k2:v2".
type series struct {
	Name   string
	Type   string
	Tags   string
	Values []aggregate.Value
}

// The expected values below are the reference server's (statsd/statsd,
// lib/process_metrics.js) for the workload every client sends, with a
// 10 s flush interval and percentThreshold [90]. Rates are count / 10.
var (
	// interop.counter: 1 + 5 - 1 (R3.1, R3.2).
	wantCounter = series{"interop.counter", "counter", "", vals("count", 5, "rate", 0.5)}
	// interop.sampled: 1 at @0.1 counts 1/0.1 = 10 (R2.5).
	wantSampled = series{"interop.sampled", "counter", "", vals("count", 10, "rate", 1)}
	// interop.gauge: 333, then +4 and -10 added (R3.4).
	wantGauge = series{"interop.gauge", "gauge", "", vals("value", 327)}
	// interop.negative: 0 then -7, i.e. -7 added to 0 (R3.5).
	wantNegative = series{"interop.negative", "gauge", "", vals("value", -7)}
	// interop.set: members 765, 765, 766 (R3.13).
	wantSet = series{"interop.set", "set", "", vals("count", 2)}
	// interop.timer: 1..10, the [run] example of R3.7 with a 10 s interval.
	wantTimer = series{"interop.timer", "timer", "", vals(
		"count", 10, "count_ps", 1, "sum", 55, "sum_squares", 385,
		"mean", 5.5, "median", 5.5, "lower", 1, "upper", 10,
		"std", 2.8722813232690143,
		"count_90", 9, "mean_90", 5, "sum_90", 45, "sum_squares_90", 285, "upper_90", 9,
	)}
	// interop.sampled_timer: 320 at @0.1: the count grows by 1/0.1, the
	// value is stored once (R2.5, the "glork" [run] example of R3.7).
	wantSampledTimer = series{"interop.sampled_timer", "timer", "", vals(
		"count", 10, "count_ps", 1, "sum", 320, "sum_squares", 102400,
		"mean", 320, "median", 320, "lower", 320, "upper", 320, "std", 0,
		"count_90", 1, "mean_90", 320, "sum_90", 320, "sum_squares_90", 102400, "upper_90", 320,
	)}
	// interop.duration (Go): one fractional value, 1.5 ms; with n = 1 the
	// 90th percentile keeps the one value (R3.7: if n = 1 then k = 1).
	wantDuration = series{"interop.duration", "timer", "", vals(
		"count", 1, "count_ps", 0.1, "sum", 1.5, "sum_squares", 2.25,
		"mean", 1.5, "median", 1.5, "lower", 1.5, "upper", 1.5, "std", 0,
		"count_90", 1, "mean_90", 1.5, "sum_90", 1.5, "sum_squares_90", 2.25, "upper_90", 1.5,
	)}
	// interop.bare_tag (Node): a tag without a value is kept as a bare key.
	wantBareTag = series{"interop.bare_tag", "counter", "canary", vals("count", 1, "rate", 0.1)}
	// "interop.odd name/x+y": the reference key sanitiser makes whitespace
	// runs '_', '/' '-' and deletes '+' (R6.1).
	wantOddName = series{"interop.odd_name-xy", "counter", "", vals("count", 1, "rate", 0.1)}
	// The workload without tags, which every client sends.
	wantCommon = []series{wantCounter, wantSampled, wantGauge, wantNegative, wantSet, wantTimer, wantSampledTimer, wantOddName}
)

// wantTagged is the series of "<name>" sent as 1 with tags (env:dev,
// region:eu) and 2 with (region:eu, env:dev).
//
// Divergence from the reference, by design (specs R2.6, R2.9, R6.4): the
// reference appends DogStatsD tags to the key in received order, so it
// makes two series, "<name>;env=dev;region=eu" with count 1 and
// "<name>;region=eu;env=dev" with count 2; Graphite ";k=v" name tags stay in
// the name likewise (two series); InfluxDB ",k=v" name tags lose their
// commas to the sanitiser ("<name>env=devregion=eu" and
// "<name>region=euenv=dev"). The agent canonicalises tags in every style:
// one series, tags sorted, count 1 + 2 = 3.
func wantTagged(name string) series {
	return series{name, "counter", "env:dev,region:eu", vals("count", 3, "rate", 0.3)}
}

func vals(kv ...any) []aggregate.Value {
	var out []aggregate.Value
	for i := 0; i < len(kv); i += 2 {
		var v float64
		switch x := kv[i+1].(type) {
		case int:
			v = float64(x)
		case float64:
			v = x
		default:
			panic(fmt.Sprintf("vals: %T", x))
		}
		out = append(out, aggregate.Value{Key: kv[i].(string), Value: v})
	}
	return out
}

// wantDogStatsDTypes are hot-shots' histogram ("|h") and distribution
// ("|d") of the values 1..10: the agent aggregates them like a timer (same
// statistics as interop.timer) under their own types (specs R3.11, R3.12).
// Divergence from the reference, by design (R2.3): the reference counts any
// type other than ms, g and s as a counter, so it reports two counters with
// count 55, rate 5.5.
func wantDogStatsDTypes() []series {
	h, d := wantTimer, wantTimer
	h.Name, h.Type = "interop.histogram", "histogram"
	d.Name, d.Type = "interop.distribution", "distribution"
	return []series{h, d}
}

// client is one client library and the program that drives it.
type client struct {
	name string
	// prepare checks that the runtime and library are installed and returns
	// the command line to run with host and port appended; it skips the
	// test otherwise.
	prepare func(t *testing.T) []string
	want    []series
}

var clients = []client{
	{
		name:    "go",
		prepare: prepareGo,
		want: append(append([]series(nil), wantCommon...),
			wantDuration, wantTagged("interop.tagged"), wantTagged("interop.tagged_graphite"), wantTagged("interop.tagged_influx")),
	},
	{
		// The same client packing its lines into multi-metric datagrams.
		name: "go-buffered",
		prepare: func(t *testing.T) []string {
			return append(prepareGo(t), "-buffered")
		},
		want: append(append([]series(nil), wantCommon...),
			wantDuration, wantTagged("interop.tagged"), wantTagged("interop.tagged_graphite"), wantTagged("interop.tagged_influx")),
	},
	{
		name: "python",
		prepare: func(t *testing.T) []string {
			return prepareInterpreter(t, "/usr/bin/python3", "python3-statsd (jsocol/pystatsd)",
				[]string{"-c", "import statsd; statsd.StatsClient"}, "clients/python/client.py")
		},
		want: wantCommon,
	},
	{
		name: "ruby",
		prepare: func(t *testing.T) []string {
			return prepareInterpreter(t, "ruby", "ruby-statsd (statsd-ruby)",
				[]string{"-e", "require 'statsd'; Statsd.instance_method(:gauge)"}, "clients/ruby/client.rb")
		},
		want: wantCommon,
	},
	{
		name: "perl",
		prepare: func(t *testing.T) []string {
			return prepareInterpreter(t, "perl", "libnet-statsd-perl (Net::Statsd)",
				[]string{"-MNet::Statsd", "-e", "1"}, "clients/perl/client.pl")
		},
		want: wantCommon,
	},
	{
		name: "node",
		prepare: func(t *testing.T) []string {
			return prepareInterpreter(t, "node", "hot-shots (run `npm ci` in interop/clients/node)",
				[]string{"-e", "require('./clients/node/node_modules/hot-shots')"}, "clients/node/client.js")
		},
		want: append(append(append([]series(nil), wantCommon...), wantTagged("interop.tagged"), wantBareTag),
			wantDogStatsDTypes()...),
	},
}

func TestClients(t *testing.T) {
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			argv := c.prepare(t)

			// 1. The datagrams the client sends, against golden files.
			grams := capture(t, argv)
			checkGolden(t, filepath.Join("testdata", c.name+".golden"), grams)
			// 2. What the agent makes of them, against the reference.
			got := runAgent(t, func(addr net.Addr) { run(t, argv, addr) }, countLines(grams))
			want := append([]series(nil), c.want...)
			sortSeries(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("flushed series (-reference +agent):\n%s", diff)
			}
		})
	}
}

// countLines counts the non-empty lines of the datagrams.
func countLines(grams []string) uint64 {
	var n uint64
	for _, g := range grams {
		for _, l := range strings.Split(g, "\n") {
			if strings.TrimSuffix(l, "\r") != "" {
				n++
			}
		}
	}
	return n
}

// prepareInterpreter skips unless interpreter runs check (bounded), and
// returns the command line to run script.
func prepareInterpreter(t *testing.T, interpreter, lib string, check []string, script string) []string {
	t.Helper()
	path, err := exec.LookPath(interpreter)
	if err != nil {
		t.Skipf("%s not installed: %v", interpreter, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, path, check...).CombinedOutput(); err != nil {
		t.Skipf("%s client library %s not available: %v\n%s", interpreter, lib, err, out)
	}
	return []string{path, script}
}

var goBuild struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

// prepareGo builds clients/go once per test binary (bounded) and returns
// the binary's path.
func prepareGo(t *testing.T) []string {
	t.Helper()
	goBuild.once.Do(func() {
		// go test puts its own GOROOT/bin first on PATH.
		gotool, err := exec.LookPath("go")
		if err != nil {
			goBuild.err = fmt.Errorf("go tool not found: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "interop-go-client")
		if err != nil {
			goBuild.err = err
			return
		}
		goBuild.bin = filepath.Join(dir, "go-client")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		goBuild.out, goBuild.err = exec.CommandContext(ctx, gotool, "build", "-o", goBuild.bin, "./clients/go").CombinedOutput()
	})
	if goBuild.err != nil {
		if goBuild.out == nil {
			t.Skipf("cannot build the Go client: %v", goBuild.err)
		}
		t.Fatalf("go build ./clients/go: %v\n%s", goBuild.err, goBuild.out)
	}
	return []string{goBuild.bin}
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if goBuild.bin != "" {
		os.RemoveAll(filepath.Dir(goBuild.bin))
	}
	os.Exit(code)
}

// run runs argv with host and port appended, bounded by scriptTimeout, and
// fails the test if it does not exit cleanly.
func run(t *testing.T, argv []string, addr net.Addr) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], host, port)...)
	cmd.Env = clientEnv()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("%s wrote output: %s", strings.Join(cmd.Args, " "), stderr.Bytes())
	}
}

// clientEnv is the environment without the variables clients read to add
// global tags or extension fields (hot-shots reads DD_TAGS, DD_ENV, ...),
// so the datagrams do not depend on the machine.
func clientEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DD_") || strings.HasPrefix(kv, "DATADOG_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// capture runs the client against a plain UDP socket and returns the
// datagrams it sent, in order.
func capture(t *testing.T, argv []string) []string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := pc.(*net.UDPConn).SetReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	run(t, argv, pc.LocalAddr())
	// Loopback delivers a datagram into our receive buffer before the
	// client's send returns, so everything is queued once the client has
	// exited; the deadline only ends the drain.
	var grams []string
	buf := make([]byte, 65536)
	for range 10000 {
		if err := pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, _, err := pc.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		grams = append(grams, string(buf[:n]))
	}
	if len(grams) == 0 {
		t.Fatal("the client sent nothing")
	}
	return grams
}

// checkGolden compares the datagrams, one Go-quoted datagram per line, with
// the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path string, grams []string) {
	t.Helper()
	var b strings.Builder
	for _, g := range grams {
		b.WriteString(strconv.Quote(g))
		b.WriteByte('\n')
	}
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("datagrams differ from %s (-golden +sent):\n%s", path, diff)
	}
}

// strayFlushes is a backend that records the flushes the agent's own
// schedule makes; the tests flush by hand and expect none before that.
type strayFlushes struct {
	mu sync.Mutex
	n  int
}

func (s *strayFlushes) Flush(context.Context, *aggregate.Snapshot) error {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	return nil
}

func (s *strayFlushes) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// runAgent calls send with the address of a fresh agent, waits (bounded)
// until the agent has received lines lines, checks that none was invalid,
// flushes once and returns the series.
func runAgent(t *testing.T, send func(net.Addr), lines uint64) []series {
	t.Helper()
	stray := &strayFlushes{}
	a, err := agent.New(agent.Config{
		UDP: "127.0.0.1:0",
		// One reader: datagrams are applied in arrival order, as the
		// single-threaded reference server applies them. With several
		// readers, a gauge's "0|g" and "-7|g" sent in two datagrams (Go,
		// Node) may be parsed by two readers in either order.
		UDPReaders: 1,
		Aggregate: aggregate.Config{
			Interval:    10 * time.Second,
			Percentiles: []float64{90},
		},
		// A fixed clock: the agent's own first tick is a whole interval
		// (10 s) after Run starts, far beyond the client's run; the test
		// flushes by hand at flushTime.
		Now: func() time.Time { return flushTime.Add(-10 * time.Second) },
	}, []flush.Backend{stray}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("agent did not stop")
		}
	}()

	send(a.UDPAddr())
	deadline := time.Now().Add(5 * time.Second)
	for a.LinesReceived() < lines {
		if time.Now().After(deadline) {
			t.Fatalf("agent received %d lines, the client sent %d", a.LinesReceived(), lines)
		}
		time.Sleep(time.Millisecond)
	}
	if n := stray.count(); n != 0 {
		t.Fatalf("the agent flushed %d times on its own before the test's flush", n)
	}
	snap := a.Flush(context.Background(), flushTime)

	m := a.Metrics()
	if got := m.Lines.Load(); got != lines {
		t.Errorf("agent received %d lines, the client sent %d", got, lines)
	}
	if n := m.Invalid.Load(); n != 0 {
		t.Errorf("%d invalid lines", n)
	}
	for reason, n := range m.InvalidByReason() {
		if n != 0 {
			t.Errorf("%d invalid lines, reason %s", n, reason)
		}
	}

	var got []series
	for i := range snap.Series {
		s := &snap.Series[i]
		got = append(got, series{Name: s.Name, Type: s.Type.String(), Tags: s.TagString(), Values: s.Values()})
	}
	sortSeries(got)
	return got
}

func sortSeries(ss []series) {
	sort.Slice(ss, func(i, j int) bool {
		a, b := ss[i], ss[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Tags < b.Tags
	})
}
