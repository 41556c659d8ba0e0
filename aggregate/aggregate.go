package aggregate

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statsd-agent/statsd-agent/protocol"
)

// IdlePolicy says what happens to a counter, timer or set series that
// received no sample during an interval.
type IdlePolicy uint8

const (
	// IdleDelete emits nothing for an idle series (the default).
	IdleDelete IdlePolicy = iota
	// IdleZero emits zero values for an idle series until IdleTTL passes
	// since its last sample, like the reference server.
	IdleZero
)

// Config configures an Aggregator. The zero value means the documented
// defaults.
type Config struct {
	// Interval is the flush interval; rates are per second of it.
	// 0 means 10s.
	Interval time.Duration
	// Percentiles are the thresholds for per-percentile timer statistics,
	// e.g. 50, 90, 99.9, or -10 for the top 10%. nil means [90]; an empty
	// non-nil slice means none.
	Percentiles []float64
	// MaxValues is how many values per distribution series and interval
	// are kept exactly before switching to a sketch. 0 means 10000.
	MaxValues int
	// Idle is the idle policy for counters, timers and sets.
	Idle IdlePolicy
	// IdleTTL bounds IdleZero: a series idle longer than this is dropped.
	// 0 means forever.
	IdleTTL time.Duration
	// GaugeTTL is how long a gauge is kept without an update. 0 means
	// 5 minutes; negative means forever.
	GaugeTTL time.Duration
	// MaxSeries is the cardinality budget: the most series kept per
	// interval; samples of further new series are folded into one
	// OverflowName series per type, so totals stay right. It applies to
	// each input shard and again to the merged interval. 0 means no limit.
	MaxSeries int
	// MaxSeriesPerName is the most series (tag combinations) per metric
	// name and shard; further ones are folded likewise. 0 means no limit.
	MaxSeriesPerName int
	// Lateness is how far before the open interval's start a DogStatsD
	// "|T" timestamp may be: such a sample is aggregated into the open
	// interval; an older one is dropped and counted (Late). 0 means one
	// interval; negative means no limit.
	Lateness time.Duration
	// Sketches makes every distribution's DistStats carry a mergeable
	// sketch of its values (DistStats.Sketch), for backends that export
	// distributions.
	Sketches bool
}

// DefaultInterval, DefaultMaxValues and DefaultGaugeTTL are the defaults
// that a zero Config stands for.
const (
	DefaultInterval  = 10 * time.Second
	DefaultMaxValues = 10000
	DefaultGaugeTTL  = 5 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Percentiles == nil {
		c.Percentiles = []float64{90}
	}
	if c.MaxValues <= 0 {
		c.MaxValues = DefaultMaxValues
	}
	if c.GaugeTTL == 0 {
		c.GaugeTTL = DefaultGaugeTTL
	}
	return c
}

// Validate reports a configuration error, if any.
func (c Config) Validate() error {
	for _, p := range c.Percentiles {
		if p == 0 || p > 100 || p < -100 || math.IsNaN(p) {
			return fmt.Errorf("percentile %v out of range: want 0 < |p| <= 100", p)
		}
	}
	if c.Interval < 0 {
		return fmt.Errorf("negative flush interval %v", c.Interval)
	}
	if c.Interval > 0 && c.Interval < time.Millisecond {
		return fmt.Errorf("flush interval %v too short", c.Interval)
	}
	return nil
}

// Aggregator owns the shards and the state that outlives an interval.
type Aggregator struct {
	// lateBefore is the Unix second before which a timestamped sample is
	// late (0: none is); late counts them. Both are read and written
	// without locks: ingest loads lateBefore once per timestamped sample.
	lateBefore atomic.Int64
	late       atomic.Uint64

	cfgMu    sync.RWMutex // guards cfg
	cfg      Config
	gaugeSeq atomic.Uint64

	mu     sync.Mutex // guards shards
	shards []*Shard

	flushMu     sync.Mutex // serialises Flush
	gauges      map[string]*gaugeState
	idle        map[string]*idleState
	merged      map[string]*entry // reused merge buffer
	lastOver    OverflowStats     // folding in the last Flush
	approxLast  int
	approxTotal uint64
	overTotals  OverflowStats // folding since the start
	scratch     []float64     // reused by exactStats
}

