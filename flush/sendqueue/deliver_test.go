package sendqueue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/time/rate"
)

// clock is a fake clock whose sleeps are instant and recorded; limit, if
// set, is how much time may pass before Sleep refuses (the ctx deadline).
type clock struct {
	now   time.Time
	start time.Time
	limit time.Duration
	slept []time.Duration
}

func newClock(limit time.Duration) *clock {
	t := time.Unix(1763769600, 0)
	return &clock{now: t, start: t, limit: limit}
}

func (c *clock) options() Options {
	return Options{
		Now: func() time.Time { return c.now },
		Sleep: func(_ context.Context, d time.Duration) bool {
			if c.limit > 0 && c.now.Add(d).Sub(c.start) > c.limit {
				return false
			}
			c.slept = append(c.slept, d)
			c.now = c.now.Add(d)
			return true
		},
		Jitter: func() float64 { return 1 },
	}
}

// sender answers with scripted outcomes (per body, in turn; Delivered when
// the script is exhausted) and records every send with its time.
type sender struct {
	c      *clock
	script map[string][]Outcome
	sent   []string
	at     []time.Time
}

func (s *sender) send(_ context.Context, r *Request[string]) Outcome {
	b := string(r.Body)
	s.sent = append(s.sent, b)
	s.at = append(s.at, s.c.now)
	if outs := s.script[b]; len(outs) > 0 {
		s.script[b] = outs[1:]
		return outs[0]
	}
	return Outcome{Class: Delivered}
}

func deadlineCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func fill(t *testing.T, bodies ...string) Queue[string] {
	t.Helper()
	q := NewMemory[string](100)
	for _, b := range bodies {
		if _, err := q.Push([]Request[string]{req(b, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	return q
}

func TestDeliverKeepsOrder(t *testing.T) {
	c := newClock(0)
	s := &sender{c: c}
	q := fill(t, "a", "b", "c", "d")
	popped := 0
	o := c.options()
	o.Popped = func(err error) {
		if err != nil {
			t.Errorf("pop: %v", err)
		}
		popped++
	}
	var st State
	pending, err := Deliver(deadlineCtx(t), q, &st, o, s.send)
	if pending != nil || err != nil {
		t.Fatalf("pending %v err %v", pending, err)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, s.sent); diff != "" {
		t.Errorf("send order (-want +got):\n%s", diff)
	}
	if n, _ := q.Size(); n != 0 || popped != 4 {
		t.Errorf("queue %d left, %d popped", n, popped)
	}
	if len(c.slept) != 0 {
		t.Errorf("slept %v without failures or pacing", c.slept)
	}
}

// A retryable failure keeps the head (and what is behind it) waiting for a
// growing, jittered backoff, and is retried until it succeeds.
func TestDeliverRetriesWithBackoff(t *testing.T) {
	c := newClock(0)
	boom := errors.New("503")
	s := &sender{c: c, script: map[string][]Outcome{
		"a": {{Class: Retry, Err: boom}, {Class: Retry, Err: boom}, {Class: Retry, Err: boom}},
	}}
	q := fill(t, "a", "b")
	var st State
	pending, err := Deliver(deadlineCtx(t), q, &st, c.options(), s.send)
	if pending != nil || err != nil {
		t.Fatalf("pending %v err %v", pending, err)
	}
	if diff := cmp.Diff([]string{"a", "a", "a", "a", "b"}, s.sent); diff != "" {
		t.Errorf("sends (-want +got):\n%s", diff)
	}
	// Jitter 1: the full backoff, doubling from RetryBase.
	want := []time.Duration{RetryBase, 2 * RetryBase, 4 * RetryBase}
	if diff := cmp.Diff(want, c.slept); diff != "" {
		t.Errorf("backoffs (-want +got):\n%s", diff)
	}
	if st.Attempts() != 0 {
		t.Errorf("attempts %d after delivery, want reset", st.Attempts())
	}
}

// The backoff is bounded by the deadline: a wait that would outlast it is
// not started; the error is reported and the head stays queued with its
// retry state, and the next call tries it at once.
func TestDeliverRetryBoundedByDeadline(t *testing.T) {
	c := newClock(2 * time.Second)
	boom := errors.New("network down")
	s := &sender{c: c, script: map[string][]Outcome{"a": {
		{Class: Retry, Err: boom}, {Class: Retry, Err: boom}, {Class: Retry, Err: boom}, {Class: Retry, Err: boom},
	}}}
	q := fill(t, "a", "b")
	var st State
	pending, err := Deliver(deadlineCtx(t), q, &st, c.options(), s.send)
	if err != nil || !errors.Is(pending, boom) {
		t.Fatalf("pending %v err %v, want the retry error", pending, err)
	}
	// Waits of 0.5s and 1s fit in 2s; the third backoff (2s) does not.
	if diff := cmp.Diff([]string{"a", "a", "a"}, s.sent); diff != "" {
		t.Errorf("sends (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{RetryBase, 2 * RetryBase}, c.slept); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if n, _ := q.Size(); n != 2 || st.Attempts() != 3 {
		t.Errorf("queue %d, attempts %d; want 2 and 3", n, st.Attempts())
	}

	// The next flush tries the head at once, and the backoff goes on
	// growing from the attempts made.
	c.start, c.slept = c.now, nil
	pending, err = Deliver(deadlineCtx(t), q, &st, c.options(), s.send)
	if err != nil || !errors.Is(pending, boom) {
		t.Fatalf("second call: pending %v err %v", pending, err)
	}
	if diff := cmp.Diff([]string{"a", "a", "a", "a"}, s.sent); diff != "" {
		t.Errorf("sends (-want +got):\n%s", diff)
	}
	if st.Attempts() != 4 || len(c.slept) != 0 {
		t.Errorf("attempts %d, slept %v; want 4 and no wait (the 4s backoff > 2s)", st.Attempts(), c.slept)
	}
}

// Without a deadline the head gets one attempt per call.
func TestDeliverNoDeadlineOneAttempt(t *testing.T) {
	c := newClock(0)
	boom := errors.New("503")
	s := &sender{c: c, script: map[string][]Outcome{"a": {{Class: Retry, Err: boom}, {Class: Retry, Err: boom}}}}
	q := fill(t, "a", "b")
	var st State
	pending, err := Deliver(context.Background(), q, &st, c.options(), s.send)
	if err != nil || !errors.Is(pending, boom) {
		t.Fatalf("pending %v err %v", pending, err)
	}
	if len(s.sent) != 1 || len(c.slept) != 0 {
		t.Errorf("sent %v slept %v, want one attempt and no wait", s.sent, c.slept)
	}
}

// A server's Retry-After longer than the backoff is honoured, capped at
// MaxRetryAfter; a shorter one does not shorten the backoff.
func TestDeliverRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		retryAfter, want time.Duration
	}{
		{0, RetryBase},
		{100 * time.Millisecond, RetryBase},
		{7 * time.Second, 7 * time.Second},
		{time.Hour, MaxRetryAfter},
	} {
		c := newClock(0)
		s := &sender{c: c, script: map[string][]Outcome{"a": {{Class: Retry, Err: errors.New("429"), RetryAfter: tc.retryAfter}}}}
		var st State
		if pending, err := Deliver(deadlineCtx(t), fill(t, "a"), &st, c.options(), s.send); pending != nil || err != nil {
			t.Fatalf("pending %v err %v", pending, err)
		}
		if diff := cmp.Diff([]time.Duration{tc.want}, c.slept); diff != "" {
			t.Errorf("Retry-After %v: waits (-want +got):\n%s", tc.retryAfter, diff)
		}
	}
}

// Drop removes the head and delivery goes on with the next request, at
// once and with a fresh retry state.
func TestDeliverDropContinues(t *testing.T) {
	c := newClock(0)
	s := &sender{c: c, script: map[string][]Outcome{
		"a": {{Class: Retry, Err: errors.New("503")}, {Class: Drop}},
		"b": {{Class: Drop}},
		"c": {{Class: Retry, Err: errors.New("503")}},
	}}
	q := fill(t, "a", "b", "c", "d")
	var st State
	pending, err := Deliver(deadlineCtx(t), q, &st, c.options(), s.send)
	if pending != nil || err != nil {
		t.Fatalf("pending %v err %v", pending, err)
	}
	if diff := cmp.Diff([]string{"a", "a", "b", "c", "c", "d"}, s.sent); diff != "" {
		t.Errorf("sends (-want +got):\n%s", diff)
	}
	// c's first retry waits the first backoff again: the state was reset.
	if diff := cmp.Diff([]time.Duration{RetryBase, RetryBase}, c.slept); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	if n, _ := q.Size(); n != 0 {
		t.Errorf("%d left", n)
	}
}

// The limiter paces the sends on the injected clock: a burst, then one per
// 1/rate; a pacing wait the deadline does not allow stops delivery and
// gives the reservation back.
func TestDeliverRateLimited(t *testing.T) {
	c := newClock(0)
	s := &sender{c: c}
	o := c.options()
	o.Limiter = rate.NewLimiter(2, 2) // 2/s, burst 2
	q := fill(t, "a", "b", "c", "d", "e")
	var st State
	if pending, err := Deliver(deadlineCtx(t), q, &st, o, s.send); pending != nil || err != nil {
		t.Fatalf("pending %v err %v", pending, err)
	}
	var offsets []time.Duration
	for _, at := range s.at {
		offsets = append(offsets, at.Sub(c.start))
	}
	want := []time.Duration{0, 0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond}
	if diff := cmp.Diff(want, offsets); diff != "" {
		t.Errorf("send times (-want +got):\n%s", diff)
	}

	// Deadline with no room to wait: the burst goes out, the rest stays.
	c2 := newClock(100 * time.Millisecond)
	s2 := &sender{c: c2}
	o2 := c2.options()
	o2.Limiter = rate.NewLimiter(2, 2)
	q2 := fill(t, "a", "b", "c")
	if pending, err := Deliver(deadlineCtx(t), q2, &st, o2, s2.send); pending != nil || err != nil {
		t.Fatalf("pending %v err %v", pending, err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, s2.sent); diff != "" {
		t.Errorf("sends (-want +got):\n%s", diff)
	}
	if n, _ := q2.Size(); n != 1 {
		t.Errorf("%d left, want 1", n)
	}
	// The cancelled reservation was returned: after 500ms one token is
	// back, not a debt of two.
	if tok := o2.Limiter.TokensAt(c2.now.Add(500 * time.Millisecond)); tok < 0.99 {
		t.Errorf("tokens after 500ms %v, want the cancelled reservation returned", tok)
	}
}

// A queue that cannot be read stops delivery with its error.
func TestDeliverFrontError(t *testing.T) {
	c := newClock(0)
	s := &sender{c: c}
	bad := errors.New("disk")
	var st State
	pending, err := Deliver(deadlineCtx(t), failingQueue{fill(t, "a"), bad}, &st, c.options(), s.send)
	if pending != nil || !errors.Is(err, bad) || len(s.sent) != 0 {
		t.Errorf("pending %v err %v sent %v", pending, err, s.sent)
	}
}

type failingQueue struct {
	Queue[string]
	err error
}

func (f failingQueue) Front() (*Request[string], error) { return nil, f.err }

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 1, RetryBase},
		{1, 0, RetryBase / 2},
		{2, 1, 2 * RetryBase},
		{3, 0.5, 3 * RetryBase}, // 4*base: half + half of half
		{7, 1, RetryMax},        // 64*base capped
		{10, 1, RetryMax},
		{1000, 0, RetryMax / 2},
	} {
		if got := Backoff(tc.n, func() float64 { return tc.jitter }); got != tc.want {
			t.Errorf("Backoff(%d, %v) = %v, want %v", tc.n, tc.jitter, got, tc.want)
		}
	}
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if Sleep(ctx, time.Hour) {
		t.Error("Sleep started a wait past the deadline")
	}
	if !Sleep(ctx, time.Millisecond) {
		t.Error("Sleep refused a wait within the deadline")
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if Sleep(ctx2, time.Hour) {
		t.Error("Sleep waited on an ended context")
	}
}
