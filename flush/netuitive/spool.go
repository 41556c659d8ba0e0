package netuitive

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/statsd-agent/statsd-agent/spool"
)

// With Config.SpoolDir the queue lives in a spool.Queue: every post is one
// record, pushed before it is sent and acknowledged once it is resolved
// (accepted, rejected, or dropped by the kill switch). Only the head post
// (and, after a 413, the parts it was split into) is held in memory, in
// Backend.queue; the spool record is acknowledged when all its parts are
// resolved, so a crash in between sends the whole post again (delivery is
// at least once).

// recordVersion is the first byte of a spooled post.
const recordVersion = 1

// encodeRecord appends p's spool record to dst: the version byte, the
// kind byte, the item count (uvarint) and the JSON body as encoded (its
// timestamps are the original ones).
func encodeRecord(dst []byte, p post) []byte {
	dst = append(dst, recordVersion, byte(p.kind))
	dst = binary.AppendUvarint(dst, uint64(p.items))
	return append(dst, p.body...)
}

// errBadRecord means a spool record is not a spooled post.
var errBadRecord = errors.New("not a spooled netuitive post")

// decodeRecord decodes a record written by encodeRecord. The body shares
// rec's memory. It checks what delivery relies on: a known kind, a
// positive item count and a body that is a JSON array.
func decodeRecord(rec []byte) (post, error) {
	if len(rec) < 2 || rec[0] != recordVersion {
		return post{}, fmt.Errorf("%w: unknown version", errBadRecord)
	}
	k := kind(rec[1])
	if k != kindIngest && k != kindEvents {
		return post{}, fmt.Errorf("%w: unknown kind %d", errBadRecord, rec[1])
	}
	items, n := binary.Uvarint(rec[2:])
	if n <= 0 || items == 0 || items > uint64(len(rec)) {
		return post{}, fmt.Errorf("%w: bad item count", errBadRecord)
	}
	body := rec[2+n:]
	if len(body) < 2 || body[0] != '[' || !json.Valid(body) {
		return post{}, fmt.Errorf("%w: body is not a JSON array", errBadRecord)
	}
	return post{kind: k, body: body, items: int(items)}, nil
}

// openSpool opens the spool directory at New, reports what a previous run
// left and moves an old QueueFile into it.
func (b *Backend) openSpool() error {
	q, err := spool.Open(b.cfg.SpoolDir, spool.Options{MaxBytes: b.cfg.SpoolMaxBytes, Logger: b.log})
	if err != nil {
		return fmt.Errorf("netuitive: spool %s: %w", b.cfg.SpoolDir, err)
	}
	b.spool = q
	if n := q.Len(); n > 0 {
		b.log.Info("netuitive: posts spooled by the previous run will be delivered first on the next flush",
			"posts", n, "bytes", q.Bytes(), "dir", b.cfg.SpoolDir)
	}
	// Open may already have dropped old data (a smaller bound than the
	// last run's) or discarded a torn tail.
	b.spoolStats()
	if b.cfg.QueueFile != "" {
		if err := b.migrateQueueFile(); err != nil {
			q.Close()
			b.spool = nil
			return err
		}
	}
	b.updateQueueGauges()
	return nil
}

// migrateQueueFile moves the posts of a queue file (written by a run
// without a spool) into the spool, behind what is there, and removes it.
func (b *Backend) migrateQueueFile() error {
	path := b.cfg.QueueFile
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netuitive: queue file: %w", err)
	}
	posts, bad, err := readQueue(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("netuitive: queue file %s: %w", path, err)
	}
	if bad > 0 {
		b.log.Error("netuitive: skipped unreadable lines of the queue file", "file", path, "lines", bad)
	}
	if _, err := b.spoolPush(posts); err != nil {
		return fmt.Errorf("netuitive: moving %s into the spool: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("netuitive: queue file: %w", err)
	}
	b.log.Info("netuitive: moved the undelivered posts of the queue file into the spool", "file", path, "posts", len(posts))
	return nil
}

// spoolPush appends posts to the spool and fsyncs once. A post too large
// for a spool segment is split in halves until it fits. It returns the
// number of posts the byte bound dropped (counted and logged by
// spoolStats); a post that cannot be written is dropped, counted
// (reason spool_error) and reported in err.
func (b *Backend) spoolPush(posts []post) (dropped int64, err error) {
	var errs []error
	var push func(p post)
	push = func(p post) {
		b.rec = encodeRecord(b.rec[:0], p)
		perr := b.spool.Push(b.rec)
		if errors.Is(perr, spool.ErrTooLarge) {
			if first, second, ok := halve(p.kind, p.body); ok {
				push(first.post)
				push(second.post)
				return
			}
		}
		if perr != nil {
			b.m.dropped.WithLabelValues(itemName(p.kind), "spool_error").Add(float64(p.items))
			errs = append(errs, fmt.Errorf("spool a post of %d %s: %w", p.items, itemName(p.kind), perr))
		}
	}
	for _, p := range posts {
		push(p)
	}
	if len(posts) > 0 {
		if serr := b.spool.Sync(); serr != nil {
			errs = append(errs, serr)
		}
	}
	if len(b.rec) > 1<<20 {
		b.rec = nil // do not keep a large scratch buffer between flushes
	}
	dropped = b.spoolStats()
	if len(errs) > 0 {
		err = errors.Join(errs...)
		b.log.Error("netuitive: writing posts to the spool failed; they are dropped", "error", err.Error())
	}
	return dropped, err
}

