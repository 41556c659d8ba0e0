package spool

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// rec returns a distinct record of about size bytes.
func rec(i, size int) []byte {
	s := fmt.Sprintf("record-%06d|", i)
	for len(s) < size {
		s += "x"
	}
	return []byte(s)
}

func open(t *testing.T, dir string, opts Options) *Queue {
	t.Helper()
	q, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// abandon stops using q as a killed process would: the files are closed
// (releasing the lock) with no sync and no further write.
func abandon(q *Queue) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.closeFiles()
}

func push(t *testing.T, q *Queue, from, to, size int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := from; i < to; i++ {
		r := rec(i, size)
		if err := q.Push(r); err != nil {
			t.Fatalf("Push %d: %v", i, err)
		}
		out = append(out, r)
	}
	return out
}

// drain peeks and acknowledges everything, batch records at a time.
func drain(t *testing.T, q *Queue, batch int) [][]byte {
	t.Helper()
	var out [][]byte
	for range 1 << 20 {
		rs, err := q.Peek(batch)
		if err != nil {
			t.Fatalf("Peek: %v", err)
		}
		if len(rs) == 0 {
			return out
		}
		out = append(out, rs...)
		if err := q.Ack(len(rs)); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	t.Fatal("drain does not end")
	return nil
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestQueueFIFO(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		batch int
	}{
		{"one segment, ack one by one", Options{}, 1},
		{"many segments, ack in batches", Options{MaxBytes: 1 << 20, SegmentBytes: 1000}, 7},
		{"sync always", Options{MaxBytes: 1 << 20, SegmentBytes: 1000, Sync: SyncAlways}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			q := open(t, dir, tc.opts)
			want := push(t, q, 0, 100, 50)
			if q.Len() != 100 || q.Bytes() != 100*58 {
				t.Errorf("Len %d Bytes %d, want 100, %d", q.Len(), q.Bytes(), 100*58)
			}
			// Peek does not consume.
			a, _ := q.Peek(3)
			b, _ := q.Peek(5)
			if diff := cmp.Diff(want[:3], a); diff != "" {
				t.Errorf("Peek(3) (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want[:5], b); diff != "" {
				t.Errorf("Peek(5) (-want +got):\n%s", diff)
			}
			got := drain(t, q, tc.batch)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("drained (-want +got):\n%s", diff)
			}
			if q.Len() != 0 || q.Bytes() != 0 {
				t.Errorf("after drain: Len %d Bytes %d", q.Len(), q.Bytes())
			}
			// Consumed segments are deleted; only the tail stays.
			if n := len(segFiles(t, dir)); n != 1 {
				t.Errorf("%d segment files after drain, want 1", n)
			}
			// Pushing after draining works, also across a reopen.
			want = push(t, q, 100, 120, 50)
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			q = open(t, dir, tc.opts)
			if diff := cmp.Diff(want, drain(t, q, tc.batch)); diff != "" {
				t.Errorf("after reopen (-want +got):\n%s", diff)
			}
		})
	}
}

// Acknowledged records stay acknowledged across a reopen (clean or not);
// the rest come back in order.
func TestQueueReopenKeepsHead(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{MaxBytes: 1 << 20, SegmentBytes: 500}
			q := open(t, dir, opts)
			want := push(t, q, 0, 50, 40)
			for _, n := range []int{1, 12, 3} { // crosses segment boundaries
				if _, err := q.Peek(n); err != nil {
					t.Fatal(err)
				}
				if err := q.Ack(n); err != nil {
					t.Fatal(err)
				}
			}
			if clean {
				q.Close()
			} else {
				abandon(q)
			}
			q = open(t, dir, opts)
			if q.Len() != 34 {
				t.Errorf("Len after reopen = %d, want 34", q.Len())
			}
			if diff := cmp.Diff(want[16:], drain(t, q, 5)); diff != "" {
				t.Errorf("after reopen (-want +got):\n%s", diff)
			}
		})
	}
}

