// Package agent runs a whole StatsD agent in-process: listeners, the
// aggregator, the flush schedule and the backends. cmd/statsd-agent is a thin
// wrapper around it; an application can embed the same agent with a few
// lines and add its own backend through flush.Backend.
//
// The pipeline is packet -> parse -> aggregate -> snapshot -> flush: the UDP
// readers (server/udp) parse each datagram (protocol) into their own shard
// (aggregate) through an ingest.Worker; on every flush tick, aligned to
// wall-clock multiples of the interval, the Aggregator swaps the shards out
// and builds an immutable aggregate.Snapshot, which flush.Fanout hands to
// every backend concurrently with a per-flush deadline.
//
// An Agent's methods are safe for concurrent use. Run is called once.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/ingest"
	"github.com/statsd-agent/statsd-agent/protocol"
	"github.com/statsd-agent/statsd-agent/ratelimit"
	"github.com/statsd-agent/statsd-agent/server/tcp"
	"github.com/statsd-agent/statsd-agent/server/udp"
	"github.com/statsd-agent/statsd-agent/server/unixgram"
	"github.com/statsd-agent/statsd-agent/spool"
	"golang.org/x/time/rate"
)

// DefaultUDP is the UDP listen address a zero Config uses.
const DefaultUDP = "127.0.0.1:8125"

// DefaultShutdownTimeout bounds draining and the final flush.
const DefaultShutdownTimeout = 10 * time.Second

// Config configures an Agent. The zero value means the documented defaults:
// UDP on 127.0.0.1:8125, a 10 s flush interval, the 90th percentile.
type Config struct {
	// UDP is the UDP listen address; "" means DefaultUDP and "none"
	// disables UDP.
	UDP string
	// UDPReaders is the number of UDP reader goroutines; 0 means GOMAXPROCS.
	UDPReaders int
	// ReusePort gives every UDP reader its own SO_REUSEPORT socket.
	ReusePort bool
	// ReadBuffer is the UDP SO_RCVBUF size; 0 means 8 MiB.
	ReadBuffer int
	// TCP is the TCP listen address for newline-delimited lines; "" disables TCP.
	TCP string
	// TCPMaxLine, TCPMaxConns and TCPIdleTimeout bound TCP clients; zero
	// values mean 64 KiB, 1024 and 5 minutes.
	TCPMaxLine     int
	TCPMaxConns    int
	TCPIdleTimeout time.Duration
	// Unixgram is the path of a Unix datagram socket to listen on; ""
	// disables it.
	Unixgram string
	// RateLimit limits lines per second per source address (UDP and TCP);
	// the zero value means no limit.
	RateLimit ratelimit.Config

	// Aggregate configures the aggregation (interval, percentiles, idle
	// series, bounds).
	Aggregate aggregate.Config
	// Parser configures the protocol's compatibility switches.
	Parser protocol.Options

	// FlushTimeout is each backend's deadline per flush; 0 means the interval.
	FlushTimeout time.Duration
	// ShutdownTimeout bounds draining the sockets and the final flush on
	// shutdown; 0 means 10 s.
	ShutdownTimeout time.Duration

	// StateDir, when set, keeps the state that outlives the process (gauge
	// values) in StateDir/aggregate.json: written atomically after the
	// final flush, read back by New.
	StateDir string

	// Processors amend every snapshot, in order, before the backends get it.
	Processors []flush.Processor

	// Registerer receives the agent's own metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now returns the current time; nil means time.Now. Tests and
	// simulations drive the schedule through it and through Flush.
	Now func() time.Time
}

// Agent is a running StatsD agent.
type Agent struct {
	cfg      Config
	logger   *slog.Logger
	agg      *aggregate.Aggregator
	pipe     *ingest.Pipeline
	fanoutMu sync.Mutex // guards fanout; held while a reload swaps it
	fanout   *flush.Fanout
	udp      *udp.Server
	limiter  *ratelimit.Limiter
	tcp      *tcp.Server
	unixgrm  *unixgram.Server
	series   atomic.Int64
	flushMu  sync.Mutex
	lastAt   atomic.Int64 // unix nanos of the last flush

	overLog    *rate.Limiter
	reschedule chan struct{}
	runOnce    sync.Once
	started    time.Time // set by Run before anything reads it
}