type gaugeState struct {
	name    string
	tags    []protocol.Tag
	value   float64
	updated time.Time
}

type idleState struct {
	name     string
	tags     []protocol.Tag
	typ      protocol.Type
	lastSeen time.Time
}

// New returns an Aggregator. It panics on nothing: an invalid Config is
// reported by Config.Validate, and New uses the defaults for zero fields.
func New(cfg Config) *Aggregator {
	return &Aggregator{
		cfg:    cfg.withDefaults(),
		gauges: make(map[string]*gaugeState),
		idle:   make(map[string]*idleState),
	}
}

// Config returns the configuration in force, defaults filled in.
func (a *Aggregator) Config() Config {
	a.cfgMu.RLock()
	defer a.cfgMu.RUnlock()
	return a.cfg
}

// SetConfig changes the configuration from the next Flush on (interval,
// percentiles, limits, policies); aggregated values are kept.
func (a *Aggregator) SetConfig(cfg Config) {
	cfg = cfg.withDefaults()
	a.cfgMu.Lock()
	a.cfg = cfg
	a.cfgMu.Unlock()
	a.mu.Lock()
	for _, s := range a.shards {
		s.mu.Lock()
		s.maxValues = cfg.MaxValues
		s.setLimits(cfg)
		s.mu.Unlock()
	}
	a.mu.Unlock()
}

// NewShard returns a new shard for one input goroutine.
func (a *Aggregator) NewShard() *Shard {
	cfg := a.Config()
	s := &Shard{agg: a, m: make(map[string]*entry), maxValues: cfg.MaxValues,
		names: make(map[string]int), spareNms: make(map[string]int)}
	s.setLimits(cfg)
	a.mu.Lock()
	a.shards = append(a.shards, s)
	a.mu.Unlock()
	return s
}

// Series returns the number of series seen in the last Flush.
func (a *Aggregator) Series() int {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	return len(a.gauges) + len(a.idle)
}

// Flush swaps every shard's maps for fresh ones, merges them with the state
// carried across intervals, and returns the interval's Snapshot stamped with
// now. It must not be called concurrently with itself.
func (a *Aggregator) Flush(now time.Time) *Snapshot {
	return a.FlushPartial(now, 0)
}

