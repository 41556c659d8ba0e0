// Package sendqueue is the ordered delivery queue of the backends that send
// encoded requests (remote-write, OTLP): in memory, bounded in items (series
// or data points), or in a spool directory (package spool), bounded in
// bytes and surviving restarts and kill -9. It sits in the flush step: a
// backend's Flush pushes the interval's requests and delivers from the
// front until its deadline, so order and original timestamps are kept.
//
// Deliver is the shared delivery loop (pacing, retry with jittered
// backoff, drop of rejected requests); Sender wraps a queue with that loop
// and the backend's drop counters, gauges and logs.
package sendqueue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/statsd-agent/statsd-agent/spool"
)

// Request is one encoded request: its body, the number of items (series,
// data points) it carries, and Msg, a decoded form the sender may use, kept
// in memory only (the zero value after a spool round trip).
type Request[M any] struct {
	Body  []byte
	Items int
	Msg   M
}

// Queue holds the encoded requests waiting for delivery, oldest first: in
// memory (bounded in items) or, with a spool directory, on disk (bounded
// in bytes, surviving restarts). A Queue is used by one goroutine at a time.
type Queue[M any] interface {
	// Push appends requests; it returns the items dropped to stay in
	// bounds (oldest first) and a write error.
	Push(reqs []Request[M]) (dropped int, err error)
	// Front returns the oldest request, nil when empty.
	Front() (*Request[M], error)
	// Pop removes the oldest request.
	Pop() error
	// Size returns the queued requests and items.
	Size() (requests, items int)
	// Close releases the queue; a spool keeps what is left for the next
	// start.
	Close() error
}

// NewMemory returns an in-memory Queue holding at most limit items.
func NewMemory[M any](limit int) Queue[M] { return &memQueue[M]{limit: limit} }

// memQueue is the in-memory queue.
type memQueue[M any] struct {
	reqs  []Request[M]
	items int
	limit int
}

func (q *memQueue[M]) Push(reqs []Request[M]) (int, error) {
	for _, r := range reqs {
		q.reqs = append(q.reqs, r)
		q.items += r.Items
	}
	dropped := 0
	for len(q.reqs) > 0 && q.items > q.limit {
		dropped += q.reqs[0].Items
		_ = q.Pop()
	}
	return dropped, nil
}

func (q *memQueue[M]) Front() (*Request[M], error) {
	if len(q.reqs) == 0 {
		return nil, nil
	}
	return &q.reqs[0], nil
}

func (q *memQueue[M]) Pop() error {
	q.items -= q.reqs[0].Items
	q.reqs[0] = Request[M]{}
	q.reqs = q.reqs[1:]
	if len(q.reqs) == 0 {
		q.reqs = nil
	}
	return nil
}

func (q *memQueue[M]) Size() (int, int) { return len(q.reqs), q.items }

// Close does nothing: what is in memory is lost.
func (q *memQueue[M]) Close() error { return nil }

// recordVersion starts every spool record: [version][uvarint items][body].
const recordVersion = 1

// EncodeRecord serialises a request for the spool (without Msg).
func EncodeRecord[M any](r Request[M]) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(r.Body))
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(r.Items))
	return append(b, r.Body...)
}

// ErrBadRecord is returned by DecodeRecord for a record it cannot read.
var ErrBadRecord = errors.New("sendqueue: bad spool record")

// DecodeRecord parses a spool record; the body is copied and Msg is the
// zero value.
func DecodeRecord[M any](rec []byte) (Request[M], error) {
	if len(rec) < 2 || rec[0] != recordVersion {
		return Request[M]{}, ErrBadRecord
	}
	n, k := binary.Uvarint(rec[1:])
	if k <= 0 || n > 1<<31 {
		return Request[M]{}, ErrBadRecord
	}
	body := rec[1+k:]
	if len(body) == 0 {
		return Request[M]{}, ErrBadRecord
	}
	return Request[M]{Body: append([]byte(nil), body...), Items: int(n)}, nil
}

// spoolQueue keeps requests in a spool directory. counts mirrors the
// item count of every record in the spool, oldest first, so that what
// the spool drops to stay in its byte bound is counted exactly.
type spoolQueue[M any] struct {
	q       *spool.Queue
	head    *Request[M] // decoded front, until popped
	counts  []int
	items   int
	dropped int64 // spool Stats.DroppedRecords already accounted for
	log     *slog.Logger
	name    string
}

// OpenSpool returns a Queue kept in the spool directory dir, bounded to
// maxBytes (0 means the spool default): what a previous run left is
// delivered first. name prefixes errors and logs (e.g. "remotewrite").
func OpenSpool[M any](dir string, maxBytes int64, log *slog.Logger, name string) (Queue[M], error) {
	q, err := spool.Open(dir, spool.Options{MaxBytes: maxBytes, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("%s: spool: %w", name, err)
	}
	s := &spoolQueue[M]{q: q, log: log, name: name, dropped: q.Stats().DroppedRecords}
	// Learn the item counts of what a previous run left (read once).
	recs, err := q.Peek(q.Len())
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("%s: spool: %w", name, err)
	}
	for _, rec := range recs {
		n := 0
		if r, err := DecodeRecord[M](rec); err == nil {
			n = r.Items
		}
		s.counts = append(s.counts, n)
		s.items += n
	}
	return s, nil
}

func (s *spoolQueue[M]) Push(reqs []Request[M]) (int, error) {
	var errs []error
	dropped := 0
	for _, r := range reqs {
		if err := s.q.Push(EncodeRecord(r)); err != nil {
			errs = append(errs, err)
			dropped += r.Items
			continue
		}
		s.counts = append(s.counts, r.Items)
		s.items += r.Items
		// Old segments dropped to make room: forget their records.
		if d := s.q.Stats().DroppedRecords - s.dropped; d > 0 {
			s.dropped += d
			for ; d > 0 && len(s.counts) > 0; d-- {
				dropped += s.counts[0]
				s.items -= s.counts[0]
				s.counts = s.counts[1:]
			}
			s.head = nil // the front may be gone
		}
	}
	if err := s.q.Sync(); err != nil {
		errs = append(errs, err)
	}
	return dropped, errors.Join(errs...)
}

func (s *spoolQueue[M]) Front() (*Request[M], error) {
	for s.head == nil {
		recs, err := s.q.Peek(1)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, nil
		}
		r, err := DecodeRecord[M](recs[0])
		if err != nil {
			// A record this version cannot read: skip it rather than
			// block the queue.
			s.log.Error(s.name+": skipping an unreadable spool record", "error", err)
			if err := s.Pop(); err != nil {
				return nil, err
			}
			continue
		}
		s.head = &r
	}
	return s.head, nil
}

func (s *spoolQueue[M]) Pop() error {
	if len(s.counts) > 0 {
		s.items -= s.counts[0]
		s.counts = s.counts[1:]
	}
	s.head = nil
	return s.q.Ack(1)
}

func (s *spoolQueue[M]) Size() (int, int) { return s.q.Len(), s.items }

// Close closes the spool, keeping what is left for the next start.
func (s *spoolQueue[M]) Close() error { return s.q.Close() }