// New validates cfg, opens the listeners and starts the backends' flush
// goroutines. Nothing is read until Run. logger may be nil.
func New(cfg Config, backends []flush.Backend, logger *slog.Logger) (*Agent, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Aggregate.Validate(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.UDP == "" {
		cfg.UDP = DefaultUDP
	}
	a := &Agent{cfg: cfg, logger: logger, agg: aggregate.New(cfg.Aggregate),
		overLog: rate.NewLimiter(rate.Every(time.Minute), 1), reschedule: make(chan struct{}, 1)}
	metrics := ingest.NewMetrics()
	a.limiter = ratelimit.New(cfg.RateLimit)
	a.pipe = ingest.New(a.agg, cfg.Parser, metrics, logger)
	if cfg.UDP != "none" {
		s, err := udp.Listen(udp.Config{Addr: cfg.UDP, Readers: cfg.UDPReaders, ReusePort: cfg.ReusePort,
			ReadBuffer: cfg.ReadBuffer, Limiter: a.limiter}, a.pipe, logger)
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.udp = s
	}
	if cfg.TCP != "" {
		s, err := tcp.Listen(tcp.Config{Addr: cfg.TCP, MaxLine: cfg.TCPMaxLine, MaxConns: cfg.TCPMaxConns,
			IdleTimeout: cfg.TCPIdleTimeout, Limiter: a.limiter}, a.pipe, logger)
		if err != nil {
			a.closeListeners()
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.tcp = s
	}
	if cfg.Unixgram != "" {
		s, err := unixgram.Listen(cfg.Unixgram, 0, 1, a.pipe, logger)
		if err != nil {
			a.closeListeners()
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.unixgrm = s
	}
	if cfg.StateDir != "" {
		if err := a.loadState(); err != nil {
			logger.Warn("state not restored", "err", err)
		}
	}
	if cfg.Registerer != nil {
		if err := a.register(cfg.Registerer, metrics); err != nil {
			a.closeListeners()
			return nil, fmt.Errorf("agent: metrics: %w", err)
		}
	}
	a.fanout = flush.NewFanout(flush.FanoutConfig{Timeout: cfg.FlushTimeout, Logger: logger,
		Registerer: cfg.Registerer}, backends...)
	return a, nil
}

func (a *Agent) register(reg prometheus.Registerer, m *ingest.Metrics) error {
	if err := m.Register(reg); err != nil {
		return err
	}
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "statsd_agent_series",
			Help: "Series in the last flush."}, func() float64 { return float64(a.series.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statsd_agent_samples_late_total",
			Help: "Samples dropped because their DogStatsD |T timestamp was older than the open interval allows (lateness)."},
			func() float64 { return float64(a.agg.Late()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statsd_agent_approximated_series_total",
			Help: "Timer/histogram/distribution series whose percentiles came from the 1% sketch because they held more values than max_timer_values (counted per flush)."},
			func() float64 { _, t := a.agg.Approximated(); return float64(t) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statsd_agent_overflow_series_total",
			Help: "Series folded into statsd_agent.overflow by a cardinality budget (counted per interval)."},
			func() float64 { _, t := a.agg.Overflow(); return float64(t.Series) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statsd_agent_overflow_samples_total",
			Help: "Samples folded into statsd_agent.overflow by a cardinality budget."},
			func() float64 { _, t := a.agg.Overflow(); return float64(t.Samples) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "statsd_agent_last_flush_timestamp_seconds",
			Help: "Unix time of the last flush."}, func() float64 { return float64(a.lastAt.Load()) / 1e9 }),
	}
	if a.udp != nil {
		cs = append(cs,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statsd_agent_udp_kernel_drops_total",
				Help: "Datagrams the kernel dropped for the agent's UDP sockets (receive buffer full), from /proc/net/udp."},
				func() float64 {
					n, err := a.udp.KernelDrops()
					if err != nil {
						return 0
					}
					return float64(n)
				}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statsd_agent_udp_truncated_total",
				Help: "Datagrams larger than the 64 KiB read buffer."},
				func() float64 { return float64(a.udp.Truncated()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "statsd_agent_udp_receive_buffer_bytes",
				Help: "UDP receive buffer the kernel granted."},
				func() float64 { return float64(a.udp.ReceiveBuffer()) }),
		)
	}
	if a.limiter != nil {
		cs = append(cs, a.limiter)
	}
	if a.tcp != nil {
		cs = append(cs,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "statsd_agent_tcp_connections",
				Help: "Open TCP connections."}, func() float64 { return float64(a.tcp.Active()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statsd_agent_tcp_rejected_total",
				Help: "TCP connections closed at once because the connection limit was reached."},
				func() float64 { return float64(a.tcp.Rejected()) }),
		)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// UDPAddr returns the UDP listen address, nil when UDP is disabled.
func (a *Agent) UDPAddr() net.Addr {
	if a.udp == nil {
		return nil
	}
	return a.udp.Addr()
}

// TCPAddr returns the TCP listen address, nil when TCP is disabled.
func (a *Agent) TCPAddr() net.Addr {
	if a.tcp == nil {
		return nil
	}
	return a.tcp.Addr()
}

// LinesReceived returns the number of non-empty lines received so far.
func (a *Agent) LinesReceived() uint64 { return a.pipe.Metrics().Lines.Load() }

// Metrics returns the ingest counters.
func (a *Agent) Metrics() *ingest.Metrics { return a.pipe.Metrics() }

// Backends returns the backends' names.
func (a *Agent) Backends() []string { return a.currentFanout().Names() }

// BackendStats returns every backend's delivery state.
func (a *Agent) BackendStats() []flush.BackendStats { return a.currentFanout().Stats() }

func (a *Agent) currentFanout() *flush.Fanout {
	a.fanoutMu.Lock()
	defer a.fanoutMu.Unlock()
	return a.fanout
}

// CurrentBackends returns the backends in order.
func (a *Agent) CurrentBackends() []flush.Backend { return a.currentFanout().Backends() }

// SetAggregate applies a new aggregation configuration (interval,
// percentiles, budgets, idle policy) from the next flush on, keeping every
// aggregated value. An invalid configuration is rejected and nothing changes.
func (a *Agent) SetAggregate(cfg aggregate.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.agg.SetConfig(cfg)
	select {
	case a.reschedule <- struct{}{}:
	default:
	}
	return nil
}

// ReplaceBackends is SetBackends for backends that hold exclusive
// resources (a spool directory): flushes wait while it drains the old
// backends' queues, closes the old backends that keep reports false, then
// calls build for the new list and installs it. Building after closing lets
// a new backend take over its predecessor's spool. When build fails, the
// kept backends stay installed and the error is returned.
func (a *Agent) ReplaceBackends(ctx context.Context, keep func(flush.Backend) bool, build func() ([]flush.Backend, error)) error {
	a.fanoutMu.Lock()
	defer a.fanoutMu.Unlock()
	old := a.fanout
	var kept []flush.Backend
	for _, b := range old.Backends() {
		if keep(b) {
			kept = append(kept, b)
		}
	}
	closeErr := old.CloseExcept(ctx, kept)
	backends, err := build()
	if err != nil {
		backends = kept
	}
	a.fanout = flush.NewFanout(flush.FanoutConfig{Timeout: a.cfg.FlushTimeout, Logger: a.logger,
		Registerer: a.cfg.Registerer}, backends...)
	return errors.Join(err, closeErr)
}

// SetBackends replaces the backends. Snapshots already queued for the old
// backends are delivered first (or until ctx ends); old backends that are
// not in the new list are closed; a backend in both keeps its state (queues
// included). Flushes wait while the swap happens.
func (a *Agent) SetBackends(ctx context.Context, backends []flush.Backend) error {
	a.fanoutMu.Lock()
	defer a.fanoutMu.Unlock()
	old := a.fanout
	err := old.CloseExcept(ctx, backends)
	a.fanout = flush.NewFanout(flush.FanoutConfig{Timeout: a.cfg.FlushTimeout, Logger: a.logger,
		Registerer: a.cfg.Registerer}, backends...)
	return err
}

// DeleteSeries forgets the carried state (gauge values, idle series) of
// the series whose name matches pattern (a path.Match glob), like the
// reference server's delcounters/delgauges. It returns how many it forgot.
func (a *Agent) DeleteSeries(pattern string) (int, error) { return a.agg.Delete(pattern) }

// NewShard returns an aggregation shard for an in-process input such as
// the netstat probe: call its AddSamples from one goroutine.
func (a *Agent) NewShard() *aggregate.Shard { return a.agg.NewShard() }

// NewWorker returns an ingest worker for an in-process input of raw
// StatsD lines (a listener of another kind): one per goroutine.
func (a *Agent) NewWorker() *ingest.Worker { return a.pipe.NewWorker() }

// Pipeline returns the ingest pipeline, for extra listeners.
func (a *Agent) Pipeline() *ingest.Pipeline { return a.pipe }

// Flush ends the current interval now: it builds the snapshot stamped with
// now, hands it to every backend and waits until each has handled it or ctx
// ends. Backend errors are counted and logged, not returned.
func (a *Agent) Flush(ctx context.Context, now time.Time) *aggregate.Snapshot {
	snap := a.snapshot(now)
	a.fanoutMu.Lock()
	err := a.fanout.FlushWait(ctx, snap)
	a.fanoutMu.Unlock()
	if err != nil {
		a.logger.Debug("flush", "err", err)
	}
	return snap
}

func (a *Agent) snapshot(now time.Time) *aggregate.Snapshot {
	return a.partialSnapshot(now, 0)
}

func (a *Agent) partialSnapshot(now time.Time, elapsed time.Duration) *aggregate.Snapshot {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	snap := a.agg.FlushPartial(now, elapsed)
	if last, _ := a.agg.Overflow(); last.Samples > 0 && a.overLog.Allow() {
		a.logger.Warn("cardinality budget exceeded: series folded into "+aggregate.OverflowName,
			"series", last.Series, "samples", last.Samples, "top_names", last.TopNames(5))
	}
	for _, p := range a.cfg.Processors {
		p.Process(snap)
	}
	a.series.Store(int64(len(snap.Series)))
	a.lastAt.Store(now.UnixNano())
	return snap
}

// Run reads and flushes until ctx ends, then shuts down: it stops reading
// once the sockets are drained, makes a final flush to every backend and
// closes them. It returns nil after a clean shutdown.
func (a *Agent) Run(ctx context.Context) error {
	started := false
	a.runOnce.Do(func() { started = true })
	if !started {
		return errors.New("agent: Run called twice")
	}
	serveErr := make(chan error, 1)
	if a.udp != nil {
		a.udp.Start()
		go func() { serveErr <- a.udp.Wait() }()
	}
	if a.tcp != nil {
		go func() {
			if err := a.tcp.Serve(); err != nil {
				serveErr <- err
			}
		}()
	}
	if a.unixgrm != nil {
		a.unixgrm.Start()
	}
	a.started = a.cfg.Now()
	var runErr error
loop:
	for {
		interval := a.agg.Config().Interval
		now := a.cfg.Now()
		next := now.Truncate(interval).Add(interval)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			break loop
		case err := <-serveErr:
			t.Stop()
			runErr = err
			break loop
		case <-a.reschedule:
			t.Stop() // the interval changed: compute the next tick again
		case <-t.C:
			snap := a.snapshot(next)
			a.fanoutMu.Lock()
			a.fanout.Send(snap)
			a.fanoutMu.Unlock()
		}
	}
	return errors.Join(runErr, a.shutdown())
}

