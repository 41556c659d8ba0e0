package sendqueue

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Names are the words a Sender uses in its logs and errors.
type Names struct {
	// Backend prefixes errors and names the spool: "remotewrite".
	Backend string
	// Kind starts log messages: "remote-write", "OTLP".
	Kind string
	// Requests is the plural of a request, in messages and as the log
	// key of request counts: "requests", "exports".
	Requests string
	// Items is the log key of item counts: "series", "data_points";
	// ItemsText is the same in error texts: "series", "data points".
	Items, ItemsText string
}

// Metrics are the backend's metrics a Sender keeps: items dropped by
// reason ("overflow", "spool_full", "closed") and the queued items and
// requests.
type Metrics struct {
	Dropped    *prometheus.CounterVec
	Queued     prometheus.Gauge
	QueuedReqs prometheus.Gauge
}

// Config configures a Sender.
type Config struct {
	// QueueLimit bounds the in-memory queue in items.
	QueueLimit int
	// SpoolDir, if set, keeps the queue on disk, bounded to SpoolMaxBytes
	// (0: the spool default).
	SpoolDir      string
	SpoolMaxBytes int64
	Log           *slog.Logger // required
	Names         Names
	Metrics       Metrics
}

// Sender is a backend's queue of encoded requests with its retry state:
// it queues, delivers in order (Deliver) and closes, counting and logging
// drops and keeping the queue gauges. It is used by one goroutine at a
// time.
type Sender[M any] struct {
	cfg     Config
	q       Queue[M]
	spooled bool
	head    State
}

// NewSender returns a Sender with an in-memory queue, or with a spool
// when cfg.SpoolDir is set: what a previous run left there is logged and
// delivered first.
func NewSender[M any](cfg Config) (*Sender[M], error) {
	s := &Sender[M]{cfg: cfg, q: NewMemory[M](cfg.QueueLimit)}
	if cfg.SpoolDir != "" {
		sq, err := OpenSpool[M](cfg.SpoolDir, cfg.SpoolMaxBytes, cfg.Log, cfg.Names.Backend)
		if err != nil {
			return nil, err
		}
		s.q, s.spooled = sq, true
		if n, items := sq.Size(); n > 0 {
			cfg.Log.Info(fmt.Sprintf("%s %s spooled by the previous run will be delivered on the next flush", cfg.Names.Kind, cfg.Names.Requests),
				cfg.Names.Requests, n, cfg.Names.Items, items, "dir", cfg.SpoolDir)
		}
		s.updateGauges()
	}
	return s, nil
}

// Size returns the queued requests and items.
func (s *Sender[M]) Size() (requests, items int) { return s.q.Size() }

// Enqueue appends requests within the queue's bound, counting and logging
// what the bound drops.
func (s *Sender[M]) Enqueue(reqs []Request[M]) error {
	dropped, err := s.q.Push(reqs)
	if dropped > 0 {
		reason := "overflow"
		if s.spooled {
			reason = "spool_full"
		}
		s.cfg.Metrics.Dropped.WithLabelValues(reason).Add(float64(dropped))
		s.cfg.Log.Warn(fmt.Sprintf("%s queue full: oldest %s dropped", s.cfg.Names.Kind, s.cfg.Names.Requests),
			s.cfg.Names.Items, dropped, "reason", reason)
		s.head.Reset()
	}
	if err != nil {
		s.cfg.Log.Error(fmt.Sprintf("writing %s %s to the spool failed", s.cfg.Names.Kind, s.cfg.Names.Requests), "error", err)
		err = fmt.Errorf("spool: %w", err)
	}
	s.updateGauges()
	return err
}

// Deliver sends the queue in order with the package's Deliver (o.Popped
// is the Sender's own). It returns an error when the queue cannot be read
// or when requests stay queued after a retryable failure.
func (s *Sender[M]) Deliver(ctx context.Context, o Options, send func(ctx context.Context, r *Request[M]) Outcome) error {
	o.Popped = s.popped
	pending, err := Deliver(ctx, s.q, &s.head, o, send)
	if err != nil {
		s.cfg.Log.Error(fmt.Sprintf("reading the %s spool failed; %s stay queued", s.cfg.Names.Kind, s.cfg.Names.Requests), "error", err)
		return fmt.Errorf("spool: %w", err)
	}
	if pending != nil {
		n, items := s.q.Size()
		return fmt.Errorf("%d %s in %d %s queued for retry: %w", items, s.cfg.Names.ItemsText, n, s.cfg.Names.Requests, pending)
	}
	return nil
}

// Close makes a last delivery attempt within ctx's deadline and reports
// what it could not deliver. With a spool, what is left stays on disk for
// the next start (logged, not dropped); in memory it is counted as
// dropped ("closed") and the queue starts empty again.
func (s *Sender[M]) Close(ctx context.Context, o Options, send func(ctx context.Context, r *Request[M]) Outcome) error {
	err := s.Deliver(ctx, o, send)
	nm := s.cfg.Names
	n, lost := s.q.Size()
	if s.spooled {
		if n > 0 {
			s.cfg.Log.Info(fmt.Sprintf("undelivered %s %s kept in the spool for the next start", nm.Kind, nm.Requests), nm.Requests, n, nm.Items, lost)
		}
		if cerr := s.q.Close(); cerr != nil {
			return fmt.Errorf("%s: closing the spool: %w", nm.Backend, cerr)
		}
		return nil
	}
	if n == 0 {
		return nil
	}
	s.cfg.Metrics.Dropped.WithLabelValues("closed").Add(float64(lost))
	s.q = NewMemory[M](s.cfg.QueueLimit)
	s.head.Reset()
	s.updateGauges()
	msg := fmt.Errorf("%s: close: %d %s undelivered", nm.Backend, lost, nm.ItemsText)
	if err != nil {
		return fmt.Errorf("%w: %w", msg, err)
	}
	return msg
}

func (s *Sender[M]) popped(err error) {
	if err != nil {
		s.cfg.Log.Error("recording a delivery in the spool failed (it may be sent again after a restart)", "error", err)
	}
	s.updateGauges()
}

func (s *Sender[M]) updateGauges() {
	n, items := s.q.Size()
	s.cfg.Metrics.Queued.Set(float64(items))
	s.cfg.Metrics.QueuedReqs.Set(float64(n))
}
