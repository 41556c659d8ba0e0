package flush

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"golang.org/x/time/rate"
)

// DefaultQueue is how many snapshots may wait for a slow backend before the
// oldest is dropped (and counted).
const DefaultQueue = 8

// Fanout delivers snapshots to backends. Each backend gets its own goroutine
// and a bounded queue of snapshots, so a slow backend only delays itself.
//
// Send and FlushWait may be called from one goroutine at a time (the
// flusher); Close is called once, after the last Send.
type Fanout struct {
	runners []*runner
	logger  *slog.Logger
	wg      sync.WaitGroup

	duration *prometheus.HistogramVec
	errs     *prometheus.CounterVec
	dropped  *prometheus.CounterVec
}

type job struct {
	snap *aggregate.Snapshot
	done chan<- error // nil for a fire-and-forget flush
}

type runner struct {
	stats   BackendStats // guarded by mu
	name    string
	b       Backend
	timeout time.Duration
	mu      sync.Mutex
	queue   []job
	max     int
	wake    chan struct{}
	closed  bool
	errLog  *rate.Limiter
}

// FanoutConfig configures a Fanout. The zero value means the defaults.
type FanoutConfig struct {
	// Timeout is each backend's deadline for one Flush call. 0 means the
	// snapshot's interval.
	Timeout time.Duration
	// Queue is the number of snapshots a backend may have waiting.
	// 0 means DefaultQueue.
	Queue int
	// Logger receives errors (rate-limited per backend); nil discards.
	Logger *slog.Logger
	// Registerer receives the flush metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// NewFanout starts one goroutine per backend. Backends are named by their
// Name method (flush.Named) or "backend<N>".
func NewFanout(cfg FanoutConfig, backends ...Backend) *Fanout {
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &Fanout{
		logger: logger,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "statsd_agent_flush_duration_seconds",
			Help:    "Time a backend took to handle one flush.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"backend"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "statsd_agent_flush_errors_total",
			Help: "Flushes a backend returned an error for.",
		}, []string{"backend"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "statsd_agent_flush_dropped_total",
			Help: "Snapshots dropped because a backend's queue was full.",
		}, []string{"backend"}),
	}
	if cfg.Registerer != nil {
		// A Fanout built on reload shares the metrics of the one it
		// replaces.
		f.duration = registerVec(cfg.Registerer, f.duration, logger)
		f.errs = registerVec(cfg.Registerer, f.errs, logger)
		f.dropped = registerVec(cfg.Registerer, f.dropped, logger)
	}
	for i, b := range backends {
		name := fmt.Sprintf("backend%d", i)
		if n, ok := b.(Named); ok {
			name = n.Name()
		}
		r := &runner{name: name, b: b, timeout: cfg.Timeout, max: cfg.Queue,
			wake: make(chan struct{}, 1), errLog: rate.NewLimiter(rate.Every(time.Minute), 3)}
		f.runners = append(f.runners, r)
		f.duration.WithLabelValues(name)
		f.errs.WithLabelValues(name)
		f.dropped.WithLabelValues(name)
		f.wg.Add(1)
		go f.run(r)
	}
	return f
}

// BackendStats is one backend's delivery state.
type BackendStats struct {
	Name       string
	Queued     int       // snapshots waiting
	Flushes    uint64    // Flush calls made
	Errors     uint64    // Flush calls that returned an error
	Dropped    uint64    // snapshots dropped because the queue was full
	LastFlush  time.Time // end of the last Flush call
	LastError  string    // the last error, "" after a success
	LastDurSec float64   // duration of the last Flush call in seconds
}

// Stats returns every backend's delivery state, in order.
func (f *Fanout) Stats() []BackendStats {
	out := make([]BackendStats, 0, len(f.runners))
	for _, r := range f.runners {
		r.mu.Lock()
		st := r.stats
		st.Name = r.name
		st.Queued = len(r.queue)
		r.mu.Unlock()
		out = append(out, st)
	}
	return out
}

func registerVec[T prometheus.Collector](reg prometheus.Registerer, c T, logger *slog.Logger) T {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		logger.Warn("flush metrics not registered", "err", err)
	}
	return c
}

// Backends returns the backends in order.
func (f *Fanout) Backends() []Backend {
	var out []Backend
	for _, r := range f.runners {
		out = append(out, r.b)
	}
	return out
}

// Names returns the backends' names in order.
func (f *Fanout) Names() []string {
	var names []string
	for _, r := range f.runners {
		names = append(names, r.name)
	}
	return names
}

