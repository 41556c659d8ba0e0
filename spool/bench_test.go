package spool

import (
	"strconv"
	"testing"
)

// Push throughput: one write call per record, no fsync (the default).
func BenchmarkPush(b *testing.B) {
	for _, tc := range []struct {
		name string
		size int
		sync SyncPolicy
	}{
		{"100B", 100, SyncExplicit},
		{"1KiB", 1024, SyncExplicit},
		{"100B/SyncAlways", 100, SyncAlways},
	} {
		b.Run(tc.name, func(b *testing.B) {
			q, err := Open(b.TempDir(), Options{MaxBytes: 1 << 30, Sync: tc.sync})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			r := make([]byte, tc.size)
			b.SetBytes(int64(tc.size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := q.Push(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Peek and Ack throughput over records already on disk, one at a time (as
// a backend delivers) and in batches of 100.
func BenchmarkPeekAck(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run("batch"+strconv.Itoa(batch), func(b *testing.B) {
			q, err := Open(b.TempDir(), Options{MaxBytes: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			r := make([]byte, 100)
			n := (b.N + batch - 1) / batch * batch
			for range n {
				if err := q.Push(r); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(100)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < n; i += batch {
				rs, err := q.Peek(batch)
				if err != nil || len(rs) != batch {
					b.Fatal(len(rs), err)
				}
				if err := q.Ack(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
