package otlp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/statsd-agent/statsd-agent/spool"
)

// queue holds the encoded requests waiting for delivery, oldest first: in
// memory (bounded in data points) or, with a spool directory, on disk (bounded
// in bytes, surviving restarts).
type queue interface {
	// push appends requests; it returns the data points dropped to stay in
	// bounds (oldest first) and a write error.
	push(reqs []request) (dropped int, err error)
	// front returns the oldest request, nil when empty.
	front() (*request, error)
	// pop removes the oldest request.
	pop() error
	// size returns the queued requests and points.
	size() (requests, points int)
	// close releases the queue; a spool keeps what is left for the next
	// start.
	close() error
}

// memQueue is the in-memory queue.
type memQueue struct {
	reqs   []request
	points int
	limit  int
}

func (q *memQueue) push(reqs []request) (int, error) {
	for _, r := range reqs {
		q.reqs = append(q.reqs, r)
		q.points += r.points
	}
	dropped := 0
	for len(q.reqs) > 0 && q.points > q.limit {
		dropped += q.reqs[0].points
		_ = q.pop()
	}
	return dropped, nil
}

func (q *memQueue) front() (*request, error) {
	if len(q.reqs) == 0 {
		return nil, nil
	}
	return &q.reqs[0], nil
}

func (q *memQueue) pop() error {
	q.points -= q.reqs[0].points
	q.reqs[0] = request{}
	q.reqs = q.reqs[1:]
	if len(q.reqs) == 0 {
		q.reqs = nil
	}
	return nil
}

func (q *memQueue) size() (int, int) { return len(q.reqs), q.points }
func (q *memQueue) close() error     { return nil }

// recordVersion starts every spool record: [version][uvarint data points][protobuf body].
const recordVersion = 1

// encodeRecord serialises a request for the spool.
func encodeRecord(r request) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(r.body))
	b = append(b, recordVersion)
	b = binary.AppendUvarint(b, uint64(r.points))
	return append(b, r.body...)
}

var errBadRecord = errors.New("otlp: bad spool record")

// decodeRecord parses a spool record; the body is copied.
func decodeRecord(rec []byte) (request, error) {
	if len(rec) < 2 || rec[0] != recordVersion {
		return request{}, errBadRecord
	}
	n, k := binary.Uvarint(rec[1:])
	if k <= 0 || n > 1<<31 {
		return request{}, errBadRecord
	}
	body := rec[1+k:]
	if len(body) == 0 {
		return request{}, errBadRecord
	}
	return request{body: append([]byte(nil), body...), points: int(n)}, nil
}

// spoolQueue keeps requests in a spool directory. counts mirrors the
// points count of every record in the spool, oldest first, so that what
// the spool drops to stay in its byte bound is counted exactly.
type spoolQueue struct {
	q       *spool.Queue
	head    *request // decoded front, until popped
	counts  []int
	points  int
	dropped int64 // spool Stats.DroppedRecords already accounted for
	log     *slog.Logger
}

func openSpool(dir string, maxBytes int64, log *slog.Logger) (*spoolQueue, error) {
	q, err := spool.Open(dir, spool.Options{MaxBytes: maxBytes, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("otlp: spool: %w", err)
	}
	s := &spoolQueue{q: q, log: log, dropped: q.Stats().DroppedRecords}
	// Learn the points counts of what a previous run left (read once).
	recs, err := q.Peek(q.Len())
	if err != nil {
		q.Close()
		return nil, fmt.Errorf("otlp: spool: %w", err)
	}
	for _, rec := range recs {
		n := 0
		if r, err := decodeRecord(rec); err == nil {
			n = r.points
		}
		s.counts = append(s.counts, n)
		s.points += n
	}
	return s, nil
}

func (s *spoolQueue) push(reqs []request) (int, error) {
	var errs []error
	dropped := 0
	for _, r := range reqs {
		if err := s.q.Push(encodeRecord(r)); err != nil {
			errs = append(errs, err)
			dropped += r.points
			continue
		}
		s.counts = append(s.counts, r.points)
		s.points += r.points
		// Old segments dropped to make room: forget their records.
		if d := s.q.Stats().DroppedRecords - s.dropped; d > 0 {
			s.dropped += d
			for ; d > 0 && len(s.counts) > 0; d-- {
				dropped += s.counts[0]
				s.points -= s.counts[0]
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

func (s *spoolQueue) front() (*request, error) {
	for s.head == nil {
		recs, err := s.q.Peek(1)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, nil
		}
		r, err := decodeRecord(recs[0])
		if err != nil {
			// A record this version cannot read: skip it rather than
			// block the queue.
			s.log.Error("otlp: skipping an unreadable spool record", "error", err)
			if err := s.pop(); err != nil {
				return nil, err
			}
			continue
		}
		s.head = &r
	}
	return s.head, nil
}

func (s *spoolQueue) pop() error {
	if len(s.counts) > 0 {
		s.points -= s.counts[0]
		s.counts = s.counts[1:]
	}
	s.head = nil
	return s.q.Ack(1)
}

func (s *spoolQueue) size() (int, int) { return s.q.Len(), s.points }
func (s *spoolQueue) close() error     { return s.q.Close() }
