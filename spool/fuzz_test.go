package spool

import (
	"bytes"
	"errors"
	"testing"
)

// splitRecords cuts b into non-empty records at the 0xff bytes (the
// fuzzer's way of choosing records).
func splitRecords(b []byte) [][]byte {
	var out [][]byte
	for _, r := range bytes.Split(b, []byte{0xff}) {
		if len(r) > 0 {
			out = append(out, r)
		}
	}
	return out
}

// FuzzScanSegment: a segment reader fed valid records followed by any
// bytes never panics, returns every valid record written before the
// garbage, in order, and reports a valid length that re-frames exactly
// to the bytes it accepted.
func FuzzScanSegment(f *testing.F) {
	one := appendFrame(nil, []byte("hello"))
	for _, seed := range []struct{ recs, garbage []byte }{
		{[]byte("a\xffbc\xffdef"), nil},
		{[]byte("a\xffbc"), []byte{1, 2, 3}},                   // torn header
		{[]byte("a"), one[:len(one)-2]},                        // torn payload
		{[]byte("a"), make([]byte, 64)},                        // zeroed blocks
		{nil, []byte{5, 0, 0, 0, 0, 0, 0, 0, 'h', 'e', 'l'}},   // bad checksum, short
		{nil, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 'x'}}, // huge length
		{[]byte("x\xffy"), append([]byte{}, one...)},           // a valid record as "garbage"
	} {
		f.Add(seed.recs, seed.garbage)
	}
	f.Fuzz(func(t *testing.T, recs, garbage []byte) {
		want := splitRecords(recs)
		var data []byte
		for _, r := range want {
			data = appendFrame(data, r)
		}
		prefix := len(data)
		data = append(data, garbage...)
		var got [][]byte
		valid, n, err := scanSegment(bytes.NewReader(data), int64(len(data)), func(r []byte) {
			got = append(got, bytes.Clone(r))
		})
		if err != nil && !errors.Is(err, errTorn) {
			t.Fatalf("unexpected error %v", err)
		}
		if n != len(got) || valid > int64(len(data)) || valid < int64(prefix) {
			t.Fatalf("valid %d (prefix %d, len %d), n %d, got %d", valid, prefix, len(data), n, len(got))
		}
		if (err == nil) != (valid == int64(len(data))) {
			t.Fatalf("err %v with valid %d of %d", err, valid, len(data))
		}
		if len(got) < len(want) {
			t.Fatalf("lost valid records: got %d, want at least %d", len(got), len(want))
		}
		for i, r := range want {
			if !bytes.Equal(got[i], r) {
				t.Fatalf("record %d = %q, want %q", i, got[i], r)
			}
		}
		var re []byte
		for _, r := range got {
			re = appendFrame(re, r)
		}
		if !bytes.Equal(re, data[:valid]) {
			t.Fatalf("accepted bytes do not re-frame")
		}
	})
}
