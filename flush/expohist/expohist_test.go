package expohist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/google/go-cmp/cmp"
)

func TestIndex(t *testing.T) {
	tests := []struct {
		v      float64
		schema int32
		want   int32
	}{
		{1, 0, 0}, {2, 0, 1}, {1.5, 0, 1}, {0.5, 0, -1}, {0.75, 0, 0}, {4, 0, 2}, {3, 0, 2},
		{1, 3, 0}, {2, 3, 8}, {1.0001, 3, 1}, {0.5, 3, -8},
		{1, -1, 0}, {2, -1, 1}, {4, -1, 1}, {4.1, -1, 2}, {0.25, -1, -1}, {0.5, -1, 0}, {0.2, -1, -1},
		{16, -2, 1}, {17, -2, 2}, {1.0 / 16, -2, -1},
	}
	for _, tt := range tests {
		if got := Index(tt.v, tt.schema); got != tt.want {
			t.Errorf("Index(%v, %d) = %d, want %d", tt.v, tt.schema, got, tt.want)
		}
	}
}

// TestIndexBounds checks the defining property base^(i-1) < v <= base^i
// on random values at every schema.
func TestIndexBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for schema := int32(MinSchema); schema <= MaxSchema; schema++ {
		for range 2000 {
			v := math.Exp(r.NormFloat64() * 20)
			i := Index(v, schema)
			lo, hi := UpperBound(i-1, schema), UpperBound(i, schema)
			if !(lo < v && v <= hi) {
				t.Fatalf("schema %d: Index(%v) = %d, bucket (%v, %v]", schema, v, i, lo, hi)
			}
		}
		// Bucket bounds themselves belong to the bucket they end.
		for i := int32(-50); i <= 50; i++ {
			if got := Index(UpperBound(i, schema), schema); got != i {
				t.Fatalf("schema %d: Index(base^%d) = %d", schema, i, got)
			}
		}
	}
}

func newSketch(t testing.TB) *ddsketch.DDSketch {
	t.Helper()
	s, err := ddsketch.LogUnboundedDenseDDSketch(0.01)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// quantile reads a quantile from h the way Prometheus' histogram_quantile
// does for native histograms: find the bucket holding rank q*count, then
// interpolate linearly inside it. Positive values only.
func quantile(h Histogram, q float64) float64 {
	rank := q * h.Count
	seen := h.ZeroCount + h.Negative.Total()
	if rank <= seen {
		return 0
	}
	for k, c := range h.Positive.Counts {
		if seen+c >= rank {
			i := h.Positive.Offset + int32(k)
			lo, hi := UpperBound(i-1, h.Schema), UpperBound(i, h.Schema)
			return lo + (hi-lo)*(rank-seen)/c
		}
		seen += c
	}
	return math.Inf(1)
}

// exactQuantile is the nearest-rank quantile of sorted values.
func exactQuantile(sorted []float64, q float64) float64 {
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(k, 0)]
}

