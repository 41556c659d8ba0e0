// Package promseries turns snapshots into the Prometheus data model that the
// fleet-scale backends export: sanitised metric names and labels, counters
// as running totals, distributions as cumulative exponential (native)
// histograms built from the snapshot's sketches, percentiles as gauges.
//
// It sits between the snapshot and the encoders: flush/remotewrite sends
// its output as remote-write requests, flush/promexport serves it for
// scraping. A Converter keeps the running state of one such backend; it is
// not safe for concurrent use (the flush fan-out calls each backend from one
// goroutine).
//
// # Mapping
//
//	StatsD series                    Prometheus series
//	counter  a.b:1|c                 a_b_total                   counter: running total of the counts since the agent started
//	gauge    a.b:1|g                 a_b                         gauge
//	set      a.b:x|s                 a_b                         gauge: unique members in the interval
//	timer, histogram, distribution   a_b                         native histogram, cumulative (needs aggregate.Config.Sketches)
//	                                 a_b_sum, a_b_count          counters (classic; remote-write only, pull mode carries them in the histogram)
//	                                 a_b_quantile{quantile="0.9"} gauge per configured positive percentile threshold, of the interval
//
// Names: every character outside [a-zA-Z0-9_] (including '.', '-', ':' and
// non-ASCII) becomes '_'; a leading digit gets a '_' in front; the optional
// prefix is prepended as given (sanitised the same way). A counter whose
// name already ends in "_total" gets no second suffix.
//
// Labels: each tag k:v becomes the label k="v", the key sanitised like a
// name; a key that starts with "__" (reserved) is prefixed with "tag";
// values are kept, invalid UTF-8 replaced by U+FFFD. A bare tag k becomes
// k="true". Several tags with the same sanitised key are joined: k="v1,v2"
// (values in tag order). The agent's own labels (the host label, the
// constant labels of the configuration, and "quantile" on percentile gauges)
// win over a tag of the same name, which is kept as exported_<name>, as
// Prometheus does for conflicting target labels.
//
// Two StatsD series that map to the same Prometheus series (a.b and a_b, a
// gauge and a timer of one name, or a gauge lat_count beside a timer lat,
// whose classic lat_count series it would hit) cannot both be sent: the
// first in snapshot order wins, the other is dropped and counted.
//
// Counter totals and histograms restart from zero when the agent restarts,
// which Prometheus' rate() and increase() see as a counter reset. A series
// that has been absent for Options.IdleTimeout is forgotten (and, if it
// comes back, starts again from zero: a reset too); until then its last
// total is repeated every flush, so rate() shows 0 rather than a gap.
//
// Timer values are milliseconds, as StatsD sends them, unless
// Options.TimersInSeconds divides them by 1000 (histogram buckets, _sum and
// the percentile gauges; the names stay), as statsd_exporter does.
//
// Sample rates: histogram bucket counts are weighted by Count/N and rounded
// to integers per bucket; the classic _count is the exact weighted count
// and _sum the sum of the values times Count/N, so _sum/_count is the mean.
package promseries

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// DefaultIdleTimeout is how long a counter or histogram absent from the
// snapshots keeps being exported with its last total.
const DefaultIdleTimeout = 10 * time.Minute

// Options configure a Converter. The zero value means the defaults.
type Options struct {
	// Prefix is prepended to every metric name (e.g. "statsd_"); "" means none.
	Prefix string
	// HostLabel names the label carrying Host; "" means "host". Host ""
	// leaves the label out.
	HostLabel string
	Host      string
	// Labels are constant labels added to every series.
	Labels map[string]string
	// Schema is the native histogram schema, -4..8; nil means
	// expohist.DefaultSchema (6).
	Schema *int32
	// IdleTimeout: see the package doc; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// NoPercentiles leaves out the <name>_quantile gauges.
	NoPercentiles bool
	// TimersInSeconds divides timer values (milliseconds in StatsD) by
	// 1000, Prometheus' base unit, as statsd_exporter does; names stay.
	TimersInSeconds bool
}

// Kind is the Prometheus type of a Series.
type Kind uint8

// The kinds of series.
const (
	Counter Kind = iota + 1
	Gauge
	Histogram
)

// Label is a label pair.
type Label struct {
	Name, Value string
}

