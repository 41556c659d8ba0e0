package otlp

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"

	"github.com/statsd-agent/statsd-agent/flush/otlp/otlptest"
)

// TestSpoolSurvivesRestart over gRPC: exports that failed during an outage
// stay on disk across Close, and a new backend on the same directory sends
// them first (decoded back from the spool), then its own.
func TestSpoolSurvivesRestart(t *testing.T) {
	rcv := startReceiver(t)
	dir := t.TempDir()
	cfg := Config{Protocol: ProtocolGRPC, Endpoint: rcv.GRPCAddr(), Temporality: TemporalityDelta, SpoolDir: dir}
	b, _ := newTestBackend(t, cfg, nil)
	b.sleep = func(context.Context, time.Duration) bool { return false }
	for range 3 { // two flushes and Close's last attempt
		rcv.Fail(otlptest.Failure{Code: codes.Unavailable, Message: "down"})
	}
	for i := range 2 {
		if err := b.Flush(withDeadline(t), snap(i, float64(i+1))); err == nil {
			t.Fatalf("flush %d delivered during the outage", i)
		}
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b2, _ := newTestBackend(t, cfg, nil)
	if n, points := b2.q.Size(); n != 2 || points != 2 {
		t.Fatalf("reopened spool: %d exports, %d points", n, points)
	}
	if err := b2.Flush(withDeadline(t), snap(2, 5)); err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, er := range rcv.Requests() {
		got = append(got, er.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].GetSum().DataPoints[0].GetAsDouble())
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 5 {
		t.Errorf("delivered %v, want [1 2 5]", got)
	}
	if d := testutil.ToFloat64(b.m.dropped.WithLabelValues("closed")); d != 0 {
		t.Errorf("spooled exports counted as dropped: %v", d)
	}
}
