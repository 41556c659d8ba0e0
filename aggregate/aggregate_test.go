package aggregate

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var t0 = time.Unix(1763769600, 0)

func sample(name string, typ protocol.Type, v float64) protocol.Sample {
	return protocol.Sample{Name: []byte(name), Type: typ, Value: v, SampleRate: 1}
}

func add(sh *Shard, samples ...protocol.Sample) {
	sh.AddSamples(samples)
}

func find(t *testing.T, s *Snapshot, name string, typ protocol.Type) Series {
	t.Helper()
	for _, x := range s.Series {
		if x.Name == name && x.Type == typ {
			return x
		}
	}
	t.Fatalf("series %s (%v) not in snapshot %+v", name, typ, s.Series)
	return Series{}
}

func valuesMap(s Series) map[string]float64 {
	m := map[string]float64{}
	for _, v := range s.Values() {
		m[v.Key] = v.Value
	}
	return m
}

// The spec's [run] example R3.7: one datagram t:1..10|ms, thresholds
// [90, -10, 99.9], 2 s flush.
func TestTimerReferenceExample(t *testing.T) {
	a := New(Config{Interval: 2 * time.Second, Percentiles: []float64{90, -10, 99.9}})
	sh := a.NewShard()
	for i := 1; i <= 10; i++ {
		add(sh, sample("t", protocol.Timer, float64(i)))
	}
	got := valuesMap(find(t, a.Flush(t0), "t", protocol.Timer))
	want := map[string]float64{
		"count": 10, "count_ps": 5, "sum": 55, "sum_squares": 385, "mean": 5.5, "median": 5.5,
		"upper": 10, "lower": 1, "std": 2.8722813232690143,
		"count_90": 9, "upper_90": 9, "sum_90": 45, "mean_90": 5, "sum_squares_90": 285,
		"count_top10": 1, "lower_top10": 10, "sum_top10": 10, "mean_top10": 10, "sum_squares_top10": 100,
		"count_99_9": 10, "upper_99_9": 10, "sum_99_9": 55, "mean_99_9": 5.5, "sum_squares_99_9": 385,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("timer stats (-want +got):\n%s", d)
	}
}

// R2.5 / R3.7: glork:320|ms|@0.1, thresholds [90,-10,99.9], 2 s flush.
func TestTimerSampleRate(t *testing.T) {
	a := New(Config{Interval: 2 * time.Second, Percentiles: []float64{90, -10, 99.9}})
	sh := a.NewShard()
	s := sample("glork", protocol.Timer, 320)
	s.SampleRate = 0.1
	add(sh, s)
	got := valuesMap(find(t, a.Flush(t0), "glork", protocol.Timer))
	want := map[string]float64{
		"count_90": 1, "mean_90": 320, "upper_90": 320, "sum_90": 320, "sum_squares_90": 102400,
		"count_top10": 1, "lower_top10": 320, "mean_top10": 320, "sum_top10": 320, "sum_squares_top10": 102400,
		"count_99_9": 1, "mean_99_9": 320, "upper_99_9": 320, "sum_99_9": 320, "sum_squares_99_9": 102400,
		"std": 0, "upper": 320, "lower": 320, "count": 10, "count_ps": 5, "sum": 320,
		"sum_squares": 102400, "mean": 320, "median": 320,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("timer stats (-want +got):\n%s", d)
	}
}

// R3.1/R3.2: gorets:1|c + gorets:1|c|@0.1 in one 2 s interval -> count 11, rate 5.5.
func TestCounter(t *testing.T) {
	a := New(Config{Interval: 2 * time.Second})
	sh := a.NewShard()
	s := sample("gorets", protocol.Counter, 1)
	add(sh, s)
	s.SampleRate = 0.1
	add(sh, s)
	add(sh, sample("neg", protocol.Counter, -3), sample("fl", protocol.Counter, 1.5))
	snap := a.Flush(t0)
	for _, c := range []struct {
		name        string
		count, rate float64
	}{{"gorets", 11, 5.5}, {"neg", -3, -1.5}, {"fl", 1.5, 0.75}} {
		got := find(t, snap, c.name, protocol.Counter)
		if got.Value != c.count || got.Rate != c.rate {
			t.Errorf("%s: count %v rate %v, want %v %v", c.name, got.Value, got.Rate, c.count, c.rate)
		}
	}
	// Default idle policy: nothing emitted for an idle counter.
	if n := len(a.Flush(t0.Add(2 * time.Second)).Series); n != 0 {
		t.Errorf("idle flush emitted %d series, want 0", n)
	}
}