// Series is one Prometheus series of one flush.
type Series struct {
	// Name is the metric name (__name__), e.g. "api_requests_total".
	Name string
	// Labels are sorted by name and do not include __name__.
	Labels []Label
	Kind   Kind
	// Value is a counter's total or a gauge's value.
	Value float64
	// Hist is a histogram's cumulative native histogram; nil when the
	// snapshot carried no sketch (Sketches off). Count and Sum are the
	// classic _count and _sum.
	Hist  *expohist.Histogram
	Count float64
	Sum   float64
}

// Converter converts snapshots and keeps the running totals.
type Converter struct {
	opt      Options
	schema   int32
	host     []Label // the host label and constant labels, sorted
	reserved map[string]bool
	state    map[string]*state
	seen     map[string]struct{} // scratch: series emitted this flush
	entries  map[string]*entry   // by StatsD identity
	keyBuf   []byte
	swept    time.Time
}

// state is the running state of one counter or histogram.
type state struct {
	name     string
	labels   []Label
	kind     Kind
	total    float64
	acc      *expohist.Accumulator
	hasHist  bool
	count    float64
	sum      float64
	lastSeen time.Time
}

// New returns a Converter.
func New(opt Options) (*Converter, error) {
	c := &Converter{opt: opt, schema: expohist.DefaultSchema, state: map[string]*state{}, seen: map[string]struct{}{}, entries: map[string]*entry{}}
	if opt.Schema != nil {
		c.schema = *opt.Schema
	}
	if c.schema < expohist.MinSchema || c.schema > expohist.MaxSchema {
		return nil, fmt.Errorf("promseries: schema %d out of range [%d, %d]", c.schema, expohist.MinSchema, expohist.MaxSchema)
	}
	if c.opt.IdleTimeout == 0 {
		c.opt.IdleTimeout = DefaultIdleTimeout
	}
	if c.opt.IdleTimeout < 0 {
		return nil, fmt.Errorf("promseries: idle timeout %v < 0", c.opt.IdleTimeout)
	}
	c.opt.Prefix = SanitizeName(opt.Prefix)
	c.reserved = map[string]bool{"quantile": true}
	if opt.Host != "" {
		hl := opt.HostLabel
		if hl == "" {
			hl = "host"
		}
		hl = SanitizeLabel(hl)
		c.host = append(c.host, Label{hl, strings.ToValidUTF8(opt.Host, "\uFFFD")})
		c.reserved[hl] = true
	}
	for k, v := range opt.Labels {
		n := SanitizeLabel(k)
		if n != k {
			return nil, fmt.Errorf("promseries: label name %q is not a valid Prometheus label name (try %q)", k, n)
		}
		if c.reserved[n] {
			return nil, fmt.Errorf("promseries: label %q is set twice", n)
		}
		c.host = append(c.host, Label{n, strings.ToValidUTF8(v, "\uFFFD")})
		c.reserved[n] = true
	}
	slices.SortFunc(c.host, func(a, b Label) int { return cmp.Compare(a.Name, b.Name) })
	return c, nil
}

// Schema returns the native histogram schema in use.
func (c *Converter) Schema() int32 { return c.schema }

// Result is the output of one Convert.
type Result struct {
	// Series are sorted by name, then labels.
	Series []Series
	// Duplicates counts StatsD series dropped because another one mapped
	// to the same Prometheus series.
	Duplicates int
	// NoSketch counts distributions that carried no sketch (their native
	// histogram is missing: turn aggregate.Config.Sketches on).
	NoSketch int
}

