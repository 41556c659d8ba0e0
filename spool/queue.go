package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// DefaultMaxBytes is the disk bound used when Options.MaxBytes is 0.
const DefaultMaxBytes = 64 << 20

// maxSegmentBytes caps the default segment size.
const maxSegmentBytes = 8 << 20

// minMaxBytes is the smallest accepted MaxBytes.
const minMaxBytes = 256

// Errors returned by the queue.
var (
	// ErrTooLarge: a record does not fit in one segment.
	ErrTooLarge = errors.New("spool: record larger than a segment")
	// ErrEmpty: an empty record (refused, so that zeroed disk blocks can
	// never read as records).
	ErrEmpty = errors.New("spool: empty record")
	// ErrClosed: the queue is closed.
	ErrClosed = errors.New("spool: queue closed")
	// ErrLocked: another Queue (in this or another process) has the
	// directory open.
	ErrLocked = errors.New("spool: directory in use")
)

// SyncPolicy says when the queue calls fsync.
type SyncPolicy int

const (
	// SyncExplicit (the default) writes every Push and Ack to the file
	// system at once, with one write call, and fsyncs only on Sync and
	// Close. What was pushed survives the process being killed (kill -9,
	// a crash) at any moment; a power loss can lose what was written
	// since the last Sync.
	SyncExplicit SyncPolicy = iota
	// SyncAlways also fsyncs after every Push and Ack: durable against
	// power loss, at the price of one fsync per call.
	SyncAlways
)

// Options configure a Queue. The zero value means the documented defaults.
type Options struct {
	// MaxBytes bounds the disk space of the segments; 0 means
	// DefaultMaxBytes. When a Push would exceed it, whole oldest
	// segments are dropped (and counted in Stats) until the record fits.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started,
	// and so the unit in which old data is dropped and disk space is
	// returned; 0 means MaxBytes/8, at most 8 MiB. It must be at most
	// MaxBytes/2. No record may be larger than SegmentBytes minus 8.
	SegmentBytes int64
	// Sync is the fsync policy.
	Sync SyncPolicy
	// Logger receives warnings about torn or corrupt data found at Open
	// and while reading; nil discards.
	Logger *slog.Logger
}

// Stats are the queue's counters.
type Stats struct {
	// Records and Bytes are the unacknowledged records and their framed
	// size.
	Records int
	Bytes   int64
	// DiskBytes is the size of the segment files, acknowledged records of
	// the oldest segment included (what MaxBytes bounds).
	DiskBytes int64
	// Segments is the number of segment files.
	Segments int
	// DroppedRecords and DroppedBytes count the unacknowledged records
	// dropped to keep within MaxBytes since Open.
	DroppedRecords int64
	DroppedBytes   int64
	// CorruptBytes counts the bytes discarded since Open because they did
	// not hold valid records (a torn last write, disk corruption), and
	// CorruptSegments the segments in which that happened.
	CorruptBytes    int64
	CorruptSegments int
}

// segment is what the queue knows of one segment file.
type segment struct {
	num  uint64
	size int64 // bytes of valid records
	recs int   // records in the file
}

// Queue is a durable FIFO queue of byte records in a directory. Its
// methods are safe for concurrent use (a mutex serialises them); records
// come out in the order they were pushed.
type Queue struct {
	mu      sync.Mutex
	dir     string
	maxB    int64
	segB    int64
	sync    SyncPolicy
	log     *slog.Logger
	lock    *os.File
	closed  bool
	segs    []segment // oldest first; the last is the tail, open in w
	w       *os.File
	frame   []byte // scratch for Push
	total   int64  // sum of segs[i].size
	records int    // unacknowledged records
	bytes   int64  // their framed size

	// The head: how far the consumer has acknowledged, in segs[0].
	headF    *os.File
	headSeq  uint64
	headOff  int64
	headRecs int

	// The read cursor: the position after the records in ahead, which
	// hold the records following the head, read but not acknowledged.
	ahead [][]byte
	ridx  int   // index in segs
	roff  int64 // offset in segs[ridx]
	rrecs int   // records of segs[ridx] before roff
	rf    *os.File
	rbuf  *bufio.Reader

	stats Stats // dropped and corrupt counters
}

