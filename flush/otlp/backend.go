package otlp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/sendqueue"
)

// request is one export: Body is the binary protobuf of Msg, Items its
// number of data points. Msg is nil for a request read back from the spool.
type request = sendqueue.Request[*colmetricspb.ExportMetricsServiceRequest]

// Backend exports every flush over OTLP. It implements flush.Backend,
// flush.Closer and flush.Named. Flush and Close must not be called
// concurrently (the flush fan-out guarantees it).
type Backend struct {
	cfg     resolved
	log     *slog.Logger
	tr      transport
	limiter *rate.Limiter
	m       *metrics
	conv    *converter

	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) bool
	jitter func() float64

	q           sendqueue.Queue[*colmetricspb.ExportMetricsServiceRequest]
	spooled     bool
	head        sendqueue.State // retry state of the queue's head
	rejecting   bool
	warned      bool
	partialWarn bool
}

// New returns a Backend. Metrics are registered on reg unless it is nil;
// logger nil discards logs. With gRPC no connection is made until the
// first export.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Backend, error) {
	r, err := cfg.resolve(hostname)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Backend{
		cfg:    r,
		log:    logger.With("backend", "otlp"),
		m:      newMetrics(),
		conv:   newConverter(r),
		now:    time.Now,
		sleep:  sendqueue.Sleep,
		jitter: rand.Float64,
	}
	switch r.Protocol {
	case ProtocolGRPC:
		t, err := newGRPCTransport(r)
		if err != nil {
			return nil, err
		}
		b.tr = t
	default:
		b.tr = &httpTransport{url: r.Endpoint, headers: r.Headers, client: &http.Client{Timeout: time.Duration(r.Timeout)}}
	}
	b.q = sendqueue.NewMemory[*colmetricspb.ExportMetricsServiceRequest](r.QueueLimit)
	if r.SpoolDir != "" {
		sq, err := sendqueue.OpenSpool[*colmetricspb.ExportMetricsServiceRequest](r.SpoolDir, r.SpoolMaxBytes, b.log, "otlp")
		if err != nil {
			b.tr.close()
			return nil, err
		}
		b.q, b.spooled = sq, true
		if n, points := sq.Size(); n > 0 {
			b.log.Info("OTLP exports spooled by the previous run will be delivered on the next flush", "exports", n, "data_points", points, "dir", r.SpoolDir)
		}
		b.updateGauges()
	}
	if r.RequestsPerSecond > 0 {
		b.limiter = rate.NewLimiter(rate.Limit(r.RequestsPerSecond), max(1, int(r.RequestsPerSecond)))
	}
	if reg != nil {
		if err := b.m.register(reg); err != nil {
			b.tr.close()
			return nil, fmt.Errorf("otlp: register metrics: %w", err)
		}
	}
	return b, nil
}

// Name returns "otlp".
func (b *Backend) Name() string { return "otlp" }

// encode converts the snapshot (updating cumulative state) into export
// requests.
func (b *Backend) encode(s *aggregate.Snapshot) ([]request, error) {
	metrics := b.conv.convert(s)
	if n := b.conv.noSketch; n > 0 {
		b.conv.noSketch = 0
		b.m.noSketch.Add(float64(n))
		if !b.warned {
			b.warned = true
			b.log.Warn("distributions carry no sketch and are not exported: turn on aggregate sketches", "series", n)
		}
	}
	msgs := exportRequests(b.conv.resource, metrics, b.cfg.MaxDataPointsPerExport)
	out := make([]request, 0, len(msgs))
	for _, m := range msgs {
		n := 0
		for _, sm := range m.ResourceMetrics[0].ScopeMetrics {
			for _, x := range sm.Metrics {
				n += points(x)
			}
		}
		body, err := proto.Marshal(m)
		if err != nil {
			b.m.dropped.WithLabelValues("encode").Add(float64(n))
			return out, fmt.Errorf("otlp: marshal: %w", err)
		}
		out = append(out, request{Msg: m, Body: body, Items: n})
	}
	return out, nil
}

// Flush converts the snapshot, queues its exports behind any left from
// earlier flushes and delivers the queue in order until ctx's deadline.
func (b *Backend) Flush(ctx context.Context, s *aggregate.Snapshot) error {
	reqs, err := b.encode(s)
	qerr := b.enqueue(reqs)
	derr := b.deliver(ctx)
	if err != nil || qerr != nil || derr != nil {
		return fmt.Errorf("flush otlp: %w", errors.Join(err, qerr, derr))
	}
	return nil
}

