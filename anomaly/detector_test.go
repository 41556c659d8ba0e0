package anomaly

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		g, s string
		want bool
	}{
		{"*", "", true},
		{"*", "api.latency", true},
		{"api.*", "api.latency", true},
		{"api.*", "web.latency", false},
		{"*.latency", "api.db.latency", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"upper_*", "upper_90", true},
		{"upper_*", "mean", false},
		{"*a*b", "xaxxb", true},
		{"*a*b", "xaxxbc", false},
		{"mean", "mean", true},
		{"mean", "mean_90", false},
		{"", "", true},
		{"", "x", false},
	} {
		if got := glob(tc.g, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.g, tc.s, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		err  string
	}{
		{"zero", Config{}, ""},
		{"defaults", Config{}.Resolve(), ""},
		{"two parts", Config{Patterns: []string{"timer:mean"}}, "want TYPE:NAME:STAT"},
		{"bad type", Config{Patterns: []string{"meter:*:rate"}}, `unknown type "meter"`},
		{"empty stat", Config{Patterns: []string{"timer:*:"}}, "want TYPE:NAME:STAT"},
		{"any type", Config{Patterns: []string{"*:api.*:*"}}, ""},
		{"negative k", Config{K: -1}, "k -1"},
		{"sudden too short", Config{SuddenPoints: 3}, "sudden_points 3"},
		{"sudden off", Config{SuddenPoints: -1}, ""},
		{"negative duration", Config{Duration: -1}, "duration"},
		{"negative max", Config{MaxSeries: -5}, "max_series -5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("Validate() = %v, want %q", err, tc.err)
			}
			if _, nerr := New(tc.c, nil, nil); (nerr == nil) != (tc.err == "") {
				t.Errorf("New() = %v, want error %v", nerr, tc.err != "")
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	c := Config{K: 3, Patterns: []string{"gauge:*:value"}}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-anomaly", "-anomaly-patterns", "timer:api.*:upper_99, counter:*:rate",
		"-anomaly-duration", "30s", "-anomaly-warm-up", "2h", "-anomaly-max-series", "50"}); err != nil {
		t.Fatal(err)
	}
	want := Config{Enabled: true, K: 3, Patterns: []string{"timer:api.*:upper_99", "counter:*:rate"},
		Duration: Duration(30 * time.Second), WarmUp: Duration(2 * time.Hour), MaxSeries: 50}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if err := fs.Parse([]string{"-anomaly-duration", "-3s"}); err == nil {
		t.Error("negative duration accepted")
	}
}

// snap builds a snapshot at time ts with a counter api.requests (rate r),
// a timer api.latency{env:prod} (mean m, upper_90 u) and a gauge.
func snap(ts time.Time, r, m, u float64) *aggregate.Snapshot {
	return &aggregate.Snapshot{Time: ts, Interval: step, Series: []aggregate.Series{
		{Name: "api.requests", Type: protocol.Counter, Value: r * 300, Rate: r},
		{Name: "api.latency", Type: protocol.Timer, Tags: []protocol.Tag{{Key: "env", Value: "prod"}},
			Dist: &aggregate.DistStats{Count: 10, CountPS: 10.0 / 300, N: 10, Mean: m, Upper: 2 * m, Lower: 1,
				Percentiles: []aggregate.PercentileStats{{Threshold: 90, Bound: u, Count: 9, Mean: m}}}},
		{Name: "queue.depth", Type: protocol.Gauge, Value: 7},
	}}
}

func TestDetectorEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	d, err := New(Config{Enabled: true}, slog.New(slog.NewTextHandler(&logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := monday
	for range 40 {
		s := snap(ts, 50, 20, 30)
		d.Process(s)
		if len(s.Events) != 0 {
			t.Fatalf("events on normal data: %+v", s.Events)
		}
		ts = ts.Add(step)
	}
	vs := d.Verdicts()
	var keys []string
	for _, v := range vs {
		keys = append(keys, v.Key.String())
		if !v.Band.Ready || v.Outside {
			t.Errorf("%s: %+v", v.Key, v)
		}
	}
	if diff := cmp.Diff([]string{"counter:api.requests:rate", "timer:api.latency{env:prod}:mean",
		"timer:api.latency{env:prod}:upper_90"}, keys); diff != "" {
		t.Errorf("learned (-want +got):\n%s", diff)
	}

	// Latency triples: a deviation and a sudden change of the mean.
	s := snap(ts, 50, 60, 30)
	d.Process(s)
	if len(s.Events) != 2 || s.Events[1].Title != "Sudden change: api.latency{env:prod} mean" ||
		!strings.Contains(s.Events[1].Text, "projected 20 (200% change)") {
		t.Fatalf("events = %+v, want a deviation and a sudden change", s.Events)
	}
	ev := s.Events[0]
	want := "timer:api.latency{env:prod}:mean"
	if ev.Title != "Deviation: api.latency{env:prod} mean" || ev.AlertType != "warning" || ev.SourceType != SourceType ||
		ev.Timestamp != ts.Unix() || ev.AggregationKey != "anomaly:"+want ||
		!strings.Contains(ev.Text, "60 outside [19.2, 20.8]") {
		t.Errorf("deviation event = %+v", ev)
	}
	if diff := cmp.Diff([]protocol.Tag{{Key: "anomaly", Value: "deviation"}, {Key: "metric", Value: "api.latency"},
		{Key: "stat", Value: "mean"}, {Key: "series_tags", Value: "env:prod"}}, ev.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(deviating(t, reg, "api.latency{env:prod}", "mean")); n != 1 {
		t.Errorf("deviating gauge = %v", n)
	}
	ts = ts.Add(step)
	s = snap(ts, 50, 20, 30)
	d.Process(s)
	if len(s.Events) != 1 || s.Events[0].AlertType != "success" || !strings.HasPrefix(s.Events[0].Title, "Recovered: ") {
		t.Fatalf("events = %+v, want one recovery", s.Events)
	}
	if got := logs.String(); !strings.Contains(got, `level=WARN msg="anomaly: Deviation: api.latency{env:prod} mean" kind=deviation`) ||
		!strings.Contains(got, `level=INFO msg="anomaly: Recovered: api.latency{env:prod} mean" kind=recovery`) {
		t.Errorf("log:\n%s", got)
	}
	st := d.Stats()
	if st.Series != 3 || st.Ready != 3 || st.Deviating != 0 || st.Events["deviation"] != 1 || st.Events["recovery"] != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// deviating returns the deviating gauge of one statistic as a collector.
func deviating(t *testing.T, reg *prometheus.Registry, series, stat string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
	for _, mf := range mfs {
		if mf.GetName() != "statsd_agent_anomaly_deviating" {
			continue
		}
		for _, m := range mf.Metric {
			lv := map[string]string{}
			for _, l := range m.Label {
				lv[l.GetName()] = l.GetValue()
			}
			if lv["series"] == series && lv["stat"] == stat {
				g.Set(m.GetGauge().GetValue())
				return g
			}
		}
	}
	t.Fatalf("no deviating gauge for %s %s", series, stat)
	return nil
}

func TestBandMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	d, err := New(Config{Patterns: []string{"counter:*:rate"}}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ts := monday
	for range 10 {
		d.Process(snap(ts, 50, 20, 30))
		ts = ts.Add(step)
	}
	// During the warm-up only the counters are exported.
	if n, err := testutil.GatherAndCount(reg, "statsd_agent_anomaly_band_upper"); err != nil || n != 0 {
		t.Fatalf("bands during warm-up: %d, %v", n, err)
	}
	for range 30 {
		d.Process(snap(ts, 50, 20, 30))
		ts = ts.Add(step)
	}
	want := `
# HELP statsd_agent_anomaly_band_lower Lower edge of the learned band of normal values (baseline mean - k stddev, clamped to the valid range).
# TYPE statsd_agent_anomaly_band_lower gauge
statsd_agent_anomaly_band_lower{series="api.requests",stat="rate",type="counter"} 48
# HELP statsd_agent_anomaly_band_upper Upper edge of the learned band of normal values (baseline mean + k stddev, clamped to the valid range).
# TYPE statsd_agent_anomaly_band_upper gauge
statsd_agent_anomaly_band_upper{series="api.requests",stat="rate",type="counter"} 52
# HELP statsd_agent_anomaly_series Series statistics learned (at most max_series).
# TYPE statsd_agent_anomaly_series gauge
statsd_agent_anomaly_series 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "statsd_agent_anomaly_band_lower",
		"statsd_agent_anomaly_band_upper", "statsd_agent_anomaly_series"); err != nil {
		t.Error(err)
	}
}

func TestMaxSeries(t *testing.T) {
	d, err := New(Config{MaxSeries: 2}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Process(snap(monday, 1, 2, 3))
	if st := d.Stats(); st.Series != 2 || st.Rejected != 1 {
		t.Errorf("stats = %+v, want 2 learned, 1 rejected", st)
	}
}

func TestIdleEviction(t *testing.T) {
	d, err := New(Config{MaxIdle: Duration(time.Hour), Patterns: []string{"gauge:*:value"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Process(snap(monday, 1, 2, 3))
	ts := monday
	for range 100 {
		ts = ts.Add(step)
		d.Process(&aggregate.Snapshot{Time: ts, Interval: step})
	}
	if st := d.Stats(); st.Series != 0 {
		t.Errorf("idle series kept: %+v", st)
	}
}

// TestPersistence checks the round trip: a detector restored from the
// state directory judges the following points exactly as the original.
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	a, _ := New(Config{}, nil, nil)
	ts := monday
	for i := range 3000 { // over a week: the seasonal profile is in play
		a.Process(snap(ts, 50+float64(i%12), 20+float64(i%7), 30))
		ts = ts.Add(step)
	}
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != StateFile {
		t.Fatalf("state dir holds %v, want only %s", entries, StateFile)
	}
	b, _ := New(Config{}, nil, nil)
	if err := b.Load(dir); err != nil {
		t.Fatal(err)
	}
	for i, in := range []float64{20, 80, 21, 20} {
		sa, sb := snap(ts, 55, in, 30), snap(ts, 55, in, 30)
		a.Process(sa)
		b.Process(sb)
		if diff := cmp.Diff(a.Verdicts(), b.Verdicts()); diff != "" {
			t.Fatalf("point %d: verdicts differ (-original +restored):\n%s", i, diff)
		}
		if diff := cmp.Diff(sa.Events, sb.Events); diff != "" || (i == 1 && len(sa.Events) == 0) {
			t.Fatalf("point %d: events differ (-original +restored):\n%s", i, diff)
		}
		ts = ts.Add(step)
	}

	// A narrower selection drops what it no longer selects.
	c, _ := New(Config{Patterns: []string{"counter:*:*"}}, nil, nil)
	if err := c.Load(dir); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Series != 1 {
		t.Errorf("restored %d series, want the counter only", st.Series)
	}
	// A missing file is a fresh start; a corrupt one an error.
	if err := c.Load(t.TempDir()); err != nil {
		t.Errorf("missing state: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"version":1,"series":[{"type":"meter"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Load(dir); err == nil || !strings.Contains(err.Error(), `unknown type "meter"`) {
		t.Errorf("corrupt state: %v", err)
	}
	if st := c.Stats(); st.Series != 1 {
		t.Errorf("failed load changed the detector: %+v", st)
	}
	if err := a.Save(filepath.Join(dir, "missing")); err == nil {
		t.Error("save into a missing directory succeeded")
	}
}

func FuzzDecode(f *testing.F) {
	d, _ := New(Config{}, nil, nil)
	ts := monday
	for i := range 50 {
		d.Process(snap(ts, float64(i), 20, 30))
		ts = ts.Add(step)
	}
	var buf bytes.Buffer
	if err := d.Encode(&buf, monday); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"version":1,"series":[]}`))
	f.Add([]byte(`{"version":1,"series":[{"name":"a","type":"gauge","stat":"value","var":-1}]}`))
	f.Add([]byte(`{"version":1,"series":[{"name":"a","type":"gauge","stat":"value","ring":[1],"ring_t":[]}]}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, _ := New(Config{Patterns: []string{"*:*:*"}}, nil, nil)
		if err := d.Decode(bytes.NewReader(data)); err != nil {
			return
		}
		// Whatever was accepted must be usable and round-trip.
		d.Process(snap(monday, 1, 2, 3))
		var b1 bytes.Buffer
		if err := d.Encode(&b1, monday); err != nil {
			t.Fatalf("encode of accepted state: %v", err)
		}
		d2, _ := New(Config{Patterns: []string{"*:*:*"}}, nil, nil)
		if err := d2.Decode(bytes.NewReader(b1.Bytes())); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if a, b := d.Stats().Series, d2.Stats().Series; a != b {
			t.Fatalf("round trip: %d series, then %d", a, b)
		}
	})
}

func TestAutosave(t *testing.T) {
	dir := t.TempDir()
	d, _ := New(Config{}, nil, nil)
	d.Process(snap(monday, 1, 2, 3))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // saves once and returns
	if err := d.Autosave(ctx, dir, time.Hour); err != nil {
		t.Fatal(err)
	}
	e, _ := New(Config{}, nil, nil)
	if err := e.Load(dir); err != nil || e.Stats().Series != 3 {
		t.Errorf("restored %d series, %v", e.Stats().Series, err)
	}
	if err := d.Autosave(ctx, filepath.Join(dir, "missing"), time.Hour); err == nil {
		t.Error("autosave into a missing directory reported no error")
	}
}