// FlushPartial is Flush for an interval cut short, such as the final flush
// on shutdown: rates are per second of elapsed (and the snapshot's Interval
// is elapsed) instead of the configured interval. elapsed <= 0 means the
// configured interval.
func (a *Aggregator) FlushPartial(now time.Time, elapsed time.Duration) *Snapshot {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	cfg := a.Config()
	if elapsed > 0 && elapsed < cfg.Interval {
		cfg.Interval = elapsed
	}

	a.mu.Lock()
	shards := append([]*Shard(nil), a.shards...)
	a.mu.Unlock()

	snap := &Snapshot{Time: now, Interval: cfg.Interval}
	if a.merged == nil {
		a.merged = make(map[string]*entry)
	}
	merged := a.merged
	olds := make([]map[string]*entry, len(shards))
	oldNames := make([]map[string]int, len(shards))
	a.lastOver = OverflowStats{ByName: map[string]uint64{}}
	for i, s := range shards {
		s.mu.Lock()
		m, ev, sc := s.m, s.events, s.checks
		names := s.names
		if s.spare != nil {
			s.m, s.spare = s.spare, nil
		} else {
			s.m = make(map[string]*entry, len(m))
		}
		s.names, s.spareNms = s.spareNms, nil
		if s.names == nil {
			s.names = make(map[string]int)
		}
		over := s.over
		s.over = newOverflowCounts()
		s.events, s.checks = nil, nil
		s.mu.Unlock()
		a.addOverflow(&over)
		oldNames[i] = names
		olds[i] = m
		snap.Events = append(snap.Events, ev...)
		snap.ServiceChecks = append(snap.ServiceChecks, sc...)
		for k, e := range m {
			if !e.touched {
				continue
			}
			if into, ok := merged[k]; ok {
				into.merge(e)
				continue
			}
			merged[k] = e
		}
	}
	// Once the statistics are computed, every swapped-out map is reset and
	// handed back to its shard for the next swap, so steady-state ingest
	// reuses entries (and their value slices) instead of allocating.
	defer func() {
		for i, s := range shards {
			m := olds[i]
			for k, e := range m {
				if e.touched {
					e.reset()
					continue
				}
				if e.idle++; e.idle >= idleEvict {
					delete(m, k)
					if n := oldNames[i][e.name]; n > 1 {
						oldNames[i][e.name] = n - 1
					} else {
						delete(oldNames[i], e.name)
					}
				}
			}
			s.mu.Lock()
			s.spare = m
			s.spareNms = oldNames[i]
			s.mu.Unlock()
		}
	}()

	if cfg.MaxSeries > 0 && len(merged) > cfg.MaxSeries {
		a.foldMerged(merged, cfg.MaxSeries)
	}

	seconds := float64(cfg.Interval.Milliseconds()) / 1000
	series := make([]Series, 0, len(merged)+len(a.gauges))

	// Gauges: apply this interval's sets and deltas to the carried value.
	for k, e := range merged {
		if e.typ != protocol.Gauge {
			continue
		}
		g, ok := a.gauges[k]
		if !ok {
			g = &gaugeState{name: e.name, tags: e.tags}
			a.gauges[k] = g
		}
		g.value = e.gaugeValue(g.value)
		g.updated = now
	}

	for k, e := range merged {
		delete(merged, k)
		switch e.typ {
		case protocol.Gauge:
			continue
		case protocol.Counter:
			series = append(series, Series{Name: e.name, Type: e.typ, Tags: e.tags,
				Value: e.sum, Rate: e.sum / seconds})
		case protocol.Set:
			series = append(series, Series{Name: e.name, Type: e.typ, Tags: e.tags,
				Value: float64(len(e.members))})
		default:
			series = append(series, Series{Name: e.name, Type: e.typ, Tags: e.tags,
				Dist: e.distStats(cfg.Percentiles, seconds, &a.scratch, cfg.Sketches)})
		}
		if cfg.Idle == IdleZero {
			st, ok := a.idle[k]
			if !ok {
				st = &idleState{name: e.name, tags: e.tags, typ: e.typ}
				a.idle[k] = st
			}
			st.lastSeen = now
		}
	}

	// Idle series under IdleZero: emit zeros until IdleTTL passes.
	if cfg.Idle == IdleZero {
		for k, st := range a.idle {
			if st.lastSeen.Equal(now) {
				continue
			}
			if cfg.IdleTTL > 0 && now.Sub(st.lastSeen) > cfg.IdleTTL {
				delete(a.idle, k)
				continue
			}
			s := Series{Name: st.name, Type: st.typ, Tags: st.tags}
			if st.typ.IsDistribution() {
				s.Dist = &DistStats{}
			}
			series = append(series, s)
		}
	} else if len(a.idle) > 0 {
		clear(a.idle)
	}

	// Carried gauges: emit, or expire after GaugeTTL.
	for k, g := range a.gauges {
		if cfg.GaugeTTL > 0 && now.Sub(g.updated) >= cfg.GaugeTTL {
			delete(a.gauges, k)
			continue
		}
		series = append(series, Series{Name: g.name, Type: protocol.Gauge, Tags: g.tags, Value: g.value})
	}

	sort.Slice(series, func(i, j int) bool { return seriesLess(&series[i], &series[j]) })
	snap.Series = series
	approx := 0
	for i := range series {
		if series[i].Dist != nil && series[i].Dist.Approximate {
			approx++
		}
	}
	a.approxLast, a.approxTotal = approx, a.approxTotal+uint64(approx)

	// The next interval opens now: timestamped samples older than its
	// start minus the lateness allowance are late from here on.
	switch lateness := a.Config().Lateness; {
	case lateness < 0:
		a.lateBefore.Store(0)
	case lateness == 0:
		a.lateBefore.Store(now.Add(-a.Config().Interval).Unix())
	default:
		a.lateBefore.Store(now.Add(-lateness).Unix())
	}
	return snap
}

