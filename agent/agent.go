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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/ingest"
	"github.com/statsd-agent/statsd-agent/protocol"
	"github.com/statsd-agent/statsd-agent/server/udp"
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

	// Registerer receives the agent's own metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now returns the current time; nil means time.Now. Tests and
	// simulations drive the schedule through it and through Flush.
	Now func() time.Time
}

// Agent is a running StatsD agent.
type Agent struct {
	cfg     Config
	logger  *slog.Logger
	agg     *aggregate.Aggregator
	pipe    *ingest.Pipeline
	fanout  *flush.Fanout
	udp     *udp.Server
	series  atomic.Int64
	flushMu sync.Mutex
	lastAt  atomic.Int64 // unix nanos of the last flush

	runOnce sync.Once
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
	a := &Agent{cfg: cfg, logger: logger, agg: aggregate.New(cfg.Aggregate)}
	metrics := ingest.NewMetrics()
	a.pipe = ingest.New(a.agg, cfg.Parser, metrics, logger)
	if cfg.UDP != "none" {
		s, err := udp.Listen(udp.Config{Addr: cfg.UDP, Readers: cfg.UDPReaders, ReusePort: cfg.ReusePort,
			ReadBuffer: cfg.ReadBuffer}, a.pipe, logger)
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.udp = s
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

// LinesReceived returns the number of non-empty lines received so far.
func (a *Agent) LinesReceived() uint64 { return a.pipe.Metrics().Lines.Load() }

// Metrics returns the ingest counters.
func (a *Agent) Metrics() *ingest.Metrics { return a.pipe.Metrics() }

// Backends returns the backends' names.
func (a *Agent) Backends() []string { return a.fanout.Names() }

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
	if err := a.fanout.FlushWait(ctx, snap); err != nil {
		a.logger.Debug("flush", "err", err)
	}
	return snap
}

func (a *Agent) snapshot(now time.Time) *aggregate.Snapshot {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	snap := a.agg.Flush(now)
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
	interval := a.agg.Config().Interval
	var runErr error
loop:
	for {
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
		case <-t.C:
			a.fanout.Send(a.snapshot(next))
		}
	}
	return errors.Join(runErr, a.shutdown())
}

func (a *Agent) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	var errs []error
	if a.udp != nil {
		if err := a.udp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("drain udp: %w", err))
		}
	}
	// The final flush covers the partial interval since the last tick.
	snap := a.snapshot(a.cfg.Now())
	a.logger.Info("final flush", "series", len(snap.Series))
	if err := a.fanout.FlushWait(ctx, snap); err != nil {
		a.logger.Error("final flush", "err", err)
	}
	if err := a.fanout.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close stops the listeners and backends without a final flush; for an
// Agent that was never Run. After Run, use context cancellation instead.
func (a *Agent) Close() error {
	a.closeListeners()
	return a.fanout.Close(context.Background())
}

func (a *Agent) closeListeners() {
	if a.udp != nil {
		_ = a.udp.Close()
	}
}
