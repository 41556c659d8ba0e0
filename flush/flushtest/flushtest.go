// Package flushtest is the conformance suite every flush.Backend passes, in
// the spirit of testing/slogtest: backends differ in where they send a
// snapshot, but all of them must honour the flush.Backend contract.
//
// Run checks that a backend
//   - accepts an empty snapshot and a representative one (every series type,
//     tags, events, service checks, non-finite values);
//   - never modifies the snapshot it is given (it is shared with the other
//     backends);
//   - returns once its context is cancelled, within a bound, even when its
//     destination does not answer;
//   - has a name (flush.Named) and can be closed after flushing
//     (flush.Closer), a second Close included.
package flushtest

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// Options adapt the suite to a backend.
type Options struct {
	// New returns a fresh backend for each check. Its destination should
	// accept what it is sent.
	New func(t *testing.T) flush.Backend
	// NewStuck, when set, returns a backend whose destination never
	// answers (a hanging server), to check that Flush honours its context.
	NewStuck func(t *testing.T) flush.Backend
	// CancelBound is how long Flush may take after its context ends;
	// 0 means 5 seconds.
	CancelBound time.Duration
}

// Snapshot returns a representative snapshot: every series type, tags,
// a distribution with percentiles and a sketch, events and service checks.
func Snapshot(at time.Time) *aggregate.Snapshot {
	sk := func() *aggregate.DistStats {
		a := aggregate.New(aggregate.Config{Sketches: true, Percentiles: []float64{50, 90, -10}})
		sh := a.NewShard()
		for i := 1; i <= 10; i++ {
			sh.AddSamples([]protocol.Sample{{Name: []byte("t"), Type: protocol.Timer, Value: float64(i), SampleRate: 1}})
		}
		return a.Flush(at).Series[0].Dist
	}
	tags := []protocol.Tag{{Key: "env", Value: "prod"}, {Key: "region", Value: "eu"}}
	return &aggregate.Snapshot{
		Time:     at,
		Interval: 10 * time.Second,
		Series: []aggregate.Series{
			{Name: "conformance.counter", Type: protocol.Counter, Tags: tags, Value: 12, Rate: 1.2},
			{Name: "conformance.gauge", Type: protocol.Gauge, Value: -3.5},
			{Name: "conformance.histogram", Type: protocol.Histogram, Tags: tags[:1], Dist: sk()},
			{Name: "conformance.set", Type: protocol.Set, Value: 2},
			{Name: "conformance.timer", Type: protocol.Timer, Tags: []protocol.Tag{{Key: "bare"}}, Dist: sk()},
			{Name: "conformance.distribution", Type: protocol.Distribution, Dist: sk()},
			{Name: "conformance.idle_timer", Type: protocol.Timer, Dist: &aggregate.DistStats{}},
			{Name: "conformance.huge", Type: protocol.Counter, Value: math.MaxFloat64, Rate: math.MaxFloat64 / 10},
		},
		Events:        []protocol.Event{{Title: "deploy", Text: "v1.2", AlertType: "info", Priority: "normal", Tags: tags}},
		ServiceChecks: []protocol.ServiceCheck{{Name: "db", Status: 2, Message: "down", Tags: tags}},
	}
}

// Run runs the conformance checks as subtests of t.
func Run(t *testing.T, o Options) {
	t.Helper()
	if o.CancelBound == 0 {
		o.CancelBound = 5 * time.Second
	}
	at := time.Now().Truncate(10 * time.Second)
	closeBackend := func(t *testing.T, b flush.Backend) {
		c, ok := b.(flush.Closer)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}

	t.Run("Named", func(t *testing.T) {
		b := o.New(t)
		defer closeBackend(t, b)
		if n, ok := b.(flush.Named); !ok || n.Name() == "" {
			t.Error("backend has no name (flush.Named)")
		}
	})

	t.Run("EmptyAndRepresentative", func(t *testing.T) {
		b := o.New(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Flush(ctx, &aggregate.Snapshot{Time: at, Interval: 10 * time.Second}); err != nil {
			t.Errorf("Flush(empty snapshot): %v", err)
		}
		if err := b.Flush(ctx, Snapshot(at.Add(10*time.Second))); err != nil {
			t.Errorf("Flush(representative snapshot): %v", err)
		}
		closeBackend(t, b)
	})

	t.Run("SnapshotUnchanged", func(t *testing.T) {
		b := o.New(t)
		defer closeBackend(t, b)
		s := Snapshot(at)
		want := Snapshot(at)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Flush(ctx, s)
		for i := range s.Series {
			// Sketches are compared by their count; their internals are
			// not comparable with reflect.
			if s.Series[i].Dist != nil && want.Series[i].Dist != nil {
				gs, ws := s.Series[i].Dist.Sketch, want.Series[i].Dist.Sketch
				if (gs == nil) != (ws == nil) || gs != nil && gs.GetCount() != ws.GetCount() {
					t.Errorf("series %s: the backend changed its sketch", s.Series[i].Name)
				}
				g, w := *s.Series[i].Dist, *want.Series[i].Dist
				g.Sketch, w.Sketch = nil, nil
				if !reflect.DeepEqual(g, w) {
					t.Errorf("series %s: the backend changed its statistics", s.Series[i].Name)
				}
				continue
			}
			if !reflect.DeepEqual(s.Series[i], want.Series[i]) {
				t.Errorf("series %d: the backend changed it:\n%+v\nwant %+v", i, s.Series[i], want.Series[i])
			}
		}
		if !reflect.DeepEqual(s.Events, want.Events) || !reflect.DeepEqual(s.ServiceChecks, want.ServiceChecks) {
			t.Error("the backend changed the snapshot's events or service checks")
		}
	})

	t.Run("ClosedTwice", func(t *testing.T) {
		b := o.New(t)
		if _, ok := b.(flush.Closer); !ok {
			t.Skip("not a flush.Closer")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = b.Flush(ctx, Snapshot(at))
		closeBackend(t, b)
		c := b.(flush.Closer)
		done := make(chan struct{})
		go func() { _ = c.Close(ctx); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("second Close did not return")
		}
	})

	t.Run("HonoursContext", func(t *testing.T) {
		if o.NewStuck == nil {
			t.Skip("no stuck destination for this backend")
		}
		b := o.NewStuck(t)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_ = b.Flush(ctx, Snapshot(at))
		if d := time.Since(start); d > 200*time.Millisecond+o.CancelBound {
			t.Errorf("Flush took %v after a 200ms deadline (bound %v)", d, o.CancelBound)
		}
		// Close may make a last attempt, bounded by its own context.
		cctx, ccancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer ccancel()
		if c, ok := b.(flush.Closer); ok {
			start = time.Now()
			_ = c.Close(cctx)
			if d := time.Since(start); d > 200*time.Millisecond+o.CancelBound {
				t.Errorf("Close took %v after a 200ms deadline", d)
			}
		}
	})
}

// HangingServer starts an HTTP server on loopback that never answers: each
// request is held until its client gives up or the test ends. It returns
// the server's base URL, for Options.NewStuck.
func HangingServer(t *testing.T) string {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv.URL
}