// Close makes a last attempt to deliver the queue within ctx's deadline,
// closes the connection and reports what it could not deliver. With a
// spool, what is left stays on disk for the next start.
func (b *Backend) Close(ctx context.Context) error {
	defer b.tr.close()
	err := b.deliver(ctx)
	n, lost := b.q.Size()
	if b.spooled {
		if n > 0 {
			b.log.Info("undelivered OTLP exports kept in the spool for the next start", "exports", n, "data_points", lost)
		}
		if cerr := b.q.Close(); cerr != nil {
			return fmt.Errorf("otlp: closing the spool: %w", cerr)
		}
		return nil
	}
	if n == 0 {
		return nil
	}
	b.m.dropped.WithLabelValues("closed").Add(float64(lost))
	b.q = sendqueue.NewMemory[*colmetricspb.ExportMetricsServiceRequest](b.cfg.QueueLimit)
	b.updateGauges()
	msg := fmt.Errorf("otlp: close: %d data points undelivered", lost)
	if err != nil {
		return fmt.Errorf("%w: %w", msg, err)
	}
	return msg
}

func (b *Backend) enqueue(reqs []request) error {
	dropped, err := b.q.Push(reqs)
	if dropped > 0 {
		reason := "overflow"
		if b.spooled {
			reason = "spool_full"
		}
		b.m.dropped.WithLabelValues(reason).Add(float64(dropped))
		b.log.Warn("OTLP queue full: oldest exports dropped", "data_points", dropped, "reason", reason)
		b.head.Reset()
	}
	if err != nil {
		b.log.Error("writing OTLP exports to the spool failed", "error", err)
		err = fmt.Errorf("spool: %w", err)
	}
	b.updateGauges()
	return err
}

func (b *Backend) popped(err error) {
	if err != nil {
		b.log.Error("recording a delivery in the spool failed (it may be sent again after a restart)", "error", err)
	}
	b.updateGauges()
}

func (b *Backend) updateGauges() {
	n, points := b.q.Size()
	b.m.queued.Set(float64(points))
	b.m.queuedReqs.Set(float64(n))
}

// deliver sends the queue in order (sendqueue.Deliver; cumulative points
// of a series must not overtake each other). A retryable failure of the
// head is retried after a backoff while ctx's deadline allows; without a
// deadline it gets one attempt per flush.
func (b *Backend) deliver(ctx context.Context) error {
	pending, err := sendqueue.Deliver(ctx, b.q, &b.head, sendqueue.Options{
		Limiter: b.limiter, Now: b.now, Sleep: b.sleep, Jitter: b.jitter, Popped: b.popped,
	}, b.exportHead)
	if err != nil {
		b.log.Error("reading the OTLP spool failed; exports stay queued", "error", err)
		return fmt.Errorf("spool: %w", err)
	}
	if pending != nil {
		return b.pendingErr(pending)
	}
	return nil
}

// exportHead exports the queue's head and counts and logs the outcome.
func (b *Backend) exportHead(ctx context.Context, q *request) sendqueue.Outcome {
	out := b.tr.export(ctx, q)
	switch out.class {
	case delivered:
		if out.rejectedPoints > 0 || out.message != "" {
			b.m.exports.WithLabelValues("partial").Inc()
			b.m.dropped.WithLabelValues("rejected").Add(float64(out.rejectedPoints))
			b.m.sent.Add(float64(int64(q.Items) - out.rejectedPoints))
			if !b.partialWarn {
				b.partialWarn = true
				b.log.Warn("the OTLP endpoint rejected part of an export (logged once)", "rejected_data_points", out.rejectedPoints, "message", out.message)
			}
		} else {
			b.m.exports.WithLabelValues("ok").Inc()
			b.m.sent.Add(float64(q.Items))
		}
		if b.rejecting {
			b.rejecting = false
			b.log.Info("the OTLP endpoint accepts exports again")
		}
		return sendqueue.Outcome{Class: sendqueue.Delivered}
	case retry:
		b.m.exports.WithLabelValues("retryable").Inc()
		b.m.retries.Inc()
		return sendqueue.Outcome{Class: sendqueue.Retry, Err: out.err, RetryAfter: out.retryAfter}
	default: // rejected
		b.m.exports.WithLabelValues("rejected").Inc()
		b.m.dropped.WithLabelValues("rejected").Add(float64(q.Items))
		if !b.rejecting {
			b.rejecting = true
			b.log.Error("the OTLP endpoint rejected an export; its data points are dropped, not retried (further rejections are logged at debug level until one succeeds)",
				"error", out.err.Error(), "data_points", q.Items)
		} else {
			b.log.Debug("OTLP export rejected", "error", out.err.Error())
		}
		return sendqueue.Outcome{Class: sendqueue.Drop}
	}
}

func (b *Backend) pendingErr(err error) error {
	n, points := b.q.Size()
	return fmt.Errorf("%d data points in %d exports queued for retry: %w", points, n, err)
}
