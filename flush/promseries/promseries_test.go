package promseries

import (
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/protocol"
)

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"api.requests", "api_requests"},
		{"a-b:c", "a_b_c"},
		{"9lives", "_9lives"},
		{"ok_Name09", "ok_Name09"},
		{"métrique", "m_trique"},
		{"a b/c", "a_b_c"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := SanitizeName(tt.in); got != tt.want {
			t.Errorf("SanitizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLabels(t *testing.T) {
	c, err := New(Options{Host: "h1", Labels: map[string]string{"dc": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tags []protocol.Tag
		want []Label
	}{
		{nil, []Label{{"dc", "x"}, {"host", "h1"}}},
		{tags("env", "prod"), []Label{{"dc", "x"}, {"env", "prod"}, {"host", "h1"}}},
		{tags("canary", ""), []Label{{"canary", "true"}, {"dc", "x"}, {"host", "h1"}}},
		{tags("a.b", "1", "a_b", "2"), []Label{{"a_b", "1,2"}, {"dc", "x"}, {"host", "h1"}}},
		{tags("host", "h2", "dc", "y"), []Label{{"dc", "x"}, {"exported_dc", "y"}, {"exported_host", "h2"}, {"host", "h1"}}},
		{tags("__name__", "n", "k", "\xff"), []Label{{"dc", "x"}, {"host", "h1"}, {"k", "\uFFFD"}, {"tag__name__", "n"}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, c.labels(tt.tags, nil)); diff != "" {
			t.Errorf("labels(%v) (-want +got):\n%s", tt.tags, diff)
		}
	}
	for _, bad := range []Options{{Labels: map[string]string{"a.b": "x"}}, {Host: "h", Labels: map[string]string{"host": "x"}}, {Schema: ptr(int32(-5))}, {IdleTimeout: -1}} {
		if _, err := New(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestRunningTotalsAndIdle: counters accumulate, are repeated while idle
// and forgotten after IdleTimeout, then restart from zero.
func TestRunningTotalsAndIdle(t *testing.T) {
	c, err := New(Options{IdleTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	snap := func(i int, series ...aggregate.Series) *aggregate.Snapshot {
		return &aggregate.Snapshot{Time: t0.Add(time.Duration(i) * 10 * time.Second), Series: series}
	}
	ctr := func(v float64) aggregate.Series { return aggregate.Series{Name: "c", Type: protocol.Counter, Value: v} }
	g := aggregate.Series{Name: "g", Type: protocol.Gauge, Value: 5}
	steps := []struct {
		snap *aggregate.Snapshot
		want []Series
	}{
		{snap(0, ctr(2), g), []Series{{Name: "c_total", Kind: Counter, Value: 2}, {Name: "g", Kind: Gauge, Value: 5}}},
		{snap(1, ctr(3)), []Series{{Name: "c_total", Kind: Counter, Value: 5}}},
		{snap(2), []Series{{Name: "c_total", Kind: Counter, Value: 5}}},
		{snap(3), []Series{{Name: "c_total", Kind: Counter, Value: 5}}},
		{snap(4), nil}, // idle for 30s: forgotten
		{snap(5, ctr(1)), []Series{{Name: "c_total", Kind: Counter, Value: 1}}},
	}
	for i, s := range steps {
		got := c.Convert(s.snap)
		if diff := cmp.Diff(s.want, got.Series, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("step %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestHistogramWeightsAndPercentiles(t *testing.T) {
	c, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Three values sampled at rate 0.5: Count 6, N 3, Sum 6 unscaled.
	d := &aggregate.DistStats{Count: 6, N: 3, Sum: 6, Percentiles: []aggregate.PercentileStats{{Threshold: 99.5, Bound: 3}, {Threshold: -10, Bound: 1}}}
	r := c.Convert(&aggregate.Snapshot{Time: time.Unix(1, 0), Series: []aggregate.Series{{Name: "t", Type: protocol.Timer, Dist: d}}})
	want := []Series{
		{Name: "t", Kind: Histogram, Count: 6, Sum: 12},
		{Name: "t_quantile", Labels: []Label{{"quantile", "0.995"}}, Kind: Gauge, Value: 3},
	}
	if diff := cmp.Diff(want, r.Series, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if r.NoSketch != 1 {
		t.Errorf("NoSketch = %d", r.NoSketch)
	}
}

func tags(kv ...string) []protocol.Tag {
	var out []protocol.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, protocol.Tag{Key: kv[i], Value: kv[i+1]})
	}
	return out
}

// TestClassicNamesClaimed: a gauge that would hit a timer's classic
// lat_count series is dropped, in the snapshot and while the timer is idle.
func TestClassicNamesClaimed(t *testing.T) {
	c, err := New(Options{NoPercentiles: true})
	if err != nil {
		t.Fatal(err)
	}
	d := &aggregate.DistStats{Count: 1, N: 1, Sum: 1}
	tm := aggregate.Series{Name: "lat", Type: protocol.Timer, Dist: d}
	g := aggregate.Series{Name: "lat.count", Type: protocol.Gauge, Value: 3}
	r := c.Convert(&aggregate.Snapshot{Time: time.Unix(10, 0), Series: []aggregate.Series{tm, g}})
	if r.Duplicates != 1 || len(r.Series) != 1 || r.Series[0].Name != "lat" {
		t.Fatalf("flush 1: %+v", r)
	}
	// The timer is idle and repeated; the gauge comes first now and wins.
	r = c.Convert(&aggregate.Snapshot{Time: time.Unix(20, 0), Series: []aggregate.Series{g}})
	if r.Duplicates != 1 || len(r.Series) != 1 || r.Series[0].Name != "lat_count" {
		t.Fatalf("flush 2: %+v", r)
	}
}

// TestTimersInSeconds: timers (only) are converted from ms to seconds in
// buckets, sum and percentile gauges.
func TestTimersInSeconds(t *testing.T) {
	c, err := New(Options{TimersInSeconds: true})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(typ protocol.Type, name string) aggregate.Series {
		sk, _ := ddsketch.LogUnboundedDenseDDSketch(aggregate.SketchAccuracy)
		sk.Add(1000)
		sk.Add(2000)
		return aggregate.Series{Name: name, Type: typ, Dist: &aggregate.DistStats{Count: 2, N: 2, Sum: 3000, Sketch: sk,
			Percentiles: []aggregate.PercentileStats{{Threshold: 90, Bound: 2000}}}}
	}
	r := c.Convert(&aggregate.Snapshot{Time: time.Unix(1, 0), Series: []aggregate.Series{mk(protocol.Histogram, "h"), mk(protocol.Timer, "t")}})
	byName := map[string]Series{}
	for _, s := range r.Series {
		byName[s.Name] = s
	}
	for name, unit := range map[string]float64{"t": 0.001, "h": 1} {
		s := byName[name]
		if s.Sum != 3000*unit || byName[name+"_quantile"].Value != 2000*unit {
			t.Errorf("%s: sum %v, p90 %v", name, s.Sum, byName[name+"_quantile"].Value)
		}
		h := s.Hist
		lo := expohist.UpperBound(h.Positive.Offset-1, h.Schema)
		hi := expohist.UpperBound(h.Positive.Offset+int32(len(h.Positive.Counts))-1, h.Schema)
		if lo > 1000*unit*1.02 || hi < 2000*unit/1.02 || hi > 2000*unit*1.05 {
			t.Errorf("%s: buckets span (%v, %v], values %v and %v", name, lo, hi, 1000*unit, 2000*unit)
		}
	}
}
