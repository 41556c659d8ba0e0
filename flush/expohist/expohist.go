// Package expohist converts the mergeable sketches of aggregate.DistStats
// into exponential histograms: the bucket layout shared by Prometheus native
// (sparse) histograms and OpenTelemetry ExponentialHistogram data points.
//
// It sits between the snapshot and the fleet-scale backends
// (flush/remotewrite, flush/otlp, flush/promexport): they call FromSketch
// for an interval's sketch and keep an Accumulator per series when they
// export cumulative histograms. Nothing here is safe for concurrent use;
// each backend owns its values.
//
// # Layout
//
// A histogram of schema (OpenTelemetry: scale) s has base 2^(2^-s). In the
// Prometheus convention used throughout this package, positive bucket i
// holds the values v with base^(i-1) < v <= base^i, negative bucket i the
// values with base^(i-1) < -v <= base^i, and the zero bucket the values
// with |v| <= ZeroThreshold. OpenTelemetry numbers buckets one lower (its
// bucket i holds (base^i, base^(i+1)]): use Buckets.OTLPOffset.
//
// # Error bound
//
// Each bin of the DDSketch (relative accuracy a = aggregate.SketchAccuracy,
// 1%) is represented by its value r, which is within a relative a of every
// value v the bin holds; the whole bin is put in the bucket that contains
// r. A quantile read from the histogram by interpolating inside a bucket,
// as Prometheus' histogram_quantile and OpenTelemetry consumers do, lies in
// r's bucket, so it is within a factor base of r, and the combined
// relative error is at most (1+a)*base - 1: 3.2% at schema 5, 2.1% at
// schema 6 (the default), 1.3% at schema 8. Bucket counts, the total count
// and sum are exact (up to the rounding of weighted counts, see
// FromSketch).
//
// # Merging
//
// Sketches of one mapping merge exactly: the bins add. So do these
// histograms of one schema: the buckets add. Summing the histograms of N
// agents (sum(rate(x[5m])) in PromQL, a collector's aggregation) gives the
// very histogram one agent would have built from all the samples, and its
// quantiles carry the bound above, never the error of averaging per-host
// percentiles.
package expohist

