package aggregate

import (
	"strconv"

	"github.com/DataDog/sketches-go/ddsketch"
	"strings"
	"time"

	"github.com/statsd-agent/statsd-agent/protocol"
)

// Snapshot is one flush worth of aggregated series. It is an immutable plain
// value: built once by the Aggregator, then shared read-only by every backend.
// Backends must not modify it or anything it points to.
type Snapshot struct {
	// Time is the flush time (the end of the interval), aligned to a
	// multiple of Interval unless the flush was a final one on shutdown.
	Time time.Time
	// Interval is the configured flush interval; rates are per second of it.
	Interval time.Duration
	// Series holds every exported series, sorted by name, type and tags.
	Series []Series
	// Events and ServiceChecks are the DogStatsD events and service checks
	// received during the interval, in arrival order per reader.
	Events        []protocol.Event
	ServiceChecks []protocol.ServiceCheck
}

// Series is one aggregated series of one interval.
type Series struct {
	Name string
	Type protocol.Type
	// Tags are sorted by key then value; nil when untagged.
	Tags []protocol.Tag
	// Value is a counter's count (sum of value/rate), a gauge's value or a
	// set's number of unique members.
	Value float64
	// Rate is a counter's count per second of the configured interval.
	Rate float64
	// Dist holds the statistics of a timer, histogram or distribution.
	Dist *DistStats
}

// DistStats are the statistics of a timer, histogram or distribution over one
// interval, as the reference StatsD server computes them.
type DistStats struct {
	Count      float64 // sum of 1/rate over received values
	CountPS    float64 // Count per second of the interval
	Sum        float64 // sum of the stored values (unscaled)
	SumSquares float64
	Mean       float64 // Sum / number of values
	Median     float64
	Lower      float64
	Upper      float64
	Std        float64 // population standard deviation
	// N is the number of values received (not scaled by sample rate).
	N int
	// Percentiles has one entry per configured threshold, in config order;
	// a threshold that selects no value is omitted.
	Percentiles []PercentileStats
	// Sketch is a mergeable DDSketch of the interval's values (relative
	// accuracy SketchAccuracy), set only when Config.Sketches is on. It is
	// for backends that export distributions as such (Prometheus native
	// histograms, OTLP exponential histograms) and for merging across
	// agents. Backends must not modify it; copy it (Sketch.Copy) to merge.
	Sketch *ddsketch.DDSketch
	// Approximate is true when the series held more values than the exact
	// store keeps, so Median and Percentiles come from a sketch with at most
	// 1% relative error (Count, Sum, SumSquares, Mean, Lower, Upper and Std
	// stay exact).
	Approximate bool
}

// PercentileStats are the per-threshold statistics of a distribution: for a
// positive threshold P the lowest round(P% of N) values, for a negative one
// the highest.
type PercentileStats struct {
	Threshold  float64
	Count      float64
	Sum        float64
	SumSquares float64
	Mean       float64
	// Bound is upper_P for a positive threshold, lower_topN for a negative one.
	Bound float64
}

// Suffix returns the key suffix of a threshold as the reference server names
// it: the first '.' becomes '_' and a leading '-' becomes "top"
// (99.9 -> "99_9", -10 -> "top10").
func Suffix(threshold float64) string {
	s := strconv.FormatFloat(threshold, 'f', -1, 64)
	s = strings.Replace(s, ".", "_", 1)
	if strings.HasPrefix(s, "-") {
		s = "top" + s[1:]
	}
	return s
}

// Value is one named statistic of a series, e.g. {"count", 12}.
type Value struct {
	Key   string
	Value float64
}

// Values returns the series' statistics under the reference server's key
// names, in a stable order: a counter's "count" and "rate"; a gauge's
// "value"; a set's "count"; a distribution's "count", "count_ps" and, when
// it received values, "sum", "sum_squares", "mean", "median", "lower",
// "upper", "std", then per threshold "count_P", "mean_P", "sum_P",
// "sum_squares_P" and "upper_P" (for a negative threshold "lower_topN").
func (s *Series) Values() []Value {
	return s.AppendValues(nil)
}

// AppendValues appends the series' statistics to dst, as Values does.
func (s *Series) AppendValues(dst []Value) []Value {
	switch s.Type {
	case protocol.Counter:
		return append(dst, Value{"count", s.Value}, Value{"rate", s.Rate})
	case protocol.Gauge:
		return append(dst, Value{"value", s.Value})
	case protocol.Set:
		return append(dst, Value{"count", s.Value})
	}
	d := s.Dist
	if d == nil {
		return dst
	}
	dst = append(dst, Value{"count", d.Count}, Value{"count_ps", d.CountPS})
	if d.N == 0 {
		return dst
	}
	dst = append(dst,
		Value{"sum", d.Sum},
		Value{"sum_squares", d.SumSquares},
		Value{"mean", d.Mean},
		Value{"median", d.Median},
		Value{"lower", d.Lower},
		Value{"upper", d.Upper},
		Value{"std", d.Std},
	)
	for _, p := range d.Percentiles {
		suf := Suffix(p.Threshold)
		bound := "upper_" + suf
		if p.Threshold < 0 {
			bound = "lower_" + suf
		}
		dst = append(dst,
			Value{"count_" + suf, p.Count},
			Value{"mean_" + suf, p.Mean},
			Value{"sum_" + suf, p.Sum},
			Value{"sum_squares_" + suf, p.SumSquares},
			Value{bound, p.Bound},
		)
	}
	return dst
}

// TagString returns the tags as "k:v,k2:v2" (bare tags as "k"), the
// canonical order; "" when untagged.
func (s *Series) TagString() string {
	var b strings.Builder
	for i, t := range s.Tags {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.Key)
		if t.Value != "" {
			b.WriteByte(':')
			b.WriteString(t.Value)
		}
	}
	return b.String()
}