func TestFromSketchErrorBound(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vals := make([]float64, 20000)
	for i := range vals {
		vals[i] = math.Exp(r.NormFloat64()*1.5 + 3) // log-normal latencies, ms
	}
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	for schema := int32(0); schema <= MaxSchema; schema++ {
		sk := newSketch(t)
		for _, v := range vals {
			sk.Add(v)
		}
		h, err := FromSketch(sk, schema, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if h.Count != float64(len(vals)) || IntCount(h) != uint64(len(vals)) {
			t.Fatalf("schema %d: count %v / %d, want %d", schema, h.Count, IntCount(h), len(vals))
		}
		bound := ErrorBound(schema, 0.01)
		for _, q := range []float64{0.01, 0.1, 0.5, 0.9, 0.99, 0.999} {
			got, want := quantile(h, q), exactQuantile(sorted, q)
			if rel := math.Abs(got-want) / want; rel > bound {
				t.Errorf("schema %d q %v: %v, exact %v: relative error %.4f > bound %.4f", schema, q, got, want, rel, bound)
			}
		}
	}
}

func TestFromSketchSignsZeroWeight(t *testing.T) {
	sk := newSketch(t)
	for _, v := range []float64{0, 0, 1, 2, 2, -1, -4} {
		sk.Add(v)
	}
	h, err := FromSketch(sk, 0, 10, 42)
	if err != nil {
		t.Fatal(err)
	}
	// Sketch bin values are within 1% of 1, 2, 4, so at schema 0 they land
	// in buckets 0 (0.5,1] or 1 (1,2] etc. depending on the side: check
	// totals and that the buckets hold the right magnitudes.
	if h.ZeroCount != 20 || h.Count != 70 || h.Sum != 42 {
		t.Fatalf("zero %v count %v sum %v", h.ZeroCount, h.Count, h.Sum)
	}
	if h.Positive.Total() != 30 || h.Negative.Total() != 20 {
		t.Fatalf("positive %v negative %v", h.Positive, h.Negative)
	}
	if h.ZeroThreshold <= 0 || h.ZeroThreshold > 1e-300 {
		t.Fatalf("zero threshold %v", h.ZeroThreshold)
	}
	if _, err := FromSketch(sk, 9, 1, 0); err == nil {
		t.Fatal("schema 9 accepted")
	}
	if h, err := FromSketch(nil, 3, 1, 5); err != nil || h.Count != 0 || h.Sum != 5 || h.Schema != 3 {
		t.Fatalf("nil sketch: %+v, %v", h, err)
	}
}

// TestMergeEqualsWhole is the fleet property: the histograms (and the
// sketches) of agents that saw disjoint parts of a sample set add up to
// exactly what one agent that saw everything builds.
func TestMergeEqualsWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const agents = 4
	parts := make([]*ddsketch.DDSketch, agents)
	for i := range parts {
		parts[i] = newSketch(t)
	}
	whole := newSketch(t)
	var all []float64
	for range 10000 {
		v := math.Exp(r.NormFloat64()*2) * 100
		if r.IntN(10) == 0 {
			v = -v
		}
		all = append(all, v)
		whole.Add(v)
		parts[r.IntN(agents)].Add(v)
	}
	var acc Accumulator
	merged := parts[0].Copy()
	for i, p := range parts {
		h, err := FromSketch(p, DefaultSchema, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := acc.Add(h); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := merged.MergeWith(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	want, _ := FromSketch(whole, DefaultSchema, 1, 0)
	if diff := cmp.Diff(want, acc.Histogram()); diff != "" {
		t.Errorf("merged histograms differ from the whole set's (-whole +merged):\n%s", diff)
	}
	// The merged sketch answers every quantile exactly as the whole one,
	// and both are within the sketch's 1% of the exact percentile.
	slices.Sort(all)
	for _, q := range []float64{0.05, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999} {
		a, _ := merged.GetValueAtQuantile(q)
		b, _ := whole.GetValueAtQuantile(q)
		if a != b {
			t.Errorf("q %v: merged sketch %v, whole %v", q, a, b)
		}
		x := all[int(q*float64(len(all)-1))]
		if math.Abs(a-x) > 0.01*math.Abs(x)+1e-12 {
			t.Errorf("q %v: sketch %v, exact %v: beyond 1%%", q, a, x)
		}
	}
	if err := acc.Add(Histogram{Schema: 3}); err == nil {
		t.Error("schema mismatch accepted")
	}
}

func TestRoundCounts(t *testing.T) {
	if got := RoundCounts([]float64{0, 0.4, 0.5, 2.6, 7}); !slices.Equal(got, []uint64{0, 0, 1, 3, 7}) {
		t.Fatal(got)
	}
}

// TestAddSketchEqualsAdd: adding sketches directly gives the same running
// histogram as converting them first.
func TestAddSketchEqualsAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var a, b Accumulator
	for range 5 {
		sk := newSketch(t)
		for range 300 {
			v := r.NormFloat64() * 100
			if r.IntN(20) == 0 {
				v = 0
			}
			sk.Add(v)
		}
		h, err := FromSketch(sk, 5, 2, 7)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Add(h); err != nil {
			t.Fatal(err)
		}
		if err := b.AddSketch(sk, 5, 2, 7); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(a.Histogram(), b.Histogram()); diff != "" {
		t.Errorf("(-Add +AddSketch):\n%s", diff)
	}
	if err := b.AddSketch(nil, 6, 1, 0); err == nil {
		t.Error("schema change accepted")
	}
}
