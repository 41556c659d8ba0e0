// Package ratelimit enforces per-source limits, in lines per second, on the
// agent's inputs: a noisy client cannot crowd out the others. It sits in
// the "packet" step, before parsing: listeners ask it whether a datagram
// (or a stream read) from a source may be processed.
//
// Each source address (an IP, without the port, so a client cannot escape
// its limit by changing ports) gets a token bucket from golang.org/x/time/rate.
// The table of sources is bounded: past MaxSources, the least recently seen
// source is forgotten. Dropped lines are counted per source, and only the
// top sources by drops are reported, so the metric's label set stays
// bounded however many sources there are.
//
// A Limiter is safe for concurrent use by every listener goroutine.
package ratelimit

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// DefaultMaxSources bounds the table of sources.
const DefaultMaxSources = 10000

// Config configures a Limiter.
type Config struct {
	// LinesPerSecond is each source's sustained rate. 0 disables limiting.
	LinesPerSecond float64
	// Burst is the most lines a source may send at once; 0 means one
	// second's worth.
	Burst int
	// MaxSources bounds the table of sources; 0 means DefaultMaxSources.
	MaxSources int
}

// Limiter limits lines per second per source.
type Limiter struct {
	cfg     Config
	now     func() time.Time
	mu      sync.Mutex
	sources map[netip.Addr]*source
	dropped atomic.Uint64
}

type source struct {
	lim      *rate.Limiter
	lastSeen time.Time
	dropped  uint64
}

// New returns a Limiter, or nil when cfg disables limiting; a nil *Limiter
// allows everything.
func New(cfg Config) *Limiter {
	if cfg.LinesPerSecond <= 0 {
		return nil
	}
	if cfg.Burst <= 0 {
		cfg.Burst = int(cfg.LinesPerSecond)
		if cfg.Burst < 1 {
			cfg.Burst = 1
		}
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = DefaultMaxSources
	}
	return &Limiter{cfg: cfg, now: time.Now, sources: make(map[netip.Addr]*source)}
}

// Allow reports whether lines lines from addr may be processed now, taking
// them from the source's budget. When it returns false the lines are
// counted as dropped for that source.
func (l *Limiter) Allow(addr netip.Addr, lines int) bool {
	if l == nil || lines <= 0 {
		return true
	}
	addr = addr.Unmap()
	now := l.now()
	l.mu.Lock()
	s, ok := l.sources[addr]
	if !ok {
		if len(l.sources) >= l.cfg.MaxSources {
			l.evictOldest()
		}
		s = &source{lim: rate.NewLimiter(rate.Limit(l.cfg.LinesPerSecond), l.cfg.Burst)}
		l.sources[addr] = s
	}
	s.lastSeen = now
	ok = s.lim.AllowN(now, lines)
	if !ok {
		s.dropped += uint64(lines)
	}
	l.mu.Unlock()
	if !ok {
		l.dropped.Add(uint64(lines))
	}
	return ok
}

func (l *Limiter) evictOldest() {
	var oldest netip.Addr
	var t time.Time
	first := true
	for a, s := range l.sources {
		if first || s.lastSeen.Before(t) {
			oldest, t, first = a, s.lastSeen, false
		}
	}
	delete(l.sources, oldest)
}

// Dropped returns the lines dropped so far, over all sources.
func (l *Limiter) Dropped() uint64 {
	if l == nil {
		return 0
	}
	return l.dropped.Load()
}

// SourceDrops is one source's dropped line count.
type SourceDrops struct {
	Source  netip.Addr
	Dropped uint64
}

// Top returns up to n sources with the most dropped lines, most first.
func (l *Limiter) Top(n int) []SourceDrops {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	var out []SourceDrops
	for a, s := range l.sources {
		if s.dropped > 0 {
			out = append(out, SourceDrops{a, s.dropped})
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dropped != out[j].Dropped {
			return out[i].Dropped > out[j].Dropped
		}
		return out[i].Source.Less(out[j].Source)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// TopN is how many sources the metrics name.
const TopN = 10

var (
	droppedDesc = prometheus.NewDesc("statsd_agent_ratelimit_dropped_lines_total",
		"Lines dropped by the per-source rate limit, over all sources.", nil, nil)
	topDesc = prometheus.NewDesc("statsd_agent_ratelimit_top_source_dropped_lines",
		"Lines dropped for each of the 10 sources with the most drops (a bounded label set).", []string{"source"}, nil)
)

// Describe implements prometheus.Collector.
func (l *Limiter) Describe(ch chan<- *prometheus.Desc) {
	ch <- droppedDesc
	ch <- topDesc
}

// Collect implements prometheus.Collector.
func (l *Limiter) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(l.Dropped()))
	for _, s := range l.Top(TopN) {
		ch <- prometheus.MustNewConstMetric(topDesc, prometheus.GaugeValue, float64(s.Dropped), s.Source.String())
	}
}
