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

	q           *sendqueue.Sender[*colmetricspb.ExportMetricsServiceRequest]
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
	b.q, err = sendqueue.NewSender[*colmetricspb.ExportMetricsServiceRequest](sendqueue.Config{
		QueueLimit: r.QueueLimit, SpoolDir: r.SpoolDir, SpoolMaxBytes: r.SpoolMaxBytes, Log: b.log,
		Names:   sendqueue.Names{Backend: "otlp", Kind: "OTLP", Requests: "exports", Items: "data_points", ItemsText: "data points"},
		Metrics: sendqueue.Metrics{Dropped: b.m.dropped, Queued: b.m.queued, QueuedReqs: b.m.queuedReqs},
	})
	if err != nil {
		b.tr.close()
		return nil, err
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
	qerr := b.q.Enqueue(reqs)
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
	return b.q.Close(ctx, b.deliveryOptions(), b.exportHead)
}

// deliveryOptions are the clock, randomness and pacing of delivery,
// read on each call (tests replace them after New).
func (b *Backend) deliveryOptions() sendqueue.Options {
	return sendqueue.Options{Limiter: b.limiter, Now: b.now, Sleep: b.sleep, Jitter: b.jitter}
}

// deliver sends the queue in order (sendqueue.Deliver; cumulative points
// of a series must not overtake each other). A retryable failure of the
// head is retried after a backoff while ctx's deadline allows; without a
// deadline it gets one attempt per flush.
func (b *Backend) deliver(ctx context.Context) error {
	return b.q.Deliver(ctx, b.deliveryOptions(), b.exportHead)
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
