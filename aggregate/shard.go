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
	k := append(s.key[:0], byte(sm.Type))
	k = append(k, sm.Name...)
	k = append(k, 0)
	k = append(k, sm.Tags...)
	s.key = k

	e, ok := s.m[string(k)]
	if !ok {
		e = newEntry(sm)
		s.m[string(k)] = e
	}
	e.touched = true
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