// spoolStats counts what the spool dropped (byte bound) or discarded
// (torn or corrupt data) since the last call, logs it, updates the spool
// gauges, and returns the number of posts dropped by the bound.
func (b *Backend) spoolStats() int64 {
	st := b.spool.Stats()
	dropped := st.DroppedRecords - b.spoolSeen.DroppedRecords
	if dropped > 0 {
		// The oldest unacknowledged record goes first: the head held in
		// memory is among the dropped posts.
		b.queue, b.queuedItems = nil, [2]int{}
		b.m.dropped.WithLabelValues("posts", "spool_full").Add(float64(dropped))
		b.log.Warn("netuitive: spool full, oldest posts dropped", "dropped", dropped,
			"bytes", st.DroppedBytes-b.spoolSeen.DroppedBytes, "spool_max_bytes", b.cfg.SpoolMaxBytes)
	}
	if c := st.CorruptBytes - b.spoolSeen.CorruptBytes; c > 0 {
		b.m.spoolCorrupt.Add(float64(c))
		b.log.Warn("netuitive: the spool held torn or corrupt data (a write cut short by a crash or kill -9?); the intact posts are kept",
			"discarded_bytes", c, "dir", b.cfg.SpoolDir)
	}
	b.spoolSeen = st
	b.m.spoolBytes.Set(float64(st.DiskBytes))
	b.m.spoolPosts.Set(float64(st.Records))
	return dropped
}

// loadHead reads the oldest spooled post into the memory queue. It reports
// false when the spool is empty or cannot be read (logged). A record that
// does not decode is dropped and counted (reason corrupt).
func (b *Backend) loadHead() bool {
	for {
		recs, err := b.spool.Peek(1)
		b.spoolStats() // reading may find damaged data
		if err != nil {
			b.log.Error("netuitive: reading the spool failed; the posts stay spooled", "error", err.Error())
			return false
		}
		if len(recs) == 0 {
			return false
		}
		p, err := decodeRecord(recs[0])
		if err != nil {
			b.m.dropped.WithLabelValues("posts", "corrupt").Inc()
			b.log.Warn("netuitive: a spooled post is unreadable and dropped", "error", err.Error())
			if err := b.spool.Ack(1); err != nil {
				b.log.Error("netuitive: recording a dropped post in the spool failed", "error", err.Error())
				return false
			}
			continue
		}
		b.queue = []queued{{post: p}}
		b.queuedItems = [2]int{}
		b.queuedItems[p.kind] = p.items
		return true
	}
}

// ackHead records in the spool that the head post is resolved.
func (b *Backend) ackHead() {
	if err := b.spool.Ack(1); err != nil {
		// The post may be sent again after a restart.
		b.log.Error("netuitive: recording a delivery in the spool failed", "error", err.Error())
	}
	b.spoolStats()
}

// dropSpool empties the spool (kill switch) and counts the posts dropped
// under reason, except the head post held in memory (loaded), which the
// caller counts in samples or events.
func (b *Backend) dropSpool(reason string, loaded bool) int {
	n := b.spool.Len()
	if n == 0 {
		return 0
	}
	if err := b.spool.Ack(n); err != nil {
		b.log.Error("netuitive: emptying the spool failed", "error", err.Error())
	}
	if loaded {
		n--
	}
	b.m.dropped.WithLabelValues("posts", reason).Add(float64(n))
	b.spoolStats()
	return n
}

// spoolPending describes the spool for errors.
func (b *Backend) spoolPending() string {
	return fmt.Sprintf("%d posts (%d bytes) spooled", b.spool.Len(), b.spool.Bytes())
}

// closeSpool is Close with a spool: a last delivery attempt within ctx,
// then the spool is closed with what is left in it.
func (b *Backend) closeSpool(ctx context.Context) error {
	if !b.stopped {
		_ = b.deliver(ctx) // what is left stays spooled, reported below
	}
	n := b.spool.Len()
	b.spoolStats()
	err := b.spool.Close()
	b.spool, b.closed = nil, true
	b.queue, b.queuedItems = nil, [2]int{}
	b.updateQueueGauges()
	if n > 0 {
		b.m.spooled.Add(float64(n))
		b.log.Info("netuitive: undelivered posts kept in the spool for the next start", "posts", n, "dir", b.cfg.SpoolDir)
	}
	if err != nil {
		return fmt.Errorf("netuitive: close the spool: %w", err)
	}
	return nil
}