// Send queues the snapshot for every backend and returns at once. A
// backend whose queue is full loses its oldest waiting snapshot, which is
// counted and logged.
func (f *Fanout) Send(s *aggregate.Snapshot) {
	for _, r := range f.runners {
		f.enqueue(r, job{snap: s})
	}
}

// FlushWait queues the snapshot for every backend and waits until each has
// handled it (or ctx ends). It returns the backends' errors joined.
func (f *Fanout) FlushWait(ctx context.Context, s *aggregate.Snapshot) error {
	dones := make([]chan error, len(f.runners))
	for i, r := range f.runners {
		dones[i] = make(chan error, 1)
		f.enqueue(r, job{snap: s, done: dones[i]})
	}
	var errs []error
	for i, d := range dones {
		select {
		case err := <-d:
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.runners[i].name, err))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("%s: %w", f.runners[i].name, ctx.Err()))
		}
	}
	return errors.Join(errs...)
}

func (f *Fanout) enqueue(r *runner, j job) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		if j.done != nil {
			j.done <- errors.New("backend closed")
		}
		return
	}
	var lost *job
	if len(r.queue) >= r.max {
		old := r.queue[0]
		lost = &old
		r.queue = r.queue[1:]
	}
	r.queue = append(r.queue, j)
	r.mu.Unlock()
	if lost != nil {
		r.mu.Lock()
		r.stats.Dropped++
		r.mu.Unlock()
		f.dropped.WithLabelValues(r.name).Inc()
		f.logger.Warn("backend too slow: dropped a queued flush", "backend", r.name,
			"flush_time", lost.snap.Time.Unix(), "series", len(lost.snap.Series))
		if lost.done != nil {
			lost.done <- errors.New("dropped: backend queue full")
		}
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (f *Fanout) run(r *runner) {
	defer f.wg.Done()
	for {
		r.mu.Lock()
		if len(r.queue) == 0 {
			closed := r.closed
			r.mu.Unlock()
			if closed {
				return
			}
			<-r.wake
			continue
		}
		j := r.queue[0]
		r.queue = r.queue[1:]
		r.mu.Unlock()

		timeout := r.timeout
		if timeout <= 0 {
			timeout = j.snap.Interval
		}
		if timeout <= 0 {
			timeout = aggregate.DefaultInterval
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		start := time.Now()
		err := safeFlush(ctx, r.b, j.snap)
		cancel()
		dur := time.Since(start)
		f.duration.WithLabelValues(r.name).Observe(dur.Seconds())
		r.mu.Lock()
		r.stats.Flushes++
		r.stats.LastFlush = time.Now()
		r.stats.LastDurSec = dur.Seconds()
		if err != nil {
			r.stats.Errors++
			r.stats.LastError = err.Error()
		} else {
			r.stats.LastError = ""
		}
		r.mu.Unlock()
		if err != nil {
			f.errs.WithLabelValues(r.name).Inc()
			if r.errLog.Allow() {
				f.logger.Error("flush failed", "backend", r.name, "err", err)
			}
		}
		if j.done != nil {
			j.done <- err
		}
	}
}

// safeFlush turns a backend panic into an error, so one broken backend
// cannot take the agent down.
func safeFlush(ctx context.Context, b Backend, s *aggregate.Snapshot) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("backend panicked: %v", p)
		}
	}()
	return b.Flush(ctx, s)
}

// Close waits for every queued snapshot to be handled (or ctx to end), then
// closes the backends that implement Closer.
func (f *Fanout) Close(ctx context.Context) error {
	return f.CloseExcept(ctx, nil)
}

// CloseExcept is Close, but leaves the backends in keep open: they are
// handed over to another Fanout (a reload that kept them).
func (f *Fanout) CloseExcept(ctx context.Context, keep []Backend) error {
	for _, r := range f.runners {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	var errs []error
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("backends still flushing: %w", ctx.Err()))
	}
	for _, r := range f.runners {
		kept := false
		for _, k := range keep {
			if k == r.b {
				kept = true
			}
		}
		if c, ok := r.b.(Closer); ok && !kept {
			if err := c.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: close: %w", r.name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Discard is a backend that drops every snapshot; useful for benchmarks.
type Discard struct{}

// Flush does nothing.
func (Discard) Flush(context.Context, *aggregate.Snapshot) error { return nil }

// Name returns "discard".
func (Discard) Name() string { return "discard" }