// Past MaxBytes whole oldest segments go, counted exactly; the newest
// records stay, in order; disk use stays within the bound.
func TestQueueBound(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 2000, SegmentBytes: 500} // 9 records of 50 bytes per segment
	q := open(t, dir, opts)
	all := push(t, q, 0, 100, 42) // 50 bytes framed, 5000 bytes in all
	st := q.Stats()
	if st.DiskBytes > opts.MaxBytes {
		t.Errorf("disk bytes %d > max %d", st.DiskBytes, opts.MaxBytes)
	}
	if st.DroppedRecords+int64(st.Records) != 100 || st.DroppedBytes != st.DroppedRecords*50 {
		t.Errorf("stats %+v: dropped + kept != pushed", st)
	}
	// 100 records in segments of 10: 4 segments fit (the last has room
	// for the next), so 60 or 70 dropped; check against the files.
	var onDisk int64
	for _, f := range segFiles(t, dir) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	if onDisk != st.DiskBytes {
		t.Errorf("segment files hold %d bytes, stats say %d", onDisk, st.DiskBytes)
	}
	got := drain(t, q, 10)
	if diff := cmp.Diff(all[st.DroppedRecords:], got); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if st.DroppedRecords == 0 {
		t.Error("nothing dropped")
	}
	// Dropping partly acknowledged segments counts only the unacknowledged.
	dir = t.TempDir()
	q = open(t, dir, opts)
	push(t, q, 0, 9, 42)
	if err := q.Ack(4); err != nil {
		t.Fatal(err)
	}
	push(t, q, 9, 100, 42)
	st = q.Stats()
	if st.DroppedRecords+int64(st.Records) != 96 {
		t.Errorf("stats %+v: dropped + kept != 96 unacknowledged", st)
	}
	if diff := cmp.Diff(all[4+st.DroppedRecords:], drain(t, q, 3)); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

// A smaller MaxBytes at Open applies at once.
func TestQueueBoundShrinksAtOpen(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{MaxBytes: 10000, SegmentBytes: 500})
	all := push(t, q, 0, 100, 42)
	q.Close()
	q = open(t, dir, Options{MaxBytes: 1000, SegmentBytes: 500})
	st := q.Stats()
	if st.DiskBytes > 1000 || st.DroppedRecords == 0 {
		t.Errorf("stats %+v", st)
	}
	if diff := cmp.Diff(all[st.DroppedRecords:], drain(t, q, 10)); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}

func TestQueueErrors(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{MaxBytes: 1000, SegmentBytes: 100})
	if err := q.Push(nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("Push(nil) = %v", err)
	}
	if err := q.Push(make([]byte, 93)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Push(93 bytes) = %v", err)
	}
	if err := q.Push(make([]byte, 92)); err != nil {
		t.Errorf("Push(92 bytes) = %v", err)
	}
	if err := q.Ack(2); err == nil {
		t.Error("Ack past Len accepted")
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
	q.Close()
	if err := q.Push([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Push after Close = %v", err)
	}
	for _, o := range []Options{{MaxBytes: 10}, {MaxBytes: 1000, SegmentBytes: 600}, {MaxBytes: 1000, SegmentBytes: 5}} {
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Errorf("Open(%+v) accepted", o)
		}
	}
}

// Simulated kill -9: the process dies (no Close), then the last segment
// is cut at a random offset or a random byte of any segment is changed.
// Reopening keeps every record before the damage and every record of the
// later segments, counts the discarded bytes, and the queue works on.
func TestQueueKillAndDamage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 30 {
		truncate := iter%2 == 0
		t.Run(fmt.Sprintf("%d/truncate=%v", iter, truncate), func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{MaxBytes: 1 << 20, SegmentBytes: 1000}
			q := open(t, dir, opts)
			// Records of random sizes; some acknowledged.
			var want [][]byte
			n := 20 + rng.IntN(80)
			for i := range n {
				r := rec(i, 14+rng.IntN(100))
				if err := q.Push(r); err != nil {
					t.Fatal(err)
				}
				want = append(want, r)
			}
			acked := rng.IntN(n / 2)
			if err := q.Ack(acked); err != nil {
				t.Fatal(err)
			}
			// Where each record lives, from the queue's own bookkeeping.
			type loc struct {
				seg      string
				from, to int64
			}
			var locs []loc
			for _, s := range q.segs {
				f, _ := os.Open(filepath.Join(dir, segName(s.num)))
				var off int64
				scanSegment(f, s.size, func(r []byte) {
					locs = append(locs, loc{segName(s.num), off, off + int64(frameHeader+len(r))})
					off += int64(frameHeader + len(r))
				})
				f.Close()
			}
			// The first segment may hold acknowledged records already gone
			// from want's unacknowledged part: align locs with want.
			first := n - len(locs)
			abandon(q)

			files := segFiles(t, dir)
			var target string
			var at int64
			if truncate {
				target = files[len(files)-1]
			} else {
				target = files[rng.IntN(len(files))]
			}
			fi, _ := os.Stat(target)
			if fi.Size() == 0 {
				t.Skip("empty tail")
			}
			at = rng.Int64N(fi.Size())
			if truncate {
				if err := os.Truncate(target, at); err != nil {
					t.Fatal(err)
				}
			} else {
				b, _ := os.ReadFile(target)
				b[at] ^= byte(1 + rng.IntN(255))
				if err := os.WriteFile(target, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// Expected: the records not damaged, minus the rest of the
			// damaged segment.
			var expect [][]byte
			var lostBytes int64
			damaged := false
			for i, l := range locs {
				if l.seg == filepath.Base(target) {
					if damaged || at < l.to {
						if !damaged {
							lostBytes = fi.Size() - l.from
							if truncate {
								lostBytes = at - l.from
							}
						}
						damaged = true
						continue
					}
				}
				if first+i >= acked {
					expect = append(expect, want[first+i])
				}
			}
			q = open(t, dir, opts)
			st := q.Stats()
			if st.CorruptBytes != lostBytes {
				t.Errorf("corrupt bytes %d, want %d", st.CorruptBytes, lostBytes)
			}
			if lostBytes > 0 && st.CorruptSegments != 1 {
				t.Errorf("corrupt segments %d, want 1", st.CorruptSegments)
			}
			if q.Len() != len(expect) {
				t.Errorf("Len %d, want %d", q.Len(), len(expect))
			}
			// The queue keeps working after the repair.
			more := push(t, q, 1000, 1010, 30)
			got := drain(t, q, 4)
			if diff := cmp.Diff(append(expect, more...), got); diff != "" {
				t.Errorf("after damage at %d of %s (-want +got):\n%s", at, filepath.Base(target), diff)
			}
		})
	}
}

