package aggregate

import (
	"sync"

	"github.com/statsd-agent/statsd-agent/protocol"
)

// Shard is the aggregation state owned by one input goroutine.
//
// The owner calls Lock, then Add (any number of times, typically for every
// line of a batch of datagrams), then Unlock. The lock is only ever contended
// by Aggregator.Flush swapping the shard's maps, so ingest costs no lock per
// line and no channel operation at all.
type Shard struct {
	mu        sync.Mutex
	agg       *Aggregator
	m         map[string]*entry
	spare     map[string]*entry // last interval's map, reset, for the next swap
	names     map[string]int    // series per metric name in m (only with MaxSeriesPerName)
	spareNms  map[string]int
	limits    limits
	over      overflowCounts // this interval's folding, reported at Flush
	events    []protocol.Event
	checks    []protocol.ServiceCheck
	maxValues int
	key       []byte // scratch for the series key
}

// Lock starts a batch of Add calls.
func (s *Shard) Lock() { s.mu.Lock() }

// Unlock ends a batch of Add calls.
func (s *Shard) Unlock() { s.mu.Unlock() }

// Add aggregates one sample. The caller holds the shard's lock. Add copies
// what it keeps, so the sample's memory may be reused after it returns.
// Samples with an invalid type are ignored.
func (s *Shard) Add(sm *protocol.Sample) {
	if sm.Type < protocol.Counter || sm.Type > protocol.Set {
		return
	}
	if sm.Timestamp != 0 && sm.Timestamp < s.agg.lateBefore.Load() {
		s.agg.late.Add(1)
		return
	}
	k := append(s.key[:0], byte(sm.Type))
	k = append(k, sm.Name...)
	k = append(k, 0)
	k = append(k, sm.Tags...)
	s.key = k

	e, ok := s.m[string(k)]
	if !ok {
		if e = s.fold(sm, k); e == nil {
			e = newEntry(sm)
			s.m[string(k)] = e
			if s.limits.perName > 0 {
				s.names[e.name]++
			}
		}
	}
	e.touched = true
	e.hits++
	rate := sm.SampleRate
	if rate <= 0 || rate > 1 {
		rate = 1
	}
	switch sm.Type {
	case protocol.Counter:
		e.sum += sm.Value * (1 / rate)
	case protocol.Gauge:
		seq := s.agg.gaugeSeq.Add(1)
		if sm.Delta {
			e.deltas = append(e.deltas, seqDelta{seq: seq, delta: sm.Value})
		} else {
			e.hasSet, e.setSeq, e.setVal = true, seq, sm.Value
			e.deltas = e.deltas[:0]
		}
	case protocol.Set:
		if _, ok := e.members[string(sm.SetMember)]; !ok {
			e.members[string(sm.SetMember)] = struct{}{}
		}
	default:
		e.addValue(sm.Value, 1/rate, s.maxValues)
	}
}

// AddSamples aggregates samples, taking the lock for the whole batch. It is
// the entry point for inputs that produce a few samples at a time, like the
// netstat probe.
func (s *Shard) AddSamples(samples []protocol.Sample) {
	s.mu.Lock()
	for i := range samples {
		s.Add(&samples[i])
	}
	s.mu.Unlock()
}

// AddEvent records a DogStatsD event for the interval. The caller holds the
// shard's lock; the event is kept as is.
func (s *Shard) AddEvent(ev *protocol.Event) { s.events = append(s.events, *ev) }

// AddServiceCheck records a DogStatsD service check for the interval. The
// caller holds the shard's lock; the check is kept as is.
func (s *Shard) AddServiceCheck(sc *protocol.ServiceCheck) { s.checks = append(s.checks, *sc) }

// limits are the cardinality budgets, copied from the Config.
type limits struct {
	series  int // per shard and interval; 0 means no limit
	perName int
}

// overflowCounts count what one shard folded in one interval.
type overflowCounts struct {
	samples uint64
	series  map[string]struct{} // distinct folded keys, bounded
	extra   uint64              // folded keys beyond the bound, counted per sample
	byName  map[string]uint64   // folded samples per metric name, bounded
}

const (
	maxTrackedFoldedKeys  = 10000
	maxTrackedFoldedNames = 1000
)

// fold returns the overflow entry a new series must go to when it would
// exceed a budget, or nil when it fits. It runs only for a key not yet in
// the shard's map, so the budget costs nothing for known series.
func (s *Shard) fold(sm *protocol.Sample, key []byte) *entry {
	if s.limits.series == 0 && s.limits.perName == 0 {
		return nil
	}
	over := s.limits.series > 0 && len(s.m) >= s.limits.series
	if !over && s.limits.perName > 0 && s.names[string(sm.Name)] >= s.limits.perName {
		over = true
	}
	if !over {
		return nil
	}
	s.over.samples++
	if _, ok := s.over.series[string(key)]; !ok {
		if len(s.over.series) < maxTrackedFoldedKeys {
			s.over.series[string(key)] = struct{}{}
		} else {
			s.over.extra++
		}
	}
	if n, ok := s.over.byName[string(sm.Name)]; ok || len(s.over.byName) < maxTrackedFoldedNames {
		s.over.byName[string(sm.Name)] = n + 1
	}
	okey := overflowKey(sm.Type)
	e, ok := s.m[okey]
	if !ok {
		e = &entry{name: OverflowName, typ: sm.Type}
		if sm.Type == protocol.Set {
			e.members = make(map[string]struct{})
		}
		s.m[okey] = e
	}
	return e
}

// OverflowName is the name of the series that collect the samples of series
// beyond a cardinality budget, one per type, untagged.
const OverflowName = "statsd_agent.overflow"

func overflowKey(t protocol.Type) string {
	return string(rune(t)) + OverflowName + "\x00"
}
