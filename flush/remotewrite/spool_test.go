package remotewrite

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/statsd-agent/statsd-agent/flush/remotewrite/remotewritetest"
)

// TestSpoolSurvivesRestart: during an outage flushes go to the spool; the
// backend is closed (they stay on disk, not dropped), a new one on the same
// directory delivers them first, in order, with their original timestamps,
// then its own (whose totals restart from zero: a counter reset).
func TestSpoolSurvivesRestart(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	dir := t.TempDir()
	b, clock := newTestBackend(t, Config{URL: rcv.URL(), RequestsPerSecond: -1, SpoolDir: dir}, nil, nil)
	clock.refuse = true
	rcv.Fail(remotewritetest.Failure{Status: 503}, remotewritetest.Failure{Status: 503}, remotewritetest.Failure{Status: 503}) // Close's last attempt fails too
	for i := range 2 {
		if err := b.Flush(deadline(t), counterSnap(i, float64(i+1))); err == nil {
			t.Fatalf("flush %d delivered during the outage", i)
		}
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("Close with a spool: %v", err)
	}
	if got := testutil.ToFloat64(b.m.dropped.WithLabelValues("closed")); got != 0 {
		t.Errorf("spooled requests counted as dropped: %v", got)
	}
	b2, _ := newTestBackend(t, Config{URL: rcv.URL(), RequestsPerSecond: -1, SpoolDir: dir}, nil, nil)
	if n, series := b2.q.size(); n != 2 || series != 2 {
		t.Fatalf("reopened spool holds %d requests, %d series", n, series)
	}
	if err := b2.Flush(deadline(t), counterSnap(2, 5)); err != nil {
		t.Fatal(err)
	}
	if got := totals(rcv); !equalFloats(got, []float64{1, 3, 5}) {
		t.Errorf("delivered %v, want [1 3 5] (spooled first, then the restarted total)", got)
	}
	var ts []int64
	for _, wr := range rcv.Requests() {
		ts = append(ts, wr.Timeseries[0].Samples[0].Timestamp)
	}
	if len(ts) != 3 || !(ts[0] < ts[1] && ts[1] < ts[2]) {
		t.Errorf("timestamps %v not in flush order", ts)
	}
	if n, _ := b2.q.size(); n != 0 {
		t.Errorf("%d requests left", n)
	}
	b2.Close(context.Background())
}

// TestSpoolBound: past SpoolMaxBytes the spool drops whole old segments;
// their series are counted with reason spool_full.
func TestSpoolBound(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	b, clock := newTestBackend(t, Config{URL: rcv.URL(), RequestsPerSecond: -1, SpoolDir: t.TempDir(), SpoolMaxBytes: 1024}, nil, nil)
	defer b.Close(context.Background())
	clock.refuse = true
	for i := range 100 {
		rcv.Fail(remotewritetest.Failure{Status: 503})
		_ = b.Flush(deadline(t), counterSnap(i, 1))
	}
	dropped := testutil.ToFloat64(b.m.dropped.WithLabelValues("spool_full"))
	n, series := b.q.size()
	if dropped == 0 || float64(series)+dropped != 100 || n != series {
		t.Errorf("dropped %v + queued %d (%d requests) != 100 flushes of one series", dropped, series, n)
	}
}

// TestSpoolUnreadableRecord: a record this version cannot decode is
// skipped (logged), the rest is delivered.
func TestSpoolUnreadableRecord(t *testing.T) {
	rcv := remotewritetest.NewReceiver()
	defer rcv.Close()
	dir := t.TempDir()
	var log bytes.Buffer
	b, clock := newTestBackend(t, Config{URL: rcv.URL(), RequestsPerSecond: -1, SpoolDir: dir}, nil, &log)
	clock.refuse = true
	rcv.Fail(remotewritetest.Failure{Status: 503})
	_ = b.Flush(deadline(t), counterSnap(0, 1))
	sq := b.q.(*spoolQueue)
	if err := sq.q.Push([]byte{9, 9, 9}); err != nil { // a future version's record
		t.Fatal(err)
	}
	sq.counts = append(sq.counts, 0)
	if err := b.Flush(deadline(t), counterSnap(1, 1)); err != nil {
		t.Fatal(err)
	}
	if got := totals(rcv); !equalFloats(got, []float64{1, 2}) {
		t.Errorf("delivered %v", got)
	}
	if !bytes.Contains(log.Bytes(), []byte("unreadable spool record")) {
		t.Errorf("not logged:\n%s", log.String())
	}
	b.Close(context.Background())
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		t.Error("spool directory empty")
	}
}

// FuzzDecodeRecord: records come from disk; decoding never panics and
// round-trips what encodeRecord wrote.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(request{body: []byte("x"), series: 3}))
	f.Add([]byte{1})
	f.Add([]byte{1, 0x80})
	f.Add([]byte{2, 1, 'a'})
	f.Fuzz(func(t *testing.T, rec []byte) {
		r, err := decodeRecord(rec)
		if err != nil {
			return
		}
		again, err := decodeRecord(encodeRecord(r))
		if err != nil || again.series != r.series || !bytes.Equal(again.body, r.body) {
			t.Fatalf("round trip: %+v -> %+v, %v", r, again, err)
		}
	})
}