// A torn or garbled head falls back to the other slot (at worst records
// are delivered again, never lost); with both slots gone everything is
// read again from the oldest segment.
func TestQueueHeadDamage(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 1 << 20, SegmentBytes: 400}
	q := open(t, dir, opts)
	all := push(t, q, 0, 30, 30)
	if err := q.Ack(3); err != nil {
		t.Fatal(err)
	}
	seq := q.headSeq // this slot says 3; the other says fewer
	if err := q.Ack(4); err != nil {
		t.Fatal(err)
	}
	abandon(q)
	head := filepath.Join(dir, headName)
	b, _ := os.ReadFile(head)
	last := int((seq+1)%2) * headSlot
	b[last+10] ^= 0xff // the latest slot (7 acknowledged) is garbled
	os.WriteFile(head, b, 0o644)
	q = open(t, dir, opts)
	if diff := cmp.Diff(all[3:], drain(t, q, 100)); diff != "" {
		t.Errorf("after a garbled head slot (-want +got):\n%s", diff)
	}
	q.Close()

	dir = t.TempDir()
	q = open(t, dir, opts)
	all = push(t, q, 0, 8, 30)
	q.Ack(3)
	q.Close()
	os.WriteFile(filepath.Join(dir, headName), []byte("garbage"), 0o644)
	q = open(t, dir, opts)
	if diff := cmp.Diff(all, drain(t, q, 100)); diff != "" {
		t.Errorf("after a lost head (-want +got):\n%s", diff)
	}
}

// A random mix of operations, with crashes, against a slice: one mix
// where the queue grows into the bound, one where acknowledgements often
// empty it (so segments end fully acknowledged before the next starts).
func TestQueueModel(t *testing.T) {
	for _, tc := range []struct {
		name       string
		push, peek int // weights out of 20; acks get 18-push-peek, reopens 2
		steps      int
	}{
		{"growing", 10, 4, 1500},
		{"draining", 7, 3, 1500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			dir := t.TempDir()
			opts := Options{MaxBytes: 6000, SegmentBytes: 700}
			q := open(t, dir, opts)
			var model [][]byte
			next := 0
			var dropped int64
			for step := range tc.steps {
				op := rng.IntN(20)
				switch {
				case op < tc.push:
					r := rec(next, 14+rng.IntN(60))
					next++
					if err := q.Push(r); err != nil {
						t.Fatal(err)
					}
					model = append(model, r)
					if d := q.Stats().DroppedRecords; d > dropped {
						model = model[d-dropped:]
						dropped = d
					}
				case op < tc.push+tc.peek:
					n := rng.IntN(6)
					got, err := q.Peek(n)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(model[:min(n, len(model))], got, cmpopts.EquateEmpty()); diff != "" {
						t.Fatalf("step %d: Peek(%d) (-want +got):\n%s", step, n, diff)
					}
				case op < 18:
					n := rng.IntN(min(5, len(model)) + 1)
					if err := q.Ack(n); err != nil {
						t.Fatal(err)
					}
					model = model[n:]
				case op == 18:
					abandon(q)
					q = open(t, dir, opts)
					dropped = 0
				default:
					q.Close()
					q = open(t, dir, opts)
					dropped = 0
				}
				if q.Len() != len(model) {
					t.Fatalf("step %d: Len %d, model %d", step, q.Len(), len(model))
				}
				if st := q.Stats(); st.DiskBytes > opts.MaxBytes {
					t.Fatalf("step %d: disk bytes %d", step, st.DiskBytes)
				}
			}
			if diff := cmp.Diff(model, drain(t, q, 7), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("final (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, content := range []string{"first", "second, longer", "3"} {
		if err := WriteFileAtomic(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != content {
			t.Errorf("read %q, %v; want %q", b, err, content)
		}
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"state.json"}) {
		t.Errorf("files left: %v", names)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("write into a missing dir: %v", err)
	}
}