const (
	segSuffix = ".seg"
	headName  = "head"
	lockName  = "lock"
)

func segName(num uint64) string { return fmt.Sprintf("%020d%s", num, segSuffix) }

// Open opens (creating it if needed) the queue in dir. It reads every
// segment, keeps all valid records and truncates a segment at its first
// torn or corrupt record (logged and counted in Stats.CorruptBytes), so a
// queue left by a killed process opens with everything that was fully
// written. The directory is locked against a second Queue until Close.
func Open(dir string, opts Options) (*Queue, error) {
	q := &Queue{dir: dir, maxB: opts.MaxBytes, segB: opts.SegmentBytes, sync: opts.Sync, log: opts.Logger}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.maxB == 0 {
		q.maxB = DefaultMaxBytes
	}
	if q.maxB < minMaxBytes {
		return nil, fmt.Errorf("spool: max bytes %d: want at least %d", q.maxB, minMaxBytes)
	}
	if q.segB == 0 {
		q.segB = min(q.maxB/8, maxSegmentBytes)
	}
	if q.segB < frameHeader+1 || q.segB > q.maxB/2 || q.segB > MaxRecordBytes+frameHeader {
		return nil, fmt.Errorf("spool: segment bytes %d: want between %d and max bytes/2 (%d)", q.segB, frameHeader+1, q.maxB/2)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, err
	}
	q.lock = lock
	if err := q.load(); err != nil {
		q.closeFiles()
		return nil, err
	}
	return q, nil
}

// load reads the head and the segments.
func (q *Queue) load() error {
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var nums []uint64
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			q.log.Warn("spool: ignoring a file that is not a segment", "dir", q.dir, "file", name)
			continue
		}
		nums = append(nums, n)
	}
	slices.Sort(nums)

	headSeg, headOff, headOK, err := q.openHead()
	if err != nil {
		return err
	}
	// Segments before the head's were consumed (deleted after the head
	// moved on, or about to be).
	for len(nums) > 0 && headOK && nums[0] < headSeg {
		if err := os.Remove(filepath.Join(q.dir, segName(nums[0]))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
		nums = nums[1:]
	}
	if !headOK || len(nums) == 0 || nums[0] != headSeg {
		// The head's segment is gone (fully consumed), or there is no
		// head: start at the oldest segment.
		headOff = 0
	}
	headRecs := 0
	for i, n := range nums {
		seg, before, err := q.scan(n, i == 0, &headOff)
		if err != nil {
			return err
		}
		if i == 0 {
			headRecs = before
		}
		q.segs = append(q.segs, seg)
		q.total += seg.size
	}
	if len(q.segs) == 0 {
		if err := q.newSegment(1); err != nil {
			return err
		}
	} else {
		tail := q.segs[len(q.segs)-1]
		f, err := os.OpenFile(filepath.Join(q.dir, segName(tail.num)), os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		q.w = f
	}
	q.headOff = headOff
	// Records before headOff in the first segment are consumed.
	q.headRecs = headRecs
	q.records -= q.headRecs
	q.bytes -= headOff
	q.resetReader()
	q.advanceHead()
	// A smaller MaxBytes than last time applies now.
	if err := q.enforceBound(0); err != nil {
		return err
	}
	return q.writeHead()
}

// scan validates segment num, truncating it at a torn or corrupt record.
// For the first segment it also counts the records before *headOff,
// moving *headOff back to a record boundary if it is not on one.
func (q *Queue) scan(num uint64, first bool, headOff *int64) (seg segment, headRecs int, err error) {
	path := filepath.Join(q.dir, segName(num))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return segment{}, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return segment{}, 0, fmt.Errorf("spool: %w", err)
	}
	var off int64
	boundary, before := int64(0), 0
	valid, recs, serr := scanSegment(f, fi.Size(), func(rec []byte) {
		off += int64(frameHeader + len(rec))
		if first && off <= *headOff {
			boundary, before = off, before+1
		}
	})
	if serr != nil && !errors.Is(serr, errTorn) {
		return segment{}, 0, fmt.Errorf("spool: reading %s: %w", path, serr)
	}
	if valid < fi.Size() {
		lost := fi.Size() - valid
		q.stats.CorruptBytes += lost
		q.stats.CorruptSegments++
		q.log.Warn("spool: torn or corrupt data at the end of a segment, truncated; the records before it are kept",
			"segment", path, "offset", valid, "discarded_bytes", lost, "records_kept", recs, "err", serr)
		if err := f.Truncate(valid); err != nil {
			return segment{}, 0, fmt.Errorf("spool: truncating %s: %w", path, err)
		}
	}
	if first {
		if boundary != *headOff && *headOff < valid {
			q.log.Warn("spool: head offset is not at a record boundary; records after the last boundary before it are read again",
				"segment", path, "head", *headOff, "boundary", boundary)
		}
		*headOff = boundary
	}
	q.records += recs
	q.bytes += valid
	return segment{num: num, size: valid, recs: recs}, before, nil
}

