package sendqueue

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// Retry backoff: the first retry waits about RetryBase, each further one
// twice as long, at most RetryMax, jittered between half and all of that.
// A server's Retry-After longer than the backoff is honoured up to
// MaxRetryAfter.
const (
	RetryBase     = 500 * time.Millisecond
	RetryMax      = 30 * time.Second
	MaxRetryAfter = 5 * RetryMax
)

// Backoff returns the wait before retry number n (n >= 1): RetryBase
// doubled per retry, at most RetryMax, jittered between half and all of
// it by jitter, a number in [0, 1).
func Backoff(n int, jitter func() float64) time.Duration {
	d := RetryMax
	if n < 10 {
		d = min(RetryBase<<(n-1), RetryMax)
	}
	return d/2 + time.Duration(jitter()*float64(d/2))
}

// Sleep waits d unless ctx ends first, and reports whether it waited; it
// does not start a wait that would outlast ctx's deadline.
func Sleep(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Class is what the delivery loop does with the head after one send.
type Class uint8

const (
	// Delivered: the head was accepted; it is popped.
	Delivered Class = iota
	// Retry: a retryable failure; the head and everything behind it wait
	// for a backoff (or the server's Retry-After).
	Retry
	// Drop: the head can never be delivered (rejected); it is popped and
	// delivery goes on with the next request.
	Drop
)

// Outcome is the result of one send, as the backend classifies it. The
// backend counts and logs the outcome itself before returning it.
type Outcome struct {
	Class Class
	// Err is the failure of a Retry (returned by Deliver while requests
	// stay queued).
	Err error
	// RetryAfter is the server's requested wait for a Retry (0: none).
	RetryAfter time.Duration
}

// State is the retry state of a queue's head: the attempts made and the
// time before which it is not tried again. Its zero value is ready. A
// backend keeps one per queue and calls Reset when the head changes
// outside Deliver (dropped by the queue's bound).
type State struct {
	attempts  int
	notBefore time.Time
}

// Reset forgets the retry state of the head.
func (s *State) Reset() { *s = State{} }

// Attempts returns the failed attempts of the current head.
func (s *State) Attempts() int { return s.attempts }

// Options are the clock, randomness, pacing and hooks of Deliver. Now,
// Sleep and Jitter are required (time.Now, Sleep and math/rand/v2.Float64
// in production; tests pass fakes).
type Options struct {
	// Limiter paces the sends; nil means unpaced.
	Limiter *rate.Limiter
	// Now is the clock.
	Now func() time.Time
	// Sleep waits d, or returns false when ctx would end first.
	Sleep func(ctx context.Context, d time.Duration) bool
	// Jitter returns a number in [0, 1) for the backoff.
	Jitter func() float64
	// Popped, if set, is called after the head was popped, with Pop's
	// error (to update gauges and log a spool failure).
	Popped func(err error)
}

// Deliver sends the queue in order from its front until it is empty or ctx
// ends. A retryable failure of the head keeps everything behind it waiting
// (the order of a series' samples must be kept) and is retried after a
// backoff while ctx's deadline allows; without a deadline the head gets one
// attempt per call. The head is tried at once on each call.
//
// pending is the last retryable failure when requests stay queued after
// it; err is a failure to read the queue (requests stay queued).
func Deliver[M any](ctx context.Context, q Queue[M], st *State, o Options, send func(ctx context.Context, r *Request[M]) Outcome) (pending, err error) {
	_, hasDeadline := ctx.Deadline()
	var lastErr error
	st.notBefore = time.Time{}
	for ctx.Err() == nil {
		r, err := q.Front()
		if err != nil {
			return nil, err
		}
		if r == nil {
			break
		}
		if wait := st.notBefore.Sub(o.Now()); wait > 0 {
			if !hasDeadline || !o.Sleep(ctx, wait) {
				break
			}
		}
		if o.Limiter != nil {
			now := o.Now()
			res := o.Limiter.ReserveN(now, 1)
			if d := res.DelayFrom(now); d > 0 && !o.Sleep(ctx, d) {
				res.CancelAt(o.Now())
				break
			}
		}
		out := send(ctx, r)
		switch out.Class {
		case Retry:
			lastErr = out.Err
			st.attempts++
			wait := Backoff(st.attempts, o.Jitter)
			if out.RetryAfter > wait {
				wait = min(out.RetryAfter, MaxRetryAfter)
			}
			st.notBefore = o.Now().Add(wait)
			if !hasDeadline {
				return lastErr, nil
			}
		default: // Delivered, Drop
			st.Reset()
			perr := q.Pop()
			if o.Popped != nil {
				o.Popped(perr)
			}
		}
	}
	if n, _ := q.Size(); n > 0 && lastErr != nil {
		return lastErr, nil
	}
	return nil, nil
}
