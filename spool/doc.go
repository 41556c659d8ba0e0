// Package spool is a durable FIFO queue of opaque byte records in a
// directory: what a backend cannot deliver now survives an outage, a
// restart and a kill -9, bounded in bytes.
//
// It sits behind the backends at the end of the pipeline (snapshot ->
// flush -> backend -> spool -> service): a backend pushes what it has to
// send, delivers from the front, and acknowledges what was delivered. The
// agent gives each backend its own directory under -state-dir.
//
// # Use
//
//	q, err := spool.Open(dir, spool.Options{MaxBytes: 64 << 20})
//	q.Push(rec)            // appended to the newest segment file
//	q.Sync()               // optional: durable against power loss too
//	recs, err := q.Peek(1) // oldest unacknowledged records, from disk
//	q.Ack(len(recs))       // consumed; the head is written at once
//	q.Close()              // the rest waits for the next Open
//
// Delivery is at least once: a record is returned by Peek until it is
// acknowledged, and a crash between delivering a record and Ack (or a
// power loss before Sync) delivers it again after the restart.
//
// # On disk
//
// Records are appended to segment files named 00000000000000000001.seg,
// ...2.seg, each record framed as [4-byte length][4-byte CRC-32C of the
// length and the payload][payload] (little-endian). A new segment starts
// when the current one reaches Options.SegmentBytes. The file "head"
// records how far the consumer has acknowledged (segment number and
// offset) in two checksummed slots written alternately, one write call
// each, so a write torn by a crash leaves the previous head valid.
// Segments whose records are all acknowledged are deleted. The file
// "lock" holds an flock while a Queue has the directory open.
//
// Open reads every segment once, streaming (memory use is bounded by the
// largest record, never by the spool's size), and validates every record.
// A torn or corrupt record (a write cut short by kill -9, a garbled disk
// block; zeroed blocks never read as records) ends its segment: the file
// is truncated there, everything before it is kept, and the discarded
// bytes are logged and counted in Stats.CorruptBytes.
//
// # Bounds
//
// The segment files never exceed Options.MaxBytes: when a Push would
// pass it, whole oldest segments are deleted, acknowledged or not, and
// the unacknowledged records among them are counted in
// Stats.DroppedRecords and DroppedBytes, never silently. Old data thus goes
// in segment-sized steps (by default an eighth of MaxBytes).
//
// # Concurrency
//
// A Queue's methods are safe for concurrent use; a mutex serialises them
// (the intended user is one backend goroutine). Only one Queue may have a
// directory open: a second Open fails with ErrLocked.
//
// # Durability
//
// With the default SyncExplicit policy every Push and Ack reaches the
// kernel before it returns (one write call, no user-space buffer), so a
// process crash or kill -9 loses nothing; Sync and Close fsync, making it
// durable against power loss too. SyncAlways fsyncs on every call.
// WriteFileAtomic is the building block for small state files (temp file,
// fsync, rename, fsync of the directory).
//
// # Adopting it in a backend (the netuitive backend, for example)
//
// The pattern the Monitis backend follows: keep the backend's
// in-memory queue type as an interface with two implementations, memory
// and spool, chosen by whether a spool directory is configured.
//
//  1. Serialize one queued unit (for netuitive, one pending POST body
//     with its element identity and original timestamps; the JSON body
//     itself is already a fine record) with a version byte in front, and
//     write a fuzzed decoder for it: records come from disk.
//  2. On Flush: encode, Push every unit, Sync once per flush (one fsync
//     per interval), then deliver from Peek(1), calling Ack(1) after each
//     success or permanent rejection; stop at the first temporary failure
//     or at the deadline, leaving the rest queued.
//  3. Replace the count bound by the byte bound: compare Stats before
//     and after each Push and count new DroppedRecords under the
//     backend's dropped metric with reason "spool_full", logging the
//     count.
//  4. On New, Open the directory: what a previous run left is delivered
//     first on the next Flush, with its original timestamps. On Close,
//     make a last attempt, then Close the queue: what is left is kept,
//     counted as spooled, not dropped.
//  5. Test against the backend's fake with fault injection: an outage
//     over several flushes, a restart in the middle of it, the bound,
//     and a segment truncated at a random offset (see the Monitis tests).
package spool
