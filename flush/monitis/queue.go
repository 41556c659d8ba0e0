package monitis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/statsd-agent/statsd-agent/spool"
)

// DefaultSpoolMaxBytes is the spool's bound when Config.SpoolMaxBytes is 0.
const DefaultSpoolMaxBytes = 64 << 20

// resultQueue holds the results waiting for delivery, oldest first. It is
// used by the backend under its mutex only.
type resultQueue interface {
	// push appends results; it reports how many queued results it dropped
	// to stay within its bound.
	push(ps []*pending) (dropped int, err error)
	// front returns the oldest result, or nil when the queue is empty.
	front() (*pending, error)
	// pop removes the oldest result.
	pop() error
	len() int
	// diskBytes is the disk space used (0 in memory).
	diskBytes() int64
	// close releases the queue; what is left is lost (memory) or kept
	// for the next start (spool).
	close() error
}

// memQueue is the in-memory queue, bounded in results.
type memQueue struct {
	q   []*pending
	max int
}

func (m *memQueue) push(ps []*pending) (int, error) {
	m.q = append(m.q, ps...)
	over := len(m.q) - m.max
	if over <= 0 {
		return 0, nil
	}
	clear(m.q[:over])
	m.q = append(m.q[:0], m.q[over:]...)
	return over, nil
}

func (m *memQueue) front() (*pending, error) {
	if len(m.q) == 0 {
		return nil, nil
	}
	return m.q[0], nil
}

func (m *memQueue) pop() error {
	m.q[0] = nil
	m.q = m.q[1:]
	return nil
}

func (m *memQueue) len() int { return len(m.q) }

func (m *memQueue) diskBytes() int64 { return 0 }

func (m *memQueue) close() error {
	m.q = nil
	return nil
}

// spoolQueue keeps the results in a spool.Queue on disk, bounded in
// bytes: one record per result (see encodePending). Only the front result
// is held in memory.
type spoolQueue struct {
	q   *spool.Queue
	log *slog.Logger
	cur *pending // the decoded front, until pop
	// corrupt counts records that passed the spool's checksum but do not
	// decode (written by an incompatible version): dropped.
	onCorrupt func()
}

func openSpool(dir string, maxBytes int64, log *slog.Logger, onCorrupt func()) (*spoolQueue, error) {
	if maxBytes == 0 {
		maxBytes = DefaultSpoolMaxBytes
	}
	q, err := spool.Open(dir, spool.Options{MaxBytes: maxBytes, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("monitis: %s: %w", dir, err)
	}
	return &spoolQueue{q: q, log: log, onCorrupt: onCorrupt}, nil
}

// push appends the results and fsyncs once, so a flush's results survive
// even a power loss once Flush has queued them.
func (s *spoolQueue) push(ps []*pending) (int, error) {
	before := s.q.Stats().DroppedRecords
	var buf []byte
	var errs []error
	for _, p := range ps {
		buf = encodePending(buf[:0], p)
		if err := s.q.Push(buf); err != nil {
			errs = append(errs, fmt.Errorf("result for %q: %w", p.monitor, err))
		}
	}
	if err := s.q.Sync(); err != nil {
		errs = append(errs, err)
	}
	dropped := int(s.q.Stats().DroppedRecords - before)
	if dropped > 0 {
		// The dropped records may include the decoded front.
		s.cur = nil
	}
	return dropped, errors.Join(errs...)
}

func (s *spoolQueue) front() (*pending, error) {
	for s.cur == nil {
		recs, err := s.q.Peek(1)
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, nil
		}
		p, err := decodePending(recs[0])
		if err != nil {
			s.log.Warn("monitis: spooled result unreadable, dropped", "err", err)
			s.onCorrupt()
			if err := s.q.Ack(1); err != nil {
				return nil, err
			}
			continue
		}
		s.cur = p
	}
	return s.cur, nil
}

func (s *spoolQueue) pop() error {
	s.cur = nil
	return s.q.Ack(1)
}

func (s *spoolQueue) len() int { return s.q.Len() }

func (s *spoolQueue) diskBytes() int64 { return s.q.Stats().DiskBytes }

func (s *spoolQueue) close() error {
	s.cur = nil
	return s.q.Close()
}

// pendingVersion is the first byte of a spooled result.
const pendingVersion = 1

// encodePending appends p's spool record to dst: a version byte, the
// checktime in Unix nanoseconds (varint), the monitor name and tag, the
// result params (name, display name, unit, data type) and the values
// (name, value); strings are a uvarint length and the bytes, counts are
// uvarints.
func encodePending(dst []byte, p *pending) []byte {
	dst = append(dst, pendingVersion)
	dst = binary.AppendVarint(dst, p.at.UnixNano())
	dst = appendString(dst, p.monitor)
	dst = appendString(dst, p.tag)
	dst = binary.AppendUvarint(dst, uint64(len(p.params)))
	for _, rp := range p.params {
		dst = appendString(dst, rp.Name)
		dst = appendString(dst, rp.DisplayName)
		dst = appendString(dst, rp.UOM)
		dst = binary.AppendUvarint(dst, uint64(rp.DataType))
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.values)))
	for _, v := range p.values {
		dst = appendString(dst, v.Name)
		dst = appendString(dst, v.Value)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// errBadRecord means a spool record is not an encoded result.
var errBadRecord = errors.New("not a spooled result")

// recordDecoder reads the fields of a spool record.
type recordDecoder struct {
	b   []byte
	err error
}

func (d *recordDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad number", errBadRecord)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad number", errBadRecord)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordDecoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: string cut short", errBadRecord)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a count of items of at least min bytes each, refusing one
// the rest of the record cannot hold (no allocation from a bad count).
func (d *recordDecoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.err = fmt.Errorf("%w: count %d too large", errBadRecord, n)
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

// decodePending decodes a record written by encodePending.
func decodePending(b []byte) (*pending, error) {
	if len(b) == 0 || b[0] != pendingVersion {
		return nil, fmt.Errorf("%w: unknown version", errBadRecord)
	}
	d := &recordDecoder{b: b[1:]}
	p := &pending{}
	p.at = time.Unix(0, d.varint()).UTC()
	p.monitor = d.string()
	p.tag = d.string()
	if n := d.count(4); n > 0 {
		p.params = make([]ResultParam, n)
		for i := range p.params {
			rp := &p.params[i]
			rp.Name, rp.DisplayName, rp.UOM = d.string(), d.string(), d.string()
			rp.DataType = DataType(d.uvarint())
		}
	}
	if n := d.count(2); n > 0 {
		p.values = make([]ResultValue, n)
		for i := range p.values {
			p.values[i] = ResultValue{Name: d.string(), Value: d.string()}
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errBadRecord, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}
