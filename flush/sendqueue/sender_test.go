package sendqueue

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestSender(t *testing.T, limit int, spoolDir string) (*Sender[string], Metrics, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	m := Metrics{
		Dropped:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dropped"}, []string{"reason"}),
		Queued:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "queued"}),
		QueuedReqs: prometheus.NewGauge(prometheus.GaugeOpts{Name: "queued_reqs"}),
	}
	s, err := NewSender[string](Config{
		QueueLimit: limit, SpoolDir: spoolDir, Log: slog.New(slog.NewTextHandler(&log, nil)), Metrics: m,
		Names: Names{Backend: "tb", Kind: "TB", Requests: "reqs", Items: "points", ItemsText: "data points"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, m, &log
}

// Overflow drops the oldest, counts and logs it with the backend's words,
// and keeps the gauges.
func TestSenderEnqueueOverflow(t *testing.T) {
	s, m, log := newTestSender(t, 4, "")
	if err := s.Enqueue([]Request[string]{req("a", 2), req("b", 2), req("c", 2)}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.Dropped.WithLabelValues("overflow")); got != 2 {
		t.Errorf("dropped overflow %v, want 2", got)
	}
	if testutil.ToFloat64(m.Queued) != 4 || testutil.ToFloat64(m.QueuedReqs) != 2 {
		t.Errorf("gauges %v/%v, want 4 items in 2 requests", testutil.ToFloat64(m.Queued), testutil.ToFloat64(m.QueuedReqs))
	}
	if !strings.Contains(log.String(), `msg="TB queue full: oldest reqs dropped" points=2 reason=overflow`) {
		t.Errorf("log %q", log.String())
	}
}

// Deliver reports requests left after a retryable failure with the
// backend's words; the gauges follow every pop.
func TestSenderDeliverPending(t *testing.T) {
	s, m, _ := newTestSender(t, 100, "")
	c := newClock(0)
	boom := errors.New("503")
	sd := &sender{c: c, script: map[string][]Outcome{"b": {{Class: Retry, Err: boom}}}}
	if err := s.Enqueue([]Request[string]{req("a", 1), req("b", 2), req("c", 3)}); err != nil {
		t.Fatal(err)
	}
	err := s.Deliver(context.Background(), c.options(), sd.send)
	if !errors.Is(err, boom) || err.Error() != "5 data points in 2 reqs queued for retry: 503" {
		t.Errorf("err %v", err)
	}
	if testutil.ToFloat64(m.Queued) != 5 || testutil.ToFloat64(m.QueuedReqs) != 2 {
		t.Errorf("gauges %v/%v, want 5 items in 2 requests", testutil.ToFloat64(m.Queued), testutil.ToFloat64(m.QueuedReqs))
	}
}

// Close in memory counts what is left as dropped ("closed") and says so.
func TestSenderCloseMemory(t *testing.T) {
	s, m, _ := newTestSender(t, 100, "")
	c := newClock(0)
	sd := &sender{c: c, script: map[string][]Outcome{"a": {{Class: Retry, Err: errors.New("down")}}}}
	if err := s.Enqueue([]Request[string]{req("a", 3)}); err != nil {
		t.Fatal(err)
	}
	err := s.Close(context.Background(), c.options(), sd.send)
	if err == nil || !strings.HasPrefix(err.Error(), "tb: close: 3 data points undelivered: ") {
		t.Errorf("err %v", err)
	}
	if testutil.ToFloat64(m.Dropped.WithLabelValues("closed")) != 3 || testutil.ToFloat64(m.Queued) != 0 {
		t.Errorf("closed %v queued %v", testutil.ToFloat64(m.Dropped.WithLabelValues("closed")), testutil.ToFloat64(m.Queued))
	}
	if err := s.Close(context.Background(), c.options(), sd.send); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// Close with a spool keeps what is left for the next start, which finds
// and logs it and delivers it first.
func TestSenderCloseSpool(t *testing.T) {
	dir := t.TempDir()
	s, m, log := newTestSender(t, 100, dir)
	c := newClock(0)
	sd := &sender{c: c, script: map[string][]Outcome{"a": {{Class: Retry, Err: errors.New("down")}}}}
	if err := s.Enqueue([]Request[string]{req("a", 3), req("b", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background(), c.options(), sd.send); err != nil {
		t.Fatalf("close: %v", err)
	}
	if testutil.ToFloat64(m.Dropped.WithLabelValues("closed")) != 0 {
		t.Error("a spooled close counted drops")
	}
	if !strings.Contains(log.String(), `msg="undelivered TB reqs kept in the spool for the next start" reqs=2 points=4`) {
		t.Errorf("log %q", log.String())
	}

	s, m, log = newTestSender(t, 100, dir)
	defer s.Close(context.Background(), c.options(), sd.send)
	if !strings.Contains(log.String(), `msg="TB reqs spooled by the previous run will be delivered on the next flush" reqs=2 points=4`) {
		t.Errorf("log %q", log.String())
	}
	if testutil.ToFloat64(m.Queued) != 4 {
		t.Errorf("queued gauge %v after reopen, want 4", testutil.ToFloat64(m.Queued))
	}
	if err := s.Deliver(context.Background(), c.options(), sd.send); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sd.sent, ","); got != "a,a,b" {
		t.Errorf("sent %s, want a (failed), then a and b after the restart", got)
	}
}
