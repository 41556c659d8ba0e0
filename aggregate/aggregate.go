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
	cfg      Config
	gaugeSeq atomic.Uint64

	mu     sync.Mutex // guards shards
	shards []*Shard

	flushMu sync.Mutex // serialises Flush
	gauges  map[string]*gaugeState
	idle    map[string]*idleState
	merged  map[string]*entry // reused merge buffer
	scratch []float64         // reused by exactStats
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
func (a *Aggregator) Config() Config { return a.cfg }

// SetConfig changes the configuration from the next Flush on (interval,
// percentiles, limits, policies); aggregated values are kept.
func (a *Aggregator) SetConfig(cfg Config) {
	a.flushMu.Lock()
	a.cfg = cfg.withDefaults()
	a.flushMu.Unlock()
	a.mu.Lock()
	for _, s := range a.shards {
		s.mu.Lock()
		s.maxValues = a.cfg.MaxValues
		s.mu.Unlock()
	}
	a.mu.Unlock()
}

// NewShard returns a new shard for one input goroutine.
func (a *Aggregator) NewShard() *Shard {
	s := &Shard{agg: a, m: make(map[string]*entry), maxValues: a.cfg.MaxValues}
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
	cfg := a.cfg
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
	for i, s := range shards {
		s.mu.Lock()
		m, ev, sc := s.m, s.events, s.checks
		if s.spare != nil {
			s.m, s.spare = s.spare, nil
		} else {
			s.m = make(map[string]*entry, len(m))
		}
		s.events, s.checks = nil, nil
		s.mu.Unlock()
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
				}
			}
			s.mu.Lock()
			s.spare = m
			s.mu.Unlock()
		}
	}()

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
	return snap
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