func (a *Agent) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	// Drain every listener concurrently before the final flush.
	var wg sync.WaitGroup
	var mu sync.Mutex
	drain := func(what string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("drain %s: %w", what, err))
				mu.Unlock()
			}
		}()
	}
	if a.udp != nil {
		drain("udp", a.udp.Shutdown)
	}
	if a.tcp != nil {
		drain("tcp", a.tcp.Shutdown)
	}
	if a.unixgrm != nil {
		drain("unixgram", a.unixgrm.Shutdown)
	}
	wg.Wait()
	// The final flush covers the partial interval since the last flush (or
	// the start): its rates are per second of that partial interval.
	now := a.cfg.Now()
	var elapsed time.Duration
	if last := a.lastAt.Load(); last > 0 {
		elapsed = now.Sub(time.Unix(0, last))
	} else if !a.started.IsZero() {
		elapsed = now.Sub(a.started)
	}
	snap := a.partialSnapshot(now, elapsed)
	a.logger.Info("final flush", "series", len(snap.Series))
	a.fanoutMu.Lock()
	defer a.fanoutMu.Unlock()
	if err := a.fanout.FlushWait(ctx, snap); err != nil {
		a.logger.Error("final flush", "err", err)
	}
	if err := a.fanout.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if a.cfg.StateDir != "" {
		if err := a.saveState(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

const stateFile = "aggregate.json"

func (a *Agent) loadState() error {
	b, err := os.ReadFile(filepath.Join(a.cfg.StateDir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return a.agg.UnmarshalState(b)
}

func (a *Agent) saveState() error {
	b, err := a.agg.MarshalState()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	if err := spool.WriteFileAtomic(filepath.Join(a.cfg.StateDir, stateFile), b, 0o640); err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	return nil
}

// Close stops the listeners and backends without a final flush; for an
// Agent that was never Run. After Run, use context cancellation instead.
func (a *Agent) Close() error {
	a.closeListeners()
	return a.currentFanout().Close(context.Background())
}

func (a *Agent) closeListeners() {
	if a.udp != nil {
		_ = a.udp.Close()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if a.tcp != nil {
		_ = a.tcp.Shutdown(ctx)
	}
	if a.unixgrm != nil {
		_ = a.unixgrm.Shutdown(ctx)
	}
}