// Convert adds the snapshot to the running state and returns every series
// to export for it. s is not modified.
func (c *Converter) Convert(s *aggregate.Snapshot) Result {
	var r Result
	clear(c.seen)
	for i := range s.Series {
		c.convertOne(&s.Series[i], s.Time, &r)
	}
	// Counters and histograms that were not in this snapshot: repeat their
	// totals until they have been idle for IdleTimeout.
	for k, st := range c.state {
		if _, ok := c.seen[k]; ok {
			continue
		}
		if s.Time.Sub(st.lastSeen) >= c.opt.IdleTimeout {
			delete(c.state, k)
			continue
		}
		ids := []string{k}
		if st.kind == Histogram {
			ids = append(ids, identity(st.name+"_count", st.labels), identity(st.name+"_sum", st.labels))
		}
		if !c.claim(ids...) {
			r.Duplicates++
			continue
		}
		r.Series = append(r.Series, st.series())
	}
	// Forget the mappings of series idle for IdleTimeout (checked once
	// per IdleTimeout/4, not every flush).
	if s.Time.Sub(c.swept) >= c.opt.IdleTimeout/4 {
		c.swept = s.Time
		for k, e := range c.entries {
			if s.Time.Sub(e.lastSeen) >= c.opt.IdleTimeout {
				delete(c.entries, k)
			}
		}
	}
	slices.SortFunc(r.Series, compareSeries)
	return r
}

// claim marks Prometheus series identities as taken for this flush; it
// fails, taking none, when one of them already is.
func (c *Converter) claim(ids ...string) bool {
	for _, id := range ids {
		if _, dup := c.seen[id]; dup {
			return false
		}
	}
	for _, id := range ids {
		c.seen[id] = struct{}{}
	}
	return true
}

func compareSeries(a, b Series) int {
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return slices.CompareFunc(a.Labels, b.Labels, func(x, y Label) int {
		if c := cmp.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return cmp.Compare(x.Value, y.Value)
	})
}

func (st *state) series() Series {
	out := Series{Name: st.name, Labels: st.labels, Kind: st.kind, Value: st.total, Count: st.count, Sum: st.sum}
	if st.hasHist {
		h := st.acc.Histogram()
		out.Hist = &h
	}
	return out
}

// identity is the key of a Prometheus series: name and labels.
func identity(name string, labels []Label) string {
	var b strings.Builder
	b.WriteString(name)
	for _, l := range labels {
		b.WriteByte(0)
		b.WriteString(l.Name)
		b.WriteByte(0)
		b.WriteString(l.Value)
	}
	return b.String()
}

// entry caches what a StatsD series maps to, so that a series seen again
// costs a map lookup rather than sanitising and sorting its labels.
type entry struct {
	name     string   // metric name (a counter's with _total)
	labels   []Label  // sorted
	ids      []string // identities to claim: the series' own first
	quantile []qentry // percentile gauges, by threshold
	lastSeen time.Time
}

type qentry struct {
	threshold float64
	labels    []Label
	id        string
}

// lookup returns the cached mapping of a series, building it on first use.
func (c *Converter) lookup(in *aggregate.Series, now time.Time) *entry {
	k := append(c.keyBuf[:0], in.Name...)
	k = append(k, 0, byte(in.Type))
	for _, t := range in.Tags {
		k = append(k, 0)
		k = append(k, t.Key...)
		k = append(k, 1)
		k = append(k, t.Value...)
	}
	c.keyBuf = k
	if e, ok := c.entries[string(k)]; ok {
		e.lastSeen = now
		return e
	}
	base := c.opt.Prefix + SanitizeName(in.Name)
	e := &entry{name: base, labels: c.labels(in.Tags, nil), lastSeen: now}
	switch {
	case in.Type == protocol.Counter:
		if !strings.HasSuffix(base, "_total") {
			e.name += "_total"
		}
		e.ids = []string{identity(e.name, e.labels)}
	case in.Type.IsDistribution():
		// The classic _count and _sum series are claimed with the
		// histogram, so that no gauge or counter can collide with them.
		e.ids = []string{identity(base, e.labels), identity(base+"_count", e.labels), identity(base+"_sum", e.labels)}
	default:
		e.ids = []string{identity(base, e.labels)}
	}
	c.entries[string(k)] = e
	return e
}

// quantileEntry returns the cached percentile gauge of a threshold.
func (c *Converter) quantileEntry(e *entry, in *aggregate.Series, threshold float64) *qentry {
	for i := range e.quantile {
		if e.quantile[i].threshold == threshold {
			return &e.quantile[i]
		}
	}
	q := strconv.FormatFloat(threshold/100, 'g', -1, 64)
	ql := c.labels(in.Tags, &Label{"quantile", q})
	e.quantile = append(e.quantile, qentry{threshold: threshold, labels: ql, id: identity(e.name+"_quantile", ql)})
	return &e.quantile[len(e.quantile)-1]
}