// newSegment creates segment num as the new tail.
func (q *Queue) newSegment(num uint64) error {
	f, err := os.OpenFile(filepath.Join(q.dir, segName(num)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if q.w != nil {
		if q.sync == SyncAlways {
			_ = q.w.Sync()
		}
		q.w.Close()
	}
	q.w = f
	q.segs = append(q.segs, segment{num: num})
	if q.sync == SyncAlways {
		return syncDir(q.dir)
	}
	return nil
}

// Push appends rec to the queue (rec is copied). When the record would
// take the segments past MaxBytes, whole oldest segments are dropped
// first, acknowledged or not; Stats counts what was dropped.
func (q *Queue) Push(rec []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if len(rec) == 0 {
		return ErrEmpty
	}
	framed := int64(frameHeader + len(rec))
	if framed > q.segB {
		return fmt.Errorf("%w: %d bytes, segments hold %d", ErrTooLarge, len(rec), q.segB-frameHeader)
	}
	tail := &q.segs[len(q.segs)-1]
	if tail.size > 0 && tail.size+framed > q.segB {
		if err := q.newSegment(tail.num + 1); err != nil {
			return err
		}
	}
	if err := q.enforceBound(framed); err != nil {
		return err
	}
	tail = &q.segs[len(q.segs)-1]
	q.frame = appendFrame(q.frame[:0], rec)
	if _, err := q.w.WriteAt(q.frame, tail.size); err != nil {
		// Leave no partial record behind.
		_ = q.w.Truncate(tail.size)
		return fmt.Errorf("spool: write: %w", err)
	}
	if q.sync == SyncAlways {
		if err := q.w.Sync(); err != nil {
			return fmt.Errorf("spool: sync: %w", err)
		}
	}
	tail.size += framed
	tail.recs++
	q.total += framed
	q.records++
	q.bytes += framed
	return nil
}

// enforceBound drops oldest segments until extra more bytes fit in
// MaxBytes.
func (q *Queue) enforceBound(extra int64) error {
	dropped := false
	for q.total+extra > q.maxB {
		if len(q.segs) == 1 {
			if err := q.newSegment(q.segs[0].num + 1); err != nil {
				return err
			}
		}
		s := q.segs[0]
		recs, b := s.recs-q.headRecs, s.size-q.headOff
		q.stats.DroppedRecords += int64(recs)
		q.stats.DroppedBytes += b
		q.records -= recs
		q.bytes -= b
		if err := q.removeFront(); err != nil {
			return err
		}
		dropped = true
	}
	if dropped {
		// The reader may have been in a dropped segment.
		q.resetReader()
		return q.writeHead()
	}
	return nil
}

// removeFront deletes the oldest segment; the head moves to the start of
// the next. The head is written by the caller.
func (q *Queue) removeFront() error {
	s := q.segs[0]
	q.segs = q.segs[1:]
	q.total -= s.size
	q.headOff, q.headRecs = 0, 0
	if q.ridx == 0 {
		q.closeReader()
		q.roff, q.rrecs = 0, 0
	} else {
		q.ridx--
	}
	if err := os.Remove(filepath.Join(q.dir, segName(s.num))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// advanceHead removes the leading segments whose records are all
// acknowledged, keeping the tail.
func (q *Queue) advanceHead() bool {
	moved := false
	for len(q.segs) > 1 && q.headRecs >= q.segs[0].recs {
		if err := q.removeFront(); err != nil {
			q.log.Warn("spool: removing a consumed segment", "err", err)
		}
		moved = true
	}
	return moved
}

// Peek returns up to n of the oldest unacknowledged records, in order,
// without consuming them: a later Peek returns them again until they are
// acknowledged. The records are shared with the queue until acknowledged
// and must not be modified. Records are read from disk as needed; only
// the records peeked are held in memory.
func (q *Queue) Peek(n int) ([][]byte, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, ErrClosed
	}
	if err := q.fill(n); err != nil {
		return nil, err
	}
	return slices.Clone(q.ahead[:min(n, len(q.ahead))]), nil
}

// fill reads records until ahead holds n (or every record).
func (q *Queue) fill(n int) error {
	for len(q.ahead) < n && len(q.ahead) < q.records {
		rec, err := q.readNext()
		if err != nil {
			return err
		}
		if rec == nil {
			break
		}
		q.ahead = append(q.ahead, rec)
	}
	return nil
}

// readNext reads the record at the read cursor, or returns nil at the
// end. A record that no longer reads back intact (the file changed under
// the queue) ends its segment: the rest of it is counted as corrupt.
func (q *Queue) readNext() ([]byte, error) {
	for q.ridx < len(q.segs) {
		s := &q.segs[q.ridx]
		if q.rrecs >= s.recs {
			if q.ridx == len(q.segs)-1 {
				return nil, nil
			}
			q.closeReader()
			q.ridx++
			q.roff, q.rrecs = 0, 0
			continue
		}
		if q.rf == nil {
			f, err := os.Open(filepath.Join(q.dir, segName(s.num)))
			if err != nil {
				return nil, fmt.Errorf("spool: %w", err)
			}
			if _, err := f.Seek(q.roff, io.SeekStart); err != nil {
				f.Close()
				return nil, fmt.Errorf("spool: %w", err)
			}
			q.rf = f
			if q.rbuf == nil {
				q.rbuf = bufio.NewReaderSize(f, 64<<10)
			} else {
				q.rbuf.Reset(f)
			}
		}
		rec, err := readFrame(q.rbuf, nil, s.size-q.roff)
		if err != nil {
			// Not what was written: keep what was read, drop the rest of
			// the segment.
			lostRecs, lostBytes := s.recs-q.rrecs, s.size-q.roff
			q.log.Warn("spool: a record no longer reads back; the rest of its segment is discarded",
				"segment", filepath.Join(q.dir, segName(s.num)), "offset", q.roff, "records", lostRecs, "err", err)
			q.stats.CorruptBytes += lostBytes
			q.stats.CorruptSegments++
			q.records -= lostRecs
			q.bytes -= lostBytes
			s.recs, s.size = q.rrecs, q.roff
			q.total -= lostBytes
			if q.ridx == len(q.segs)-1 {
				_ = q.w.Truncate(s.size)
			}
			continue
		}
		q.roff += int64(frameHeader + len(rec))
		q.rrecs++
		return rec, nil
	}
	return nil, nil
}

// Ack consumes the n oldest records (n at most Len). The new head is
// written to disk before Ack returns; a segment whose records are all
// acknowledged is deleted.
func (q *Queue) Ack(n int) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if n < 0 || n > q.records {
		return fmt.Errorf("spool: ack %d of %d records", n, q.records)
	}
	for range n {
		// The head segment may have been consumed before a new segment
		// was started: move to the next first.
		q.advanceHead()
		if len(q.ahead) == 0 {
			if err := q.fill(1); err != nil {
				return err
			}
			if len(q.ahead) == 0 {
				break // records lost to corruption while reading
			}
		}
		size := int64(frameHeader + len(q.ahead[0]))
		q.ahead[0] = nil
		q.ahead = q.ahead[1:]
		q.headOff += size
		q.headRecs++
		q.records--
		q.bytes -= size
		q.advanceHead()
	}
	return q.writeHead()
}

// Len returns the number of unacknowledged records.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.records
}

// Bytes returns the framed size of the unacknowledged records.
func (q *Queue) Bytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// Stats returns the queue's counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.stats
	s.Records, s.Bytes, s.DiskBytes, s.Segments = q.records, q.bytes, q.total, len(q.segs)
	return s
}