// Late returns the number of samples dropped because their "|T"
// timestamp was older than the open interval allows (Config.Lateness).
func (a *Aggregator) Late() uint64 { return a.late.Load() }

// Approximated returns the number of distribution series whose percentiles
// came from the sketch in the last Flush, and since the start.
func (a *Aggregator) Approximated() (last int, total uint64) {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	return a.approxLast, a.approxTotal
}

func seriesLess(a, b *Series) bool {
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	if a.Type != b.Type {
		return a.Type < b.Type
	}
	n := min(len(a.Tags), len(b.Tags))
	for i := 0; i < n; i++ {
		if a.Tags[i].Key != b.Tags[i].Key {
			return a.Tags[i].Key < b.Tags[i].Key
		}
		if a.Tags[i].Value != b.Tags[i].Value {
			return a.Tags[i].Value < b.Tags[i].Value
		}
	}
	return len(a.Tags) < len(b.Tags)
}

func newOverflowCounts() overflowCounts {
	return overflowCounts{series: make(map[string]struct{}), byName: make(map[string]uint64)}
}

func (s *Shard) setLimits(cfg Config) {
	s.limits = limits{series: cfg.MaxSeries, perName: cfg.MaxSeriesPerName}
	if s.over.series == nil {
		s.over = newOverflowCounts()
	}
}

// OverflowStats describe the series folded into the overflow series.
type OverflowStats struct {
	// Series is the number of distinct series folded (per shard and
	// interval, so a series folded in two intervals counts twice).
	Series uint64
	// Samples is the number of samples folded.
	Samples uint64
	// ByName counts folded samples per metric name (bounded to the first
	// 1000 names per shard and interval).
	ByName map[string]uint64
}

// TopNames returns up to n metric names with the most folded samples.
func (o OverflowStats) TopNames(n int) []string {
	names := make([]string, 0, len(o.ByName))
	for k := range o.ByName {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if o.ByName[names[i]] != o.ByName[names[j]] {
			return o.ByName[names[i]] > o.ByName[names[j]]
		}
		return names[i] < names[j]
	})
	if len(names) > n {
		names = names[:n]
	}
	return names
}

// Overflow returns the folding of the last Flush and since the start.
func (a *Aggregator) Overflow() (last, total OverflowStats) {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	return a.lastOver, OverflowStats{Series: a.overTotals.Series, Samples: a.overTotals.Samples}
}

func (a *Aggregator) addOverflow(o *overflowCounts) {
	n := uint64(len(o.series)) + o.extra
	a.lastOver.Series += n
	a.lastOver.Samples += o.samples
	a.overTotals.Series += n
	a.overTotals.Samples += o.samples
	for k, v := range o.byName {
		a.lastOver.ByName[k] += v
	}
}

// foldMerged enforces the budget on the merged interval. The overflow
// series stay; of the others, the oldest (seen in the most intervals), then
// the busiest (most samples), then the first in key order are kept up to
// limit, and the rest are merged into the overflow series of their type.
func (a *Aggregator) foldMerged(merged map[string]*entry, limit int) {
	keys := make([]string, 0, len(merged))
	for k, e := range merged {
		if e.name != OverflowName {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := merged[keys[i]], merged[keys[j]]
		if a.age != b.age {
			return a.age > b.age
		}
		if a.hits != b.hits {
			return a.hits > b.hits
		}
		return keys[i] < keys[j]
	})
	keep := limit - (len(merged) - len(keys))
	if keep < 0 {
		keep = 0
	}
	if keep >= len(keys) {
		return
	}
	for _, k := range keys[keep:] {
		e := merged[k]
		delete(merged, k)
		okey := overflowKey(e.typ)
		into, ok := merged[okey]
		if !ok {
			into = &entry{name: OverflowName, typ: e.typ, touched: true}
			if e.typ == protocol.Set {
				into.members = make(map[string]struct{})
			}
			merged[okey] = into
		}
		into.mergeAny(e)
		a.lastOver.Series++
		a.overTotals.Series++
		a.lastOver.ByName[e.name] += uint64(max(e.n, 1))
	}
}