func (c *Converter) convertOne(in *aggregate.Series, now time.Time, r *Result) {
	if in.Type < protocol.Counter || in.Type > protocol.Set {
		return
	}
	e := c.lookup(in, now)
	if in.Type.IsDistribution() && in.Dist == nil {
		return
	}
	if !c.claim(e.ids...) {
		r.Duplicates++
		return
	}
	id := e.ids[0]
	switch in.Type {
	case protocol.Counter:
		st := c.state[id]
		if st == nil || st.kind != Counter {
			st = &state{name: e.name, labels: e.labels, kind: Counter}
			c.state[id] = st
		}
		st.total += in.Value
		st.lastSeen = now
		r.Series = append(r.Series, st.series())
	case protocol.Gauge, protocol.Set:
		r.Series = append(r.Series, Series{Name: e.name, Labels: e.labels, Kind: Gauge, Value: in.Value})
	case protocol.Timer, protocol.Histogram, protocol.Distribution:
		d := in.Dist
		st := c.state[id]
		if st == nil || st.kind != Histogram {
			st = &state{name: e.name, labels: e.labels, kind: Histogram, acc: &expohist.Accumulator{}}
			c.state[id] = st
		}
		st.lastSeen = now
		w := 1.0
		if d.N > 0 {
			w = d.Count / float64(d.N)
		}
		unit := 1.0
		if in.Type == protocol.Timer && c.opt.TimersInSeconds {
			unit = 0.001
		}
		sum := d.Sum * w * unit
		st.count += d.Count
		st.sum += sum
		if d.Sketch != nil {
			if err := st.acc.AddSketchUnit(d.Sketch, c.schema, w, sum, unit); err == nil { // one schema per Converter: cannot fail
				st.hasHist = true
			}
		} else if d.N > 0 {
			r.NoSketch++
		}
		r.Series = append(r.Series, st.series())
		if c.opt.NoPercentiles || d.N == 0 {
			return
		}
		qname := e.name + "_quantile"
		for _, p := range d.Percentiles {
			if p.Threshold <= 0 || p.Threshold > 100 {
				continue
			}
			q := c.quantileEntry(e, in, p.Threshold)
			if !c.claim(q.id) {
				r.Duplicates++
				continue
			}
			r.Series = append(r.Series, Series{Name: qname, Labels: q.labels, Kind: Gauge, Value: p.Bound * unit})
		}
	}
}

// labels builds the sorted label set of a series: its tags, the host and
// constant labels, and extra (the quantile label) when not nil.
func (c *Converter) labels(tags []protocol.Tag, extra *Label) []Label {
	out := make([]Label, 0, len(tags)+len(c.host)+1)
	out = append(out, c.host...)
	if extra != nil {
		out = append(out, *extra)
	}
	fixed := len(out)
	for _, t := range tags {
		n := SanitizeLabel(t.Key)
		if strings.HasPrefix(n, "__") {
			n = "tag" + n
		}
		if c.reserved[n] {
			n = "exported_" + n
		}
		v := t.Value
		if v == "" {
			v = "true"
		}
		v = strings.ToValidUTF8(v, "\uFFFD")
		joined := false
		for j := fixed; j < len(out); j++ {
			if out[j].Name == n {
				out[j].Value += "," + v
				joined = true
				break
			}
		}
		if !joined {
			out = append(out, Label{n, v})
		}
	}
	slices.SortFunc(out, func(a, b Label) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// SanitizeName maps a StatsD name to a Prometheus metric name: characters
// outside [a-zA-Z0-9_] become '_', a leading digit gets a '_' in front.
func SanitizeName(s string) string { return sanitize(s) }

// SanitizeLabel maps a tag key to a Prometheus label name, as SanitizeName.
func SanitizeLabel(s string) string { return sanitize(s) }

func sanitize(s string) string {
	ok := s != ""
	for i := 0; i < len(s) && ok; i++ {
		ok = isNameByte(s[i]) && (i > 0 || !isDigit(s[0]))
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 1)
	if s != "" && isDigit(s[0]) {
		b.WriteByte('_')
	}
	for _, r := range s {
		if r < utf8.RuneSelf && isNameByte(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_'
}