// Sync makes what was pushed and acknowledged durable: it fsyncs the
// tail segment, the head and the directory.
func (q *Queue) Sync() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	return q.syncAll()
}

func (q *Queue) syncAll() error {
	if err := q.w.Sync(); err != nil {
		return fmt.Errorf("spool: sync: %w", err)
	}
	if err := q.headF.Sync(); err != nil {
		return fmt.Errorf("spool: sync: %w", err)
	}
	return syncDir(q.dir)
}

// Close syncs and closes the queue and releases the directory. The
// unacknowledged records stay for the next Open.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	err := q.syncAll()
	q.closeFiles()
	return err
}

func (q *Queue) closeFiles() {
	q.closeReader()
	if q.w != nil {
		q.w.Close()
	}
	if q.headF != nil {
		q.headF.Close()
	}
	if q.lock != nil {
		q.lock.Close() // releases the lock
	}
}

func (q *Queue) closeReader() {
	if q.rf != nil {
		q.rf.Close()
		q.rf = nil
	}
}

// resetReader puts the read cursor back at the head.
func (q *Queue) resetReader() {
	clear(q.ahead)
	q.ahead = q.ahead[:0]
	q.closeReader()
	q.ridx, q.roff, q.rrecs = 0, q.headOff, q.headRecs
}

