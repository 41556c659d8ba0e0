package expohist

import (
	"testing"
)

// FuzzSpans checks that Spans decode back to the dense buckets they
// were built from, for any counts and offset, and never hold an empty span.
func FuzzSpans(f *testing.F) {
	f.Add(int32(0), []byte{1, 0, 0, 0, 2, 0, 0, 3})
	f.Add(int32(-70), []byte{0, 0, 5, 0, 0, 0, 0, 0, 1})
	f.Add(int32(3), []byte{})
	f.Fuzz(func(t *testing.T, off int32, raw []byte) {
		if off > 1<<20 || off < -1<<20 {
			return
		}
		counts := make([]float64, len(raw))
		for i, c := range raw {
			counts[i] = float64(c % 7) // many zero runs
		}
		spans, deltas := Spans(Buckets{Offset: off, Counts: counts})
		got := map[int32]int64{}
		idx := int32(0)
		var c int64
		k := 0
		for i, s := range spans {
			if s.Length == 0 {
				t.Fatalf("empty span %d", i)
			}
			if i == 0 {
				idx = s.Offset
			} else {
				idx += s.Offset
			}
			for range s.Length {
				c += deltas[k]
				k++
				if c != 0 {
					got[idx] = c
				}
				idx++
			}
		}
		if k != len(deltas) {
			t.Fatalf("%d deltas, spans cover %d", len(deltas), k)
		}
		want := map[int32]int64{}
		for i, v := range counts {
			if v != 0 {
				want[off+int32(i)] = int64(v)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("decoded %v, want %v", got, want)
		}
		for i, v := range want {
			if got[i] != v {
				t.Fatalf("bucket %d: %d, want %d", i, got[i], v)
			}
		}
	})
}
