package aggregate

import (
	"math"
	"slices"
	"sort"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// SketchAccuracy is the relative accuracy of the sketches: the one used for
// percentiles past Config.MaxValues and DistStats.Sketch.
const SketchAccuracy = 0.01

// entry is one series' state within one shard and interval. Only the fields
// of its type are used.
type entry struct {
	name string
	tags []protocol.Tag
	typ  protocol.Type

	// touched is set by every Add; an entry is reused across intervals
	// (keeping its allocated slices and maps) and dropped from its shard
	// after idleEvict untouched intervals.
	touched bool
	idle    int
	// hits counts the samples of the interval and age the intervals the
	// entry has lived: the merged budget keeps old and busy series first.
	hits uint64
	age  int

	// counter
	sum float64

	// gauge: the last plain value in this interval and the deltas after it,
	// each with its global arrival sequence number.
	hasSet bool
	setSeq uint64
	setVal float64
	deltas []seqDelta

	// timer, histogram, distribution
	count    float64 // Σ 1/rate
	n        int
	dsum     float64 // running sums in arrival order (used when approximate)
	dsumsq   float64
	lo, hi   float64
	values   []float64
	sketch   *ddsketch.DDSketch
	overflow bool // more than MaxValues values were seen in one shard

	// set
	members map[string]struct{}
}

type seqDelta struct {
	seq   uint64
	delta float64
}

func newEntry(sm *protocol.Sample) *entry {
	e := &entry{name: string(sm.Name), typ: sm.Type, tags: splitTags(sm.Tags)}
	if sm.Type == protocol.Set {
		e.members = make(map[string]struct{})
	}
	return e
}

// splitTags turns canonical tag bytes ("a:1,b,c:2") into tags. It allocates,
// once per new series.
func splitTags(b []byte) []protocol.Tag {
	if len(b) == 0 {
		return nil
	}
	var tags []protocol.Tag
	for len(b) > 0 {
		var t []byte
		if i := indexByte(b, ','); i >= 0 {
			t, b = b[:i], b[i+1:]
		} else {
			t, b = b, nil
		}
		if len(t) == 0 {
			continue
		}
		if i := indexByte(t, ':'); i >= 0 {
			tags = append(tags, protocol.Tag{Key: string(t[:i]), Value: string(t[i+1:])})
		} else {
			tags = append(tags, protocol.Tag{Key: string(t)})
		}
	}
	return tags
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func (e *entry) addValue(v, weight float64, maxValues int) {
	if e.n == 0 || v < e.lo {
		e.lo = v
	}
	if e.n == 0 || v > e.hi {
		e.hi = v
	}
	e.n++
	e.count += weight
	e.dsum += v
	e.dsumsq += v * v
	if !e.overflow && len(e.values) < maxValues {
		e.values = append(e.values, v)
		return
	}
	if !e.overflow {
		e.overflow = true
		e.sketch = newSketch()
		for _, x := range e.values {
			_ = e.sketch.Add(x)
		}
		e.values = e.values[:0]
	}
	_ = e.sketch.Add(v)
}

func newSketch() *ddsketch.DDSketch {
	s, err := ddsketch.LogUnboundedDenseDDSketch(SketchAccuracy)
	if err != nil {
		panic(err) // only for an invalid constant accuracy
	}
	return s
}

// idleEvict is the number of untouched intervals after which an entry is
// removed from its shard, returning its memory.
const idleEvict = 2

// reset clears the interval's data, keeping allocated memory for reuse.
func (e *entry) reset() {
	e.touched = false
	e.idle = 0
	e.hits = 0
	e.age++
	e.sum = 0
	e.hasSet, e.setSeq, e.setVal = false, 0, 0
	e.deltas = e.deltas[:0]
	e.count, e.n, e.dsum, e.dsumsq, e.lo, e.hi = 0, 0, 0, 0, 0, 0
	e.values = e.values[:0]
	if e.sketch != nil {
		e.sketch = nil
	}
	e.overflow = false
	if e.members != nil {
		clear(e.members)
	}
}

// merge folds another shard's entry for the same series into e.
func (e *entry) merge(o *entry) {
	e.hits += o.hits
	e.age = max(e.age, o.age)
	switch e.typ {
	case protocol.Counter:
		e.sum += o.sum
	case protocol.Gauge:
		e.touched = true
		e.deltas = append(e.deltas, o.deltas...)
		if o.hasSet && (!e.hasSet || o.setSeq > e.setSeq) {
			e.hasSet, e.setSeq, e.setVal = true, o.setSeq, o.setVal
		}
	case protocol.Set:
		for m := range o.members {
			e.members[m] = struct{}{}
		}
	default:
		if o.n == 0 {
			return
		}
		if e.n == 0 || o.lo < e.lo {
			e.lo = o.lo
		}
		if e.n == 0 || o.hi > e.hi {
			e.hi = o.hi
		}
		e.n += o.n
		e.count += o.count
		e.dsum += o.dsum
		e.dsumsq += o.dsumsq
		e.values = append(e.values, o.values...)
		if o.sketch != nil {
			if e.sketch == nil {
				e.sketch = newSketch()
			}
			_ = e.sketch.MergeWith(o.sketch)
			e.overflow = true
		}
	}
}

// mergeAny folds o into e like merge, for an overflow entry collecting
// entries of the same type: gauges take o's last value.
func (e *entry) mergeAny(o *entry) {
	if e.typ == protocol.Gauge {
		e.hasSet, e.setSeq, e.setVal = true, o.setSeq, o.gaugeValue(0)
		return
	}
	e.merge(o)
}

// gaugeValue applies the interval's sets and deltas, in arrival order, to
// the value carried from the previous interval.
func (e *entry) gaugeValue(prev float64) float64 {
	v := prev
	if e.hasSet {
		v = e.setVal
	}
	if len(e.deltas) == 0 {
		return v
	}
	sort.Slice(e.deltas, func(i, j int) bool { return e.deltas[i].seq < e.deltas[j].seq })
	for _, d := range e.deltas {
		if e.hasSet && d.seq < e.setSeq {
			continue
		}
		v += d.delta
	}
	return v
}

// distStats computes the reference server's timer statistics.
func (e *entry) distStats(percentiles []float64, seconds float64, scratch *[]float64, sketches bool) *DistStats {
	d := &DistStats{Count: e.count, CountPS: e.count / seconds, N: e.n}
	if e.n == 0 {
		return d
	}
	if e.overflow || e.sketch != nil {
		e.approxStats(d, percentiles)
		if sketches {
			d.Sketch = e.sketch // reset drops, never reuses, the entry's sketch
		}
		return d
	}
	if sketches {
		d.Sketch = newSketch()
		for _, v := range e.values {
			_ = d.Sketch.Add(v)
		}
	}
	exactStats(d, e.values, percentiles, scratch)
	return d
}

// jsRound is JavaScript's Math.round: halves round towards +Inf.
func jsRound(x float64) float64 { return math.Floor(x + 0.5) }

// exactStats follows statsd/statsd lib/process_metrics.js operation by
// operation, so that results match it to the last bit.
func exactStats(d *DistStats, values []float64, percentiles []float64, scratch *[]float64) {
	slices.Sort(values)
	count := len(values)
	if cap(*scratch) < 2*count {
		*scratch = make([]float64, 2*count)
	}
	cum := (*scratch)[:count]
	cumSq := (*scratch)[count : 2*count]
	cum[0], cumSq[0] = values[0], values[0]*values[0]
	for i := 1; i < count; i++ {
		cum[i] = values[i] + cum[i-1]
		cumSq[i] = values[i]*values[i] + cumSq[i-1]
	}
	for _, pct := range percentiles {
		num := count
		sum, sumSq, mean, bound := values[0], values[0]*values[0], values[0], values[count-1]
		if count > 1 {
			num = int(jsRound(math.Abs(pct) / 100 * float64(count)))
			if num == 0 {
				continue
			}
			if pct > 0 {
				bound = values[num-1]
				sum = cum[num-1]
				sumSq = cumSq[num-1]
			} else {
				bound = values[count-num]
				sum = cum[count-1]
				sumSq = cumSq[count-1]
				// The reference reads cum[-1] (undefined, so NaN) when the
				// threshold covers every value; we subtract nothing instead.
				if count-num-1 >= 0 {
					sum -= cum[count-num-1]
					sumSq -= cumSq[count-num-1]
				}
			}
			mean = sum / float64(num)
		}
		d.Percentiles = append(d.Percentiles, PercentileStats{
			Threshold: pct, Count: float64(num), Sum: sum, SumSquares: sumSq, Mean: mean, Bound: bound,
		})
	}
	d.Sum = cum[count-1]
	d.SumSquares = cumSq[count-1]
	d.Mean = d.Sum / float64(count)
	var diffs float64
	for _, v := range values {
		diffs += (v - d.Mean) * (v - d.Mean)
	}
	mid := count / 2
	if count%2 == 1 {
		d.Median = values[mid]
	} else {
		d.Median = (values[mid-1] + values[mid]) / 2
	}
	d.Lower, d.Upper = values[0], values[count-1]
	d.Std = math.Sqrt(diffs / float64(count))
}

// approxStats fills d from the running sums and the sketch: count, sum,
// sum_squares, mean, lower, upper and std are exact; median and percentile
// statistics carry the sketch's relative error.
func (e *entry) approxStats(d *DistStats, percentiles []float64) {
	d.Approximate = true
	if e.sketch == nil {
		e.sketch = newSketch()
	}
	sk := e.sketch
	for _, v := range e.values {
		_ = sk.Add(v)
	}
	n := float64(e.n)
	d.Sum, d.SumSquares = e.dsum, e.dsumsq
	d.Mean = e.dsum / n
	d.Lower, d.Upper = e.lo, e.hi
	d.Std = math.Sqrt(math.Max(0, e.dsumsq/n-d.Mean*d.Mean))

	type bin struct{ v, c float64 }
	var bins []bin
	sk.ForEach(func(v, c float64) bool {
		bins = append(bins, bin{v, c})
		return false
	})
	sort.Slice(bins, func(i, j int) bool { return bins[i].v < bins[j].v })
	clamp := func(v float64) float64 { return math.Min(math.Max(v, e.lo), e.hi) }
	// walk returns the sum and sum of squares of the lowest k values, and
	// the k-th value.
	walk := func(k float64) (sum, sumSq, kth float64) {
		left := k
		for _, b := range bins {
			if left <= 0 {
				break
			}
			take := math.Min(left, b.c)
			v := clamp(b.v)
			sum += take * v
			sumSq += take * v * v
			kth = v
			left -= take
		}
		return sum, sumSq, kth
	}
	if q, err := sk.GetValueAtQuantile(0.5); err == nil {
		d.Median = clamp(q)
	}
	for _, pct := range percentiles {
		num := jsRound(math.Abs(pct) / 100 * n)
		if num == 0 {
			continue
		}
		p := PercentileStats{Threshold: pct, Count: num}
		if pct > 0 {
			p.Sum, p.SumSquares, p.Bound = walk(num)
		} else {
			// The highest num values: everything minus the lowest n-num.
			loSum, loSq, _ := walk(n - num)
			_, _, p.Bound = walk(n - num + 1)
			p.Sum, p.SumSquares = d.Sum-loSum, d.SumSquares-loSq
		}
		p.Mean = p.Sum / num
		d.Percentiles = append(d.Percentiles, p)
	}
}
