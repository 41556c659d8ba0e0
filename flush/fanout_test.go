package flush

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/statsd-agent/statsd-agent/aggregate"
)

type recorder struct {
	mu      sync.Mutex
	times   []int64
	block   chan struct{} // when non-nil, Flush waits for it or ctx
	entered chan int64    // when non-nil, receives each snapshot's time on entry
	err     error
	name    string
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Flush(ctx context.Context, s *aggregate.Snapshot) error {
	if r.entered != nil {
		r.entered <- s.Time.Unix()
	}
	if r.block != nil {
		select {
		case <-r.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	r.times = append(r.times, s.Time.Unix())
	r.mu.Unlock()
	return r.err
}

func (r *recorder) got() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.times...)
}

func snap(sec int64) *aggregate.Snapshot {
	return &aggregate.Snapshot{Time: time.Unix(sec, 0), Interval: time.Hour}
}

func TestSlowBackendDoesNotDelayOthers(t *testing.T) {
	fast := &recorder{name: "fast"}
	slow := &recorder{name: "slow", block: make(chan struct{}), entered: make(chan int64, 10)}
	reg := prometheus.NewRegistry()
	f := NewFanout(FanoutConfig{Queue: 2, Registerer: reg}, fast, slow)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.Send(snap(1))
	<-slow.entered // slow is now stuck in Flush(1)
	// The fast backend gets everything while the slow one is stuck.
	for i := int64(1); i <= 5; i++ {
		if i > 1 {
			f.Send(snap(i))
		}
		for int64(len(fast.got())) < i {
			select {
			case <-ctx.Done():
				t.Fatalf("fast backend got %v while slow one blocked", fast.got())
			case <-time.After(time.Millisecond):
			}
		}
	}
	close(slow.block)
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// slow was blocked on 1 with a queue of 2: 2 and 3 were dropped, 4 and 5 kept.
	got := slow.got()
	if len(got) != 3 || got[0] != 1 || got[1] != 4 || got[2] != 5 {
		t.Errorf("slow backend got %v, want [1 4 5]", got)
	}
	if n := testutil.ToFloat64(f.dropped.WithLabelValues("slow")); n != 2 {
		t.Errorf("dropped counter = %v, want 2", n)
	}
}

func TestFlushWaitErrorsAndPanics(t *testing.T) {
	ok := &recorder{name: "ok"}
	bad := &recorder{name: "bad", err: errors.New("boom")}
	f := NewFanout(FanoutConfig{}, ok, bad, panicky{})
	err := f.FlushWait(context.Background(), snap(7))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"bad: boom", "backend2: backend panicked"} {
		if !containsErr(err, want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if got := ok.got(); len(got) != 1 || got[0] != 7 {
		t.Errorf("ok backend got %v", got)
	}
	if n := testutil.ToFloat64(f.errs.WithLabelValues("bad")); n != 1 {
		t.Errorf("error counter = %v", n)
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.FlushWait(context.Background(), snap(8)); err == nil {
		t.Error("FlushWait after Close succeeded")
	}
}

func TestDeadline(t *testing.T) {
	hang := &recorder{name: "hang", block: make(chan struct{})}
	f := NewFanout(FanoutConfig{Timeout: 20 * time.Millisecond}, hang)
	err := f.FlushWait(context.Background(), snap(1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	_ = f.Close(context.Background())
}

type panicky struct{}

func (panicky) Flush(context.Context, *aggregate.Snapshot) error { panic("oops") }

func containsErr(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

func TestStats(t *testing.T) {
	ok := &recorder{name: "ok"}
	bad := &recorder{name: "bad", err: errors.New("boom")}
	f := NewFanout(FanoutConfig{}, ok, bad)
	defer f.Close(context.Background())
	_ = f.FlushWait(context.Background(), snap(1))
	st := f.Stats()
	if len(st) != 2 || st[0].Name != "ok" || st[0].Flushes != 1 || st[0].Errors != 0 || st[0].LastFlush.IsZero() ||
		st[1].Errors != 1 || st[1].LastError != "boom" {
		t.Errorf("stats %+v", st)
	}
}
