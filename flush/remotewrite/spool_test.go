package remotewrite

import (
	"context"
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
	if n, series := b2.q.Size(); n != 2 || series != 2 {
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
	if n, _ := b2.q.Size(); n != 0 {
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
	n, series := b.q.Size()
	if dropped == 0 || float64(series)+dropped != 100 || n != series {
		t.Errorf("dropped %v + queued %d (%d requests) != 100 flushes of one series", dropped, series, n)
	}
}
