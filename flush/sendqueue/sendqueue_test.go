package sendqueue

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/statsd-agent/statsd-agent/spool"
)

func req(body string, items int) Request[string] {
	return Request[string]{Body: []byte(body), Items: items, Msg: "decoded " + body}
}

func TestMemoryBound(t *testing.T) {
	q := NewMemory[string](5)
	dropped, err := q.Push([]Request[string]{req("a", 2), req("b", 2), req("c", 2)})
	if err != nil || dropped != 2 {
		t.Fatalf("dropped %d err %v, want the oldest (2 items)", dropped, err)
	}
	if n, items := q.Size(); n != 2 || items != 4 {
		t.Errorf("size %d/%d", n, items)
	}
	r, _ := q.Front()
	if string(r.Body) != "b" || r.Msg != "decoded b" {
		t.Errorf("front %+v", r)
	}
	_ = q.Pop()
	_ = q.Pop()
	if r, _ := q.Front(); r != nil {
		t.Errorf("front of an empty queue %+v", r)
	}
}

// The spool keeps requests in order across a reopen, without Msg, and skips
// a record it cannot read (logging it) instead of blocking.
func TestSpoolReopenAndUnreadable(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenSpool[string](dir, 0, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Push([]Request[string]{req("one", 1), req("two", 2)}); err != nil {
		t.Fatal(err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Push([]byte{9, 9, 9}); err != nil { // a future version's record
		t.Fatal(err)
	}
	raw.Close()
	raw, _ = spool.Open(dir, spool.Options{})
	if err := raw.Push(EncodeRecord(req("three", 3))); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	var log bytes.Buffer
	q, err = OpenSpool[string](dir, 0, slog.New(slog.NewTextHandler(&log, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if n, items := q.Size(); n != 4 || items != 6 {
		t.Errorf("size after reopen %d/%d, want 4 records, 6 items", n, items)
	}
	var got []string
	for {
		r, err := q.Front()
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			break
		}
		if r.Msg != "" {
			t.Errorf("Msg survived the spool: %q", r.Msg)
		}
		got = append(got, string(r.Body))
		if err := q.Pop(); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"one", "two", "three"}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if !bytes.Contains(log.Bytes(), []byte("test: skipping an unreadable spool record")) {
		t.Errorf("unreadable record not logged:\n%s", log.String())
	}
}

func TestSpoolBoundCountsDropped(t *testing.T) {
	q, err := OpenSpool[string](t.TempDir(), 1024, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	total := 0
	for i := 0; i < 100; i++ {
		d, err := q.Push([]Request[string]{req("0123456789012345678901234567890123456789", 1)})
		if err != nil {
			t.Fatal(err)
		}
		total += d
	}
	_, items := q.Size()
	if total == 0 || total+items != 100 {
		t.Errorf("dropped %d + queued %d != 100 pushed", total, items)
	}
}

// FuzzDecodeRecord: records come from disk; decoding never panics and
// round-trips what EncodeRecord wrote.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(EncodeRecord(req("x", 3)))
	f.Add([]byte{1})
	f.Add([]byte{1, 0x80})
	f.Add([]byte{2, 1, 'a'})
	f.Fuzz(func(t *testing.T, rec []byte) {
		r, err := DecodeRecord[string](rec)
		if err != nil {
			return
		}
		again, err := DecodeRecord[string](EncodeRecord(r))
		if err != nil || again.Items != r.Items || !bytes.Equal(again.Body, r.Body) {
			t.Fatalf("round trip: %+v -> %+v, %v", r, again, err)
		}
	})
}