import (
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// Schema limits: Prometheus accepts exponential schemas -4..8.
const (
	MinSchema     = -4
	MaxSchema     = 8
	DefaultSchema = 6
)

// ErrorBound returns the relative error bound of a quantile read from a
// histogram of the given schema built from a sketch of relative accuracy
// accuracy: (1+accuracy)*2^(2^-schema) - 1.
func ErrorBound(schema int32, accuracy float64) float64 {
	return (1+accuracy)*math.Exp2(math.Exp2(-float64(schema))) - 1
}

// Buckets are the buckets of one sign, dense: Counts[k] is the count of
// bucket Offset+k (Prometheus numbering). Counts has no leading or trailing
// zero; inner zeros are kept.
type Buckets struct {
	Offset int32
	Counts []float64
}

// OTLPOffset returns the offset of Counts[0] in OpenTelemetry numbering.
func (b Buckets) OTLPOffset() int32 { return b.Offset - 1 }

// Total returns the sum of the counts.
func (b Buckets) Total() float64 {
	var t float64
	for _, c := range b.Counts {
		t += c
	}
	return t
}

// Histogram is an exponential histogram with float counts (weighted by
// sample rates). Count is ZeroCount plus both buckets' totals.
type Histogram struct {
	Schema        int32
	ZeroThreshold float64
	ZeroCount     float64
	Count         float64
	Sum           float64
	Positive      Buckets
	Negative      Buckets
}

// Index returns the Prometheus bucket index of v > 0 at schema s: the i
// with base^(i-1) < v <= base^i.
func Index(v float64, schema int32) int32 {
	frac, exp := math.Frexp(v) // v = frac * 2^exp, frac in [0.5, 1)
	if frac == 0.5 {
		exp-- // v = 2^exp exactly: the upper bound of a bucket
		if schema > 0 {
			return int32(exp) << schema
		}
	}
	if schema <= 0 {
		// v is in (2^(exp-1), 2^exp]; a bucket spans 2^-schema octaves,
		// so the bucket is ceil(exp / 2^-schema).
		div := 1 << -schema
		q := exp / div // truncation: ceil for negative exp
		if exp%div != 0 && exp > 0 {
			q++
		}
		return int32(q)
	}
	scale := math.Exp2(float64(schema))
	i := int32(math.Ceil(math.Log2(v) * scale))
	// Correct the floating-point rounding of Log2 near bucket bounds.
	for range 2 {
		switch {
		case v <= bound(i-1, scale):
			i--
		case v > bound(i, scale):
			i++
		}
	}
	return i
}

// bound returns base^i, the upper bound of bucket i.
func bound(i int32, scale float64) float64 { return math.Exp2(float64(i) / scale) }

// UpperBound returns the upper bound of bucket i at schema s (base^i).
func UpperBound(i, schema int32) float64 { return bound(i, math.Exp2(float64(schema))) }

// FromSketch returns the histogram of a DDSketch at the given schema. Every
// bin count is multiplied by weight (DistStats.Count / DistStats.N when
// sample rates were used, else 1), so Count is the weighted count; sum is
// stored as given. The zero bucket holds the sketch's zero count, with the
// sketch's smallest indexable value as threshold. A nil sketch gives an
// empty histogram.
func FromSketch(sk *ddsketch.DDSketch, schema int32, weight, sum float64) (Histogram, error) {
	h := Histogram{Schema: schema, Sum: sum}
	if schema < MinSchema || schema > MaxSchema {
		return h, fmt.Errorf("expohist: schema %d out of range [%d, %d]", schema, MinSchema, MaxSchema)
	}
	if sk == nil {
		return h, nil
	}
	m := sk.IndexMapping
	h.ZeroThreshold = m.MinIndexableValue()
	h.ZeroCount = sk.GetZeroCount() * weight
	var pos, neg dense
	pos.addStore(sk.GetPositiveValueStore(), m, schema, weight, 1)
	neg.addStore(sk.GetNegativeValueStore(), m, schema, weight, 1)
	h.Positive, h.Negative = pos.buckets(), neg.buckets()
	h.Count = h.ZeroCount + h.Positive.Total() + h.Negative.Total()
	return h, nil
}

// dense collects bucket counts by index.
type dense struct {
	off    int32
	counts []float64
}

// addStore adds the bins of a sketch store, each at the bucket of its
// representative value, times weight.
// It returns the weighted count added.
func (d *dense) addStore(st store.Store, m mapping.IndexMapping, schema int32, weight, unit float64) float64 {
	lo, err1 := st.MinIndex()
	hi, err2 := st.MaxIndex()
	if err1 != nil || err2 != nil {
		return 0 // empty
	}
	d.reserve(Index(m.Value(lo)*unit, schema), Index(m.Value(hi)*unit, schema))
	var total float64
	st.ForEach(func(index int, count float64) bool {
		d.add(Index(m.Value(index)*unit, schema), count*weight)
		total += count * weight
		return false
	})
	return total
}

// reserve makes room for the indexes lo..hi in one allocation.
func (d *dense) reserve(lo, hi int32) {
	if len(d.counts) == 0 {
		d.off = lo
		d.counts = make([]float64, 1, hi-lo+1)
		return
	}
	if lo < d.off || hi >= d.off+int32(len(d.counts)) {
		nlo, nhi := min(lo, d.off), max(hi, d.off+int32(len(d.counts))-1)
		n := make([]float64, d.off-nlo+int32(len(d.counts)), nhi-nlo+1)
		copy(n[d.off-nlo:], d.counts)
		d.counts, d.off = n, nlo
	}
}

func (d *dense) add(i int32, c float64) {
	if c == 0 {
		return
	}
	if len(d.counts) == 0 {
		d.off = i
		d.counts = append(d.counts, c)
		return
	}
	if i < d.off {
		grow := int(d.off - i)
		n := make([]float64, grow+len(d.counts))
		copy(n[grow:], d.counts)
		d.counts, d.off = n, i
	}
	k := int(i - d.off)
	for k >= len(d.counts) {
		d.counts = append(d.counts, 0)
	}
	d.counts[k] += c
}

// addAll adds dense buckets.
func (d *dense) addAll(b Buckets) {
	if len(b.Counts) == 0 {
		return
	}
	d.reserve(b.Offset, b.Offset+int32(len(b.Counts))-1)
	for k, c := range b.Counts {
		d.add(b.Offset+int32(k), c)
	}
}

func (d *dense) buckets() Buckets {
	c := d.counts
	off := d.off
	for len(c) > 0 && c[0] == 0 {
		c, off = c[1:], off+1
	}
	for len(c) > 0 && c[len(c)-1] == 0 {
		c = c[:len(c)-1]
	}
	if len(c) == 0 {
		return Buckets{}
	}
	return Buckets{Offset: off, Counts: c}
}

// Accumulator sums histograms of one schema over time: the cumulative
// histogram of a series since the agent started. The zero value is ready.
type Accumulator struct {
	h          Histogram
	pos, neg   dense
	zeroThresh float64
	started    bool
}

// Add adds h to the running total. Histograms of another schema than the
// first one added are an error.
func (a *Accumulator) Add(h Histogram) error {
	if !a.started {
		a.started = true
		a.h.Schema = h.Schema
	} else if h.Schema != a.h.Schema {
		return fmt.Errorf("expohist: schema %d differs from the accumulated %d", h.Schema, a.h.Schema)
	}
	a.zeroThresh = max(a.zeroThresh, h.ZeroThreshold)
	a.h.ZeroCount += h.ZeroCount
	a.h.Count += h.Count
	a.h.Sum += h.Sum
	a.pos.addAll(h.Positive)
	a.neg.addAll(h.Negative)
	return nil
}

// AddSketch adds a sketch as FromSketch would convert it at schema, without
// building the intermediate histogram. The first call sets the schema.
func (a *Accumulator) AddSketch(sk *ddsketch.DDSketch, schema int32, weight, sum float64) error {
	return a.AddSketchUnit(sk, schema, weight, sum, 1)
}

// AddSketchUnit is AddSketch with every value of the sketch multiplied by
// unit > 0 (0.001 turns milliseconds into seconds); sum is taken as given.
func (a *Accumulator) AddSketchUnit(sk *ddsketch.DDSketch, schema int32, weight, sum, unit float64) error {
	if !(unit > 0) {
		return fmt.Errorf("expohist: unit %v <= 0", unit)
	}
	if schema < MinSchema || schema > MaxSchema {
		return fmt.Errorf("expohist: schema %d out of range [%d, %d]", schema, MinSchema, MaxSchema)
	}
	if !a.started {
		a.started = true
		a.h.Schema = schema
	} else if schema != a.h.Schema {
		return fmt.Errorf("expohist: schema %d differs from the accumulated %d", schema, a.h.Schema)
	}
	a.h.Sum += sum
	if sk == nil {
		return nil
	}
	m := sk.IndexMapping
	a.zeroThresh = max(a.zeroThresh, m.MinIndexableValue()*unit)
	z := sk.GetZeroCount() * weight
	a.h.ZeroCount += z
	a.h.Count += z
	a.h.Count += a.pos.addStore(sk.GetPositiveValueStore(), m, schema, weight, unit)
	a.h.Count += a.neg.addStore(sk.GetNegativeValueStore(), m, schema, weight, unit)
	return nil
}

// Histogram returns the running total. It shares memory with a: it is
// valid until the next Add.
func (a *Accumulator) Histogram() Histogram {
	h := a.h
	h.ZeroThreshold = a.zeroThresh
	h.Positive, h.Negative = a.pos.buckets(), a.neg.buckets()
	return h
}

// RoundCounts returns counts rounded to integers, as native histograms
// and OTLP carry them: each bucket is rounded to nearest, so a cumulative
// bucket never decreases when its float count grows. Weighted counts
// (sample rates) lose their fraction; unweighted ones are exact.
func RoundCounts(c []float64) []uint64 {
	out := make([]uint64, len(c))
	for i, v := range c {
		out[i] = uint64(math.Round(v))
	}
	return out
}

// IntCount returns the integer total count of h consistent with
// RoundCounts: the rounded zero count plus the rounded buckets.
func IntCount(h Histogram) uint64 {
	n := uint64(math.Round(h.ZeroCount))
	for _, v := range h.Positive.Counts {
		n += uint64(math.Round(v))
	}
	for _, v := range h.Negative.Counts {
		n += uint64(math.Round(v))
	}
	return n
}

// Span is a run of consecutive buckets in the sparse encoding of
// Prometheus native histograms: the first span's Offset is the index of
// its first bucket, every later one's the gap after the previous span.
type Span struct {
	Offset int32
	Length uint32
}

// Spans encodes dense buckets as native histogram spans and count deltas
// (each bucket's rounded count minus the previous bucket's).
// Runs of more than two empty buckets end a span; shorter runs are
// encoded as zero counts, as Prometheus' own encoder does.
func Spans(b Buckets) ([]Span, []int64) {
	c := b.Counts // rounded as read: r(c[i])
	r := func(v float64) int64 { return int64(math.Round(v)) }
	var (
		out    []Span
		deltas []int64
		prev   int64
		next   int32 // index after the previous span
	)
	for k := 0; k < len(c); {
		if r(c[k]) == 0 {
			k++
			continue
		}
		start, end := k, k+1
		for j := k + 1; j < len(c); {
			if r(c[j]) != 0 {
				end, j = j+1, j+1
				continue
			}
			z := j
			for z < len(c) && r(c[z]) == 0 {
				z++
			}
			if z == len(c) || z-j > 2 {
				break
			}
			end, j = z+1, z+1
		}
		idx := b.Offset + int32(start)
		off := idx
		if len(out) > 0 {
			off = idx - next
		}
		out = append(out, Span{Offset: off, Length: uint32(end - start)})
		for i := start; i < end; i++ {
			v := r(c[i])
			deltas = append(deltas, v-prev)
			prev = v
		}
		next = b.Offset + int32(end)
		k = end
	}
	return out, deltas
}
