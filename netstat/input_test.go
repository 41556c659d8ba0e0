package netstat

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/statsd-agent/statsd-agent/protocol"
)

func TestCounterDelta(t *testing.T) {
	const max32 = math.MaxUint32
	tests := []struct {
		name      string
		prev, cur uint64
		width     int
		want      uint64
		ok        bool
	}{
		{"increase", 100, 150, 64, 50, true},
		{"unchanged", 7, 7, 64, 0, true},
		{"64-bit reset (reboot)", 1_000_000, 12, 64, 0, false},
		{"64-bit never wraps at 2^32", max32 - 5, 10, 64, 0, false},
		{"32-bit wrap", max32 - 5, 10, 32, 16, true},
		{"32-bit wrap to zero", max32, 0, 32, 1, true},
		{"32-bit small decrease is a reset, not a wrap", 100, 50, 32, 0, false},
		{"32-bit decrease by one is a reset, not a 2^32-1 wrap", 1 << 31, (1 << 31) - 2 + 1, 32, 0, false},
		{"32-bit: prev above 2^32 cannot be a wrap", max32 + 10, 5, 32, 0, false},
		{"32-bit increase", 10, 20, 32, 10, true},
		{"huge increase", 0, math.MaxUint64, 64, math.MaxUint64, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := CounterDelta(tt.prev, tt.cur, tt.width)
			if got != tt.want || ok != tt.ok {
				t.Errorf("CounterDelta(%d, %d, %d) = %d, %v; want %d, %v", tt.prev, tt.cur, tt.width, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func reading(width int, counters map[string]uint64) *Reading {
	r := newReading("test")
	r.Width = width
	r.Counters = counters
	return r
}

func TestDeltas(t *testing.T) {
	var d Deltas
	// First reading only primes.
	ch, resets := d.Update(reading(64, map[string]uint64{"a": 10, "b": 5}))
	if len(ch) != 0 || resets != 0 {
		t.Fatalf("first reading: changes %v, resets %d; want none", ch, resets)
	}
	// Second: deltas; "c" appears and only primes.
	ch, resets = d.Update(reading(64, map[string]uint64{"a": 15, "b": 5, "c": 100}))
	if diff := cmp.Diff([]Change{{"a", 5}, {"b", 0}}, ch); diff != "" || resets != 0 {
		t.Fatalf("second reading (-want +got):\n%s resets %d", diff, resets)
	}
	// Third: "b" missing (partial reading); "a" reset; "c" grows.
	ch, resets = d.Update(reading(64, map[string]uint64{"a": 3, "c": 130}))
	if diff := cmp.Diff([]Change{{"c", 30}}, ch); diff != "" || resets != 1 {
		t.Fatalf("third reading (-want +got):\n%s resets %d", diff, resets)
	}
	// Fourth: "b" comes back: delta against its last value; "a" continues
	// from the value after the reset.
	ch, resets = d.Update(reading(64, map[string]uint64{"a": 4, "b": 9, "c": 130}))
	if diff := cmp.Diff([]Change{{"a", 1}, {"b", 4}, {"c", 0}}, ch); diff != "" || resets != 0 {
		t.Fatalf("fourth reading (-want +got):\n%s resets %d", diff, resets)
	}
}

func TestDeltasWrap32(t *testing.T) {
	var d Deltas
	d.Update(reading(32, map[string]uint64{"tcp.segments_in": math.MaxUint32 - 99}))
	ch, resets := d.Update(reading(32, map[string]uint64{"tcp.segments_in": 400}))
	if diff := cmp.Diff([]Change{{"tcp.segments_in", 500}}, ch); diff != "" || resets != 0 {
		t.Fatalf("wrap (-want +got):\n%s resets %d", diff, resets)
	}
}

// seqSource returns its readings in order, then errors.
type seqSource struct {
	readings []*Reading
	errs     []error
	n        int
}

func (s *seqSource) Read(ctx context.Context) (*Reading, error) {
	i := s.n
	s.n++
	if i < len(s.errs) && s.errs[i] != nil {
		return nil, s.errs[i]
	}
	if i >= len(s.readings) {
		return nil, errors.New("no more readings")
	}
	return s.readings[i], nil
}

// recorded is a copy of a sample, safe to keep after the sink returns.
type recorded struct {
	Name  string
	Type  protocol.Type
	Value float64
	Rate  float64
	Tags  string
}

type recorder struct{ batches [][]recorded }

func (r *recorder) sink(s []protocol.Sample) {
	var b []recorded
	for _, x := range s {
		b = append(b, recorded{string(x.Name), x.Type, x.Value, x.SampleRate, string(x.Tags)})
	}
	r.batches = append(r.batches, b)
}

func withGauge(r *Reading, name string, v float64) *Reading {
	r.Gauges[name] = v
	return r
}

func TestInputCollect(t *testing.T) {
	src := &seqSource{
		readings: []*Reading{
			withGauge(reading(64, map[string]uint64{TCPSegmentsIn: 1000, UDPDatagramsIn: 50}), TCPEstablished, 3),
			withGauge(reading(64, map[string]uint64{TCPSegmentsIn: 1600, UDPDatagramsIn: 50}), TCPEstablished, 4),
			nil, // error
			withGauge(reading(64, map[string]uint64{TCPSegmentsIn: 20, UDPDatagramsIn: 70}), TCPEstablished, 1), // reboot
			withGauge(reading(64, map[string]uint64{TCPSegmentsIn: 25, UDPDatagramsIn: 75}), TCPEstablished, 1),
		},
		errs: []error{nil, nil, errors.New("netstat: exec: boom"), nil, nil},
	}
	var rec recorder
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	in := NewInput(Config{Enabled: true, Interval: Duration(time.Minute)}, src, rec.sink, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		err := in.Collect(ctx)
		if (i == 2) != (err != nil) {
			t.Fatalf("Collect %d: err = %v", i, err)
		}
	}
	want := [][]recorded{
		{{"netstat.tcp.established", protocol.Gauge, 3, 1, ""}},
		{
			{"netstat.tcp.segments_in", protocol.Counter, 600, 1, ""},
			{"netstat.udp.datagrams_in", protocol.Counter, 0, 1, ""},
			{"netstat.tcp.established", protocol.Gauge, 4, 1, ""},
		},
		// error: no batch; reboot: only udp (which still grew) and the gauge
		{
			{"netstat.udp.datagrams_in", protocol.Counter, 20, 1, ""},
			{"netstat.tcp.established", protocol.Gauge, 1, 1, ""},
		},
		{
			{"netstat.tcp.segments_in", protocol.Counter, 5, 1, ""},
			{"netstat.udp.datagrams_in", protocol.Counter, 5, 1, ""},
			{"netstat.tcp.established", protocol.Gauge, 1, 1, ""},
		},
	}
	if diff := cmp.Diff(want, rec.batches); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(in.errs); got != 1 {
		t.Errorf("errors_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(in.resets); got != 1 {
		t.Errorf("counter_resets_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(in.readings); got != 4 {
		t.Errorf("readings_total = %v, want 4", got)
	}
	if n, err := testutil.GatherAndCount(reg, "statsd_agent_netstat_errors_total"); err != nil || n != 1 {
		t.Errorf("registry: %d series, err %v", n, err)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("error not logged: %q", logs.String())
	}
}

func TestInputLogsAtLimitedRate(t *testing.T) {
	src := SourceFunc(func(context.Context) (*Reading, error) { return nil, errors.New("netstat: no such file") })
	var logs bytes.Buffer
	in := NewInput(Config{}, src, nil, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	for i := 0; i < 50; i++ {
		if err := in.Collect(context.Background()); err == nil {
			t.Fatal("want error")
		}
	}
	if got := testutil.ToFloat64(in.errs); got != 50 {
		t.Errorf("errors counted = %v, want 50", got)
	}
	if n := strings.Count(logs.String(), "reading failed"); n != 1 {
		t.Errorf("logged %d times in a burst of 50, want 1:\n%s", n, logs.String())
	}
}

func TestInputRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	src := SourceFunc(func(ctx context.Context) (*Reading, error) {
		calls++
		cancel() // the agent shuts down while the first reading runs
		return nil, ctx.Err()
	})
	in := NewInput(Config{Interval: Duration(time.Hour)}, src, nil, nil, nil)
	if err := in.Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if calls != 1 {
		t.Errorf("source called %d times, want 1", calls)
	}
	if got := testutil.ToFloat64(in.errs); got != 0 {
		t.Errorf("shutdown counted as an error")
	}
}

// TestInputProcEndToEnd reads a fake procfs tree twice through System's
// Linux source and checks the deltas that reach the sink.
func TestInputProcEndToEnd(t *testing.T) {
	root := t.TempDir()
	net := filepath.Join(root, "net")
	if err := os.Mkdir(net, 0o755); err != nil {
		t.Fatal(err)
	}
	snmp, err := os.ReadFile("testdata/debian12-k6.18-snmp.txt")
	if err != nil {
		t.Fatal(err)
	}
	write := func(data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(net, "snmp"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(string(snmp))
	var rec recorder
	in := NewInput(Config{ProcRoot: root, Prefix: "none"}, systemFor("linux", root), rec.sink, nil, nil)
	if err := in.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 653 -> 700 segments in, 30 -> 42 UDP datagrams in.
	next := strings.Replace(string(snmp), "Tcp: 1 200 120000 -1 16 2 0 0 0 653 482", "Tcp: 1 200 120000 -1 16 2 0 0 0 700 482", 1)
	next = strings.Replace(next, "Udp: 30 0 0 31", "Udp: 42 0 0 31", 1)
	write(next)
	if err := in.Collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range rec.batches[1] {
		if s.Type == protocol.Counter {
			got[s.Name] = s.Value
		}
	}
	if got[TCPSegmentsIn] != 47 || got[UDPDatagramsIn] != 12 || got[TCPSegmentsOut] != 0 {
		t.Errorf("deltas: %v", got)
	}
}

func TestConfigTOML(t *testing.T) {
	var c Config
	dec := toml.NewDecoder(strings.NewReader("enabled = true\ninterval = \"30s\"\nprefix = \"sys.\"\nproc_root = \"/host/proc/1\"\n"))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{Enabled: true, Interval: Duration(30 * time.Second), Prefix: "sys.", ProcRoot: "/host/proc/1"}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
	if err := toml.NewDecoder(strings.NewReader(`interval = "soon"`)).Decode(&c); err == nil {
		t.Error("bad interval accepted")
	}
}

func TestConfigFlagsAndResolve(t *testing.T) {
	c := Config{Prefix: "file."} // from the config file
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-netstat", "-netstat-interval", "1m", "-netstat-proc-root", "/host/proc/1"}); err != nil {
		t.Fatal(err)
	}
	want := Config{Enabled: true, Interval: Duration(time.Minute), Prefix: "file.", ProcRoot: "/host/proc/1"}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
	tests := []struct {
		in    Config
		flush time.Duration
		want  Config
	}{
		{Config{}, 0, Config{Interval: Duration(DefaultInterval), Prefix: DefaultPrefix}},
		{Config{}, 20 * time.Second, Config{Interval: Duration(20 * time.Second), Prefix: DefaultPrefix}},
		{Config{Interval: Duration(time.Minute), Prefix: "none"}, 20 * time.Second, Config{Interval: Duration(time.Minute), Prefix: ""}},
	}
	for _, tt := range tests {
		if got := tt.in.Resolve(tt.flush); got != tt.want {
			t.Errorf("%+v.Resolve(%v) = %+v, want %+v", tt.in, tt.flush, got, tt.want)
		}
	}
}

func TestNextTick(t *testing.T) {
	base := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		now      time.Time
		interval time.Duration
		want     time.Time
	}{
		{base, 10 * time.Second, base.Add(5 * time.Second)},
		{base.Add(4 * time.Second), 10 * time.Second, base.Add(5 * time.Second)},
		{base.Add(5 * time.Second), 10 * time.Second, base.Add(15 * time.Second)},
		{base.Add(9*time.Second + 999*time.Millisecond), 10 * time.Second, base.Add(15 * time.Second)},
		{base.Add(31 * time.Second), time.Minute, base.Add(90 * time.Second)},
	}
	for _, tt := range tests {
		if got := NextTick(tt.now, tt.interval); !got.Equal(tt.want) {
			t.Errorf("NextTick(%v, %v) = %v, want %v", tt.now.Format(time.TimeOnly), tt.interval, got.Format(time.TimeOnly), tt.want.Format(time.TimeOnly))
		}
	}
}

func BenchmarkInputCollectProc(b *testing.B) {
	root := b.TempDir()
	if err := os.Mkdir(filepath.Join(root, "net"), 0o755); err != nil {
		b.Fatal(err)
	}
	for name, src := range map[string]string{"snmp": "testdata/debian12-k6.18-snmp.txt", "netstat": "testdata/debian12-k6.18-netstat.txt"} {
		data, err := os.ReadFile(src)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "net", name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	in := NewInput(Config{}, ProcSource{Root: root}, func(s []protocol.Sample) { n += len(s) }, nil, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := in.Collect(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 {
		b.Fatal("no samples")
	}
}