// The head file holds two 32-byte slots, written alternately with one
// write call each: [sequence uint64][segment uint64][offset uint64]
// [crc32c of the previous 24 bytes][4 bytes zero], little-endian. The
// valid slot with the higher sequence is the head, so a write torn by a
// crash leaves the previous head in place (at worst records are delivered
// twice, never lost).
const headSlot = 32

// openHead opens the head file and returns the head it records; ok is
// false when there is none.
func (q *Queue) openHead() (seg uint64, off int64, ok bool, err error) {
	path := filepath.Join(q.dir, headName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, 0, false, fmt.Errorf("spool: %w", err)
	}
	q.headF = f
	var b [2 * headSlot]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && err != io.EOF {
		return 0, 0, false, fmt.Errorf("spool: reading %s: %w", path, err)
	}
	var best uint64
	for i := 0; i+headSlot <= n; i += headSlot {
		s := b[i : i+headSlot]
		if crc32.Checksum(s[:24], castagnoli) != binary.LittleEndian.Uint32(s[24:28]) {
			continue
		}
		seq := binary.LittleEndian.Uint64(s[0:8])
		if !ok || seq > best {
			best, ok = seq, true
			seg = binary.LittleEndian.Uint64(s[8:16])
			off = int64(binary.LittleEndian.Uint64(s[16:24]))
		}
	}
	if !ok && n > 0 {
		q.log.Warn("spool: head file unreadable; records are read again from the oldest segment", "file", path)
	}
	if off < 0 {
		off = 0
	}
	q.headSeq = best
	return seg, off, ok, nil
}

// writeHead records the head in the next slot.
func (q *Queue) writeHead() error {
	q.headSeq++
	var s [headSlot]byte
	binary.LittleEndian.PutUint64(s[0:8], q.headSeq)
	binary.LittleEndian.PutUint64(s[8:16], q.segs[0].num)
	binary.LittleEndian.PutUint64(s[16:24], uint64(q.headOff))
	binary.LittleEndian.PutUint32(s[24:28], crc32.Checksum(s[:24], castagnoli))
	if _, err := q.headF.WriteAt(s[:], int64(q.headSeq%2)*headSlot); err != nil {
		return fmt.Errorf("spool: writing head: %w", err)
	}
	if q.sync == SyncAlways {
		if err := q.headF.Sync(); err != nil {
			return fmt.Errorf("spool: sync head: %w", err)
		}
	}
	return nil
}

// syncDir fsyncs a directory, making file creations, renames and
// removals in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync %s: %w", dir, err)
	}
	return nil
}

// WriteFileAtomic replaces path with data so that a reader (or the next
// start after a crash or power loss) sees either the old content or the
// new one, never a mix: it writes a temporary file in the same directory,
// fsyncs it, renames it over path and fsyncs the directory.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}