func TestGaugeDeltas(t *testing.T) {
	a := New(Config{})
	sh := a.NewShard()
	delta := func(name string, v float64) protocol.Sample {
		s := sample(name, protocol.Gauge, v)
		s.Delta = true
		return s
	}
	add(sh, sample("g1", protocol.Gauge, 333), sample("gz", protocol.Gauge, 0), sample("g3", protocol.Gauge, 0), delta("g3", -7), delta("g2", -5))
	snap := a.Flush(t0)
	for name, want := range map[string]float64{"g1": 333, "gz": 0, "g3": -7, "g2": -5} {
		if got := find(t, snap, name, protocol.Gauge).Value; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	add(sh, delta("g1", -10), delta("g1", 4), delta("gz", 5), delta("g2", -5))
	snap = a.Flush(t0.Add(10 * time.Second))
	for name, want := range map[string]float64{"g1": 327, "gz": 5, "g3": -7, "g2": -10} {
		if got := find(t, snap, name, protocol.Gauge).Value; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// A set and deltas for one gauge arriving through different shards apply in
// arrival order.
func TestGaugeOrderAcrossShards(t *testing.T) {
	a := New(Config{})
	s1, s2, s3 := a.NewShard(), a.NewShard(), a.NewShard()
	d := sample("g", protocol.Gauge, 1)
	d.Delta = true
	add(s1, d)                                // +1 before the set: overridden
	add(s2, sample("g", protocol.Gauge, 100)) // set
	add(s1, d)                                // +1 after the set
	add(s3, d)                                // +1 after the set
	add(s2, d)                                // +1 after the set
	if got := find(t, a.Flush(t0), "g", protocol.Gauge).Value; got != 103 {
		t.Errorf("gauge = %v, want 103", got)
	}
}

func TestGaugeTTL(t *testing.T) {
	a := New(Config{GaugeTTL: 30 * time.Second})
	sh := a.NewShard()
	add(sh, sample("g", protocol.Gauge, 5))
	for i := 0; i < 3; i++ {
		now := t0.Add(time.Duration(i) * 10 * time.Second)
		if got := find(t, a.Flush(now), "g", protocol.Gauge).Value; got != 5 {
			t.Fatalf("flush %d: gauge %v, want 5 (kept across intervals)", i, got)
		}
	}
	if n := len(a.Flush(t0.Add(30 * time.Second)).Series); n != 0 {
		t.Errorf("gauge still emitted after its TTL")
	}
}

func TestSet(t *testing.T) {
	a := New(Config{})
	s1, s2 := a.NewShard(), a.NewShard()
	mem := func(m string) protocol.Sample {
		s := sample("uniques", protocol.Set, 0)
		s.SetMember = []byte(m)
		return s
	}
	add(s1, mem("765"), mem("765"))
	add(s2, mem("766"), mem("765"))
	if got := find(t, a.Flush(t0), "uniques", protocol.Set).Value; got != 2 {
		t.Errorf("set count %v, want 2", got)
	}
}

func TestIdleZero(t *testing.T) {
	a := New(Config{Idle: IdleZero, IdleTTL: 15 * time.Second})
	sh := a.NewShard()
	add(sh, sample("c", protocol.Counter, 1), sample("t", protocol.Timer, 3))
	a.Flush(t0)
	snap := a.Flush(t0.Add(10 * time.Second))
	if got := find(t, snap, "c", protocol.Counter); got.Value != 0 || got.Rate != 0 {
		t.Errorf("idle counter %+v, want zeros", got)
	}
	if got := valuesMap(find(t, snap, "t", protocol.Timer)); !cmp.Equal(got, map[string]float64{"count": 0, "count_ps": 0}) {
		t.Errorf("idle timer %v, want only count 0 and count_ps 0 (R3.8)", got)
	}
	if n := len(a.Flush(t0.Add(20 * time.Second)).Series); n != 0 {
		t.Errorf("series emitted after IdleTTL: %d", n)
	}
}

func TestTagsAndIdentity(t *testing.T) {
	a := New(Config{})
	sh := a.NewShard()
	s := sample("req.time", protocol.Timer, 5)
	s.Tags = []byte("a:1,b:2")
	add(sh, s)
	s.Value = 7
	add(sh, s)
	s.Tags = []byte("novalue")
	add(sh, s)
	snap := a.Flush(t0)
	if len(snap.Series) != 2 {
		t.Fatalf("got %d series, want 2", len(snap.Series))
	}
	want := []protocol.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}
	if !cmp.Equal(snap.Series[0].Tags, want) || snap.Series[0].Dist.N != 2 {
		t.Errorf("series 0 = %+v", snap.Series[0])
	}
	if !cmp.Equal(snap.Series[1].Tags, []protocol.Tag{{Key: "novalue"}}) {
		t.Errorf("series 1 tags = %+v", snap.Series[1].Tags)
	}
}

func TestEventsPassThrough(t *testing.T) {
	a := New(Config{})
	sh := a.NewShard()
	sh.Lock()
	sh.AddEvent(&protocol.Event{Title: "deploy"})
	sh.AddServiceCheck(&protocol.ServiceCheck{Name: "db", Status: 2})
	sh.Unlock()
	snap := a.Flush(t0)
	if len(snap.Events) != 1 || snap.Events[0].Title != "deploy" || len(snap.ServiceChecks) != 1 {
		t.Errorf("events %+v checks %+v", snap.Events, snap.ServiceChecks)
	}
	if snap = a.Flush(t0.Add(time.Second)); len(snap.Events) != 0 {
		t.Errorf("event repeated in next flush")
	}
}

// Past MaxValues the percentiles come from the sketch: within 1% of the
// exact values, and count/sum/lower/upper stay exact.
func TestApproximateBeyondBound(t *testing.T) {
	pcts := []float64{50, 90, 99, -10}
	exact := New(Config{Percentiles: pcts, MaxValues: 1 << 20})
	approx := New(Config{Percentiles: pcts, MaxValues: 1000})
	se, sa1, sa2 := exact.NewShard(), approx.NewShard(), approx.NewShard()
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20000; i++ {
		s := sample("lat", protocol.Timer, math.Round(r.ExpFloat64()*100*1000)/1000+1)
		add(se, s)
		if i%2 == 0 {
			add(sa1, s)
		} else {
			add(sa2, s)
		}
	}
	e := find(t, exact.Flush(t0), "lat", protocol.Timer).Dist
	g := find(t, approx.Flush(t0), "lat", protocol.Timer).Dist
	if e.Approximate || !g.Approximate {
		t.Fatalf("Approximate flags: exact %v approx %v", e.Approximate, g.Approximate)
	}
	if g.Count != e.Count || g.N != e.N || g.Lower != e.Lower || g.Upper != e.Upper {
		t.Errorf("exact fields differ: %+v vs %+v", g, e)
	}
	near := func(what string, got, want, tol float64) {
		if math.Abs(got-want) > tol*math.Abs(want) {
			t.Errorf("%s = %v, want %v within %v", what, got, want, tol)
		}
	}
	near("sum", g.Sum, e.Sum, 1e-9)
	near("std", g.Std, e.Std, 1e-6)
	near("median", g.Median, e.Median, 0.02)
	for i := range e.Percentiles {
		ep, gp := e.Percentiles[i], g.Percentiles[i]
		if ep.Count != gp.Count {
			t.Errorf("p%v count %v want %v", ep.Threshold, gp.Count, ep.Count)
		}
		near("bound", gp.Bound, ep.Bound, 0.02)
		near("sum_P", gp.Sum, ep.Sum, 0.02)
		near("mean_P", gp.Mean, ep.Mean, 0.02)
	}
}

func TestSuffix(t *testing.T) {
	for in, want := range map[float64]string{90: "90", 99.9: "99_9", -10: "top10", 99.99: "99_99", -0.5: "top0_5"} {
		if got := Suffix(in); got != want {
			t.Errorf("Suffix(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestSeriesSorted(t *testing.T) {
	a := New(Config{})
	sh := a.NewShard()
	for _, n := range []string{"c", "a", "b"} {
		add(sh, sample(n, protocol.Counter, 1))
	}
	snap := a.Flush(t0)
	var names []string
	for _, s := range snap.Series {
		names = append(names, s.Name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("series not sorted: %v", names)
	}
}

func TestAddAllocatesNothingForKnownSeries(t *testing.T) {
	a := New(Config{})
	sh := a.NewShard()
	samples := []protocol.Sample{
		sample("api.requests", protocol.Counter, 1),
		sample("api.latency", protocol.Timer, 12.5),
		sample("queue.depth", protocol.Gauge, 7),
	}
	samples[0].Tags = []byte("env:prod,region:eu")
	sh.AddSamples(samples) // create the series
	allocs := testing.AllocsPerRun(1000, func() {
		sh.Lock()
		sh.Add(&samples[0])
		sh.Add(&samples[2])
		sh.Unlock()
	})
	if allocs != 0 {
		t.Errorf("Add allocated %v times per run, want 0", allocs)
	}
}

func TestSketches(t *testing.T) {
	for _, maxValues := range []int{0, 100} { // exact and approximate paths
		a := New(Config{Sketches: true, MaxValues: maxValues})
		sh := a.NewShard()
		for i := 1; i <= 1000; i++ {
			add(sh, sample("t", protocol.Timer, float64(i)))
		}
		d := find(t, a.Flush(t0), "t", protocol.Timer).Dist
		if d.Sketch == nil || d.Sketch.GetCount() != 1000 {
			t.Fatalf("maxValues %d: sketch %v", maxValues, d.Sketch)
		}
		q, _ := d.Sketch.GetValueAtQuantile(0.9)
		if math.Abs(q-900) > 0.01*900+1 {
			t.Errorf("maxValues %d: p90 from sketch %v, want ~900", maxValues, q)
		}
		// The snapshot's sketch survives the next interval's reuse of entries.
		add(sh, sample("t", protocol.Timer, 5))
		a.Flush(t0.Add(time.Second))
		if d.Sketch.GetCount() != 1000 {
			t.Errorf("maxValues %d: sketch changed after the next flush", maxValues)
		}
	}
	if d := find(t, func() *Snapshot {
		a := New(Config{})
		add(a.NewShard(), sample("t", protocol.Timer, 1))
		return a.Flush(t0)
	}(), "t", protocol.Timer).Dist; d.Sketch != nil {
		t.Error("sketch built without Config.Sketches")
	}
}

// A high-cardinality flood: the budget holds and totals stay right through
// the overflow series.
func TestCardinalityBudget(t *testing.T) {
	a := New(Config{MaxSeries: 100, MaxSeriesPerName: 10})
	s1, s2 := a.NewShard(), a.NewShard()
	total := 0.0
	for i := 0; i < 5000; i++ {
		s := sample(fmt.Sprintf("flood.%d", i%500), protocol.Counter, 1)
		s.Tags = []byte(fmt.Sprintf("user:%d", i))
		if i%2 == 0 {
			add(s1, s)
		} else {
			add(s2, s)
		}
		total++
	}
	add(s1, sample("known", protocol.Counter, 7))
	total += 7
	snap := a.Flush(t0)
	if len(snap.Series) > 100 {
		t.Errorf("%d series, budget 100", len(snap.Series))
	}
	var sum float64
	var overflow *Series
	for i := range snap.Series {
		sum += snap.Series[i].Value
		if snap.Series[i].Name == OverflowName {
			overflow = &snap.Series[i]
		}
	}
	if sum != total {
		t.Errorf("total through the budget %v, want %v", sum, total)
	}
	if overflow == nil || overflow.Type != protocol.Counter || overflow.Tags != nil {
		t.Fatalf("no untagged overflow counter: %+v", overflow)
	}
	last, all := a.Overflow()
	if last.Samples == 0 || last.Series == 0 || all.Series < last.Series || len(last.TopNames(3)) != 3 {
		t.Errorf("overflow stats %+v / %+v", last, all)
	}
	// Per name: one name with 50 tag values keeps at most 10 per shard.
	b := New(Config{MaxSeriesPerName: 10})
	sh := b.NewShard()
	for i := 0; i < 50; i++ {
		s := sample("one.name", protocol.Timer, float64(i))
		s.Tags = []byte(fmt.Sprintf("id:%d", i))
		add(sh, s)
	}
	snap = b.Flush(t0)
	n := 0
	var values int
	for _, s := range snap.Series {
		if s.Name == "one.name" {
			n++
		}
		values += s.Dist.N
	}
	if n != 10 || values != 50 {
		t.Errorf("%d one.name series (want 10), %d values (want 50)", n, values)
	}
	if top := func() []string { l, _ := b.Overflow(); return l.TopNames(1) }(); len(top) != 1 || top[0] != "one.name" {
		t.Errorf("top offender %v", top)
	}
}

// Idle series are evicted from the shards, so memory returns to its
// baseline when traffic stops.
func TestIdleEviction(t *testing.T) {
	a := New(Config{})
	sh := a.NewShard()
	for i := 0; i < 1000; i++ {
		add(sh, sample(fmt.Sprintf("s.%d", i), protocol.Counter, 1))
	}
	for i := 0; i < 5; i++ {
		a.Flush(t0.Add(time.Duration(i) * time.Second))
	}
	sh.Lock()
	n := len(sh.m) + len(sh.spare)
	sh.Unlock()
	if n != 0 {
		t.Errorf("%d entries left in the shard after 5 idle intervals", n)
	}
}

func TestStateRoundTrip(t *testing.T) {
	a := New(Config{})
	sh := a.NewShard()
	g := sample("temp", protocol.Gauge, 20)
	g.Tags = []byte("room:a,zone")
	add(sh, g, sample("plain", protocol.Gauge, -3))
	a.Flush(t0)
	b, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r := New(Config{})
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	// A delta after the restart applies to the restored value: the key
	// must match the one the shard builds.
	d := sample("temp", protocol.Gauge, 2)
	d.Tags, d.Delta = []byte("room:a,zone"), true
	add(r.NewShard(), d)
	snap := r.Flush(t0.Add(10 * time.Second))
	if len(snap.Series) != 2 {
		t.Fatalf("series %+v", snap.Series)
	}
	if v := find(t, snap, "temp", protocol.Gauge).Value; v != 22 {
		t.Errorf("temp = %v after restore and +2, want 22", v)
	}
	if v := find(t, snap, "plain", protocol.Gauge).Value; v != -3 {
		t.Errorf("plain = %v", v)
	}
	for _, bad := range []string{"", "{", `{"version":9}`} {
		if err := New(Config{}).UnmarshalState([]byte(bad)); err == nil {
			t.Errorf("state %q accepted", bad)
		}
	}
}

func TestClientTimestamps(t *testing.T) {
	a := New(Config{Interval: 10 * time.Second})
	sh := a.NewShard()
	ts := func(v float64, at time.Time) protocol.Sample {
		s := sample("page.views", protocol.Counter, v)
		s.Timestamp = at.Unix()
		return s
	}
	add(sh, ts(1, t0.Add(-time.Hour))) // before any flush: nothing is late yet
	a.Flush(t0)
	// Open interval: [t0, t0+10s). Lateness one interval: before t0-10s is late.
	add(sh, ts(10, t0.Add(-5*time.Second)), ts(100, t0.Add(-11*time.Second)), ts(1000, t0.Add(time.Hour)), sample("page.views", protocol.Counter, 10000))
	if got := find(t, a.Flush(t0.Add(10*time.Second)), "page.views", protocol.Counter).Value; got != 11010 {
		t.Errorf("count %v, want 11010 (the sample 11 s before the interval is late)", got)
	}
	if a.Late() != 1 {
		t.Errorf("late = %d, want 1", a.Late())
	}
	b := New(Config{Interval: 10 * time.Second, Lateness: -1})
	add(b.NewShard(), ts(1, t0))
	b.Flush(t0.Add(time.Hour))
	add(b.shards[0], ts(2, t0))
	if got := find(t, b.Flush(t0.Add(2*time.Hour)), "page.views", protocol.Counter).Value; got != 2 || b.Late() != 0 {
		t.Errorf("with no lateness limit: %v late %d", got, b.Late())
	}
}

func TestDelete(t *testing.T) {
	a := New(Config{Idle: IdleZero})
	sh := a.NewShard()
	add(sh, sample("api.temp", protocol.Gauge, 1), sample("api.hits", protocol.Counter, 1), sample("db.temp", protocol.Gauge, 2))
	a.Flush(t0)
	if n, err := a.Delete("api.*"); err != nil || n != 2 {
		t.Fatalf("Delete = %d, %v; want the api gauge and the idle api counter", n, err)
	}
	snap := a.Flush(t0.Add(10 * time.Second))
	if len(snap.Series) != 1 || snap.Series[0].Name != "db.temp" {
		t.Errorf("after delete: %+v", snap.Series)
	}
	if _, err := a.Delete("["); err == nil {
		t.Error("malformed pattern accepted")
	}
}
