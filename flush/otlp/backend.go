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
)

// Retry backoff: the first retry waits about retryBase, each further one
// twice as long, at most retryMax, jittered between half and all of that.
const (
	retryBase = 500 * time.Millisecond
	retryMax  = 30 * time.Second
)

// request is one encoded export.
type request struct {
	msg    *colmetricspb.ExportMetricsServiceRequest
	body   []byte // binary protobuf of msg
	points int
}

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

	queue        []queued
	queuedPoints int
	rejecting    bool
	warned       bool
	partialWarn  bool
}

type queued struct {
	request
	attempts  int
	notBefore time.Time
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
		sleep:  sleepCtx,
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

func sleepCtx(ctx context.Context, d time.Duration) bool {
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
		out = append(out, request{msg: m, body: body, points: n})
	}
	return out, nil
}

// Flush converts the snapshot, queues its exports behind any left from
// earlier flushes and delivers the queue in order until ctx's deadline.
func (b *Backend) Flush(ctx context.Context, s *aggregate.Snapshot) error {
	reqs, err := b.encode(s)
	b.enqueue(reqs)
	derr := b.deliver(ctx)
	if err != nil || derr != nil {
		return fmt.Errorf("flush otlp: %w", errors.Join(err, derr))
	}
	return nil
}

// Close makes a last attempt to deliver the queue within ctx's deadline,
// closes the connection and reports what it could not deliver.
func (b *Backend) Close(ctx context.Context) error {
	defer b.tr.close()
	if len(b.queue) == 0 {
		return nil
	}
	err := b.deliver(ctx)
	if len(b.queue) == 0 {
		return nil
	}
	lost := b.queuedPoints
	b.m.dropped.WithLabelValues("closed").Add(float64(lost))
	b.queue, b.queuedPoints = nil, 0
	b.updateGauges()
	msg := fmt.Errorf("otlp: close: %d data points undelivered", lost)
	if err != nil {
		return fmt.Errorf("%w: %w", msg, err)
	}
	return msg
}

func (b *Backend) enqueue(reqs []request) {
	for _, r := range reqs {
		b.queue = append(b.queue, queued{request: r})
		b.queuedPoints += r.points
	}
	for len(b.queue) > 0 && b.queuedPoints > b.cfg.QueueLimit {
		n := b.queue[0].points
		b.pop()
		b.m.dropped.WithLabelValues("overflow").Add(float64(n))
	}
	b.updateGauges()
}

func (b *Backend) pop() {
	b.queuedPoints -= b.queue[0].points
	b.queue[0] = queued{}
	b.queue = b.queue[1:]
	if len(b.queue) == 0 {
		b.queue = nil
	}
	b.updateGauges()
}

func (b *Backend) updateGauges() {
	b.m.queued.Set(float64(b.queuedPoints))
	b.m.queuedReqs.Set(float64(len(b.queue)))
}

func (b *Backend) backoff(n int) time.Duration {
	d := retryMax
	if n < 10 {
		d = min(retryBase<<(n-1), retryMax)
	}
	return d/2 + time.Duration(b.jitter()*float64(d/2))
}

// deliver sends the queue in order (cumulative points of a series must not
// overtake each other). A retryable failure of the head is retried after a
// backoff while ctx's deadline allows; without a deadline it gets one
// attempt per flush.
func (b *Backend) deliver(ctx context.Context) error {
	_, hasDeadline := ctx.Deadline()
	var lastErr error
	if len(b.queue) > 0 {
		b.queue[0].notBefore = time.Time{}
	}
	for len(b.queue) > 0 && ctx.Err() == nil {
		q := &b.queue[0]
		if wait := q.notBefore.Sub(b.now()); wait > 0 {
			if !hasDeadline || !b.sleep(ctx, wait) {
				break
			}
		}
		if b.limiter != nil {
			now := b.now()
			r := b.limiter.ReserveN(now, 1)
			if d := r.DelayFrom(now); d > 0 && !b.sleep(ctx, d) {
				r.CancelAt(b.now())
				break
			}
		}
		out := b.tr.export(ctx, &q.request)
		switch out.class {
		case delivered:
			if out.rejectedPoints > 0 || out.message != "" {
				b.m.exports.WithLabelValues("partial").Inc()
				b.m.dropped.WithLabelValues("rejected").Add(float64(out.rejectedPoints))
				b.m.sent.Add(float64(int64(q.points) - out.rejectedPoints))
				if !b.partialWarn {
					b.partialWarn = true
					b.log.Warn("the OTLP endpoint rejected part of an export (logged once)", "rejected_data_points", out.rejectedPoints, "message", out.message)
				}
			} else {
				b.m.exports.WithLabelValues("ok").Inc()
				b.m.sent.Add(float64(q.points))
			}
			b.pop()
			if b.rejecting {
				b.rejecting = false
				b.log.Info("the OTLP endpoint accepts exports again")
			}
		case retry:
			b.m.exports.WithLabelValues("retryable").Inc()
			lastErr = out.err
			q.attempts++
			wait := b.backoff(q.attempts)
			if out.retryAfter > wait {
				wait = min(out.retryAfter, 5*retryMax)
			}
			q.notBefore = b.now().Add(wait)
			b.m.retries.Inc()
			if !hasDeadline {
				return b.pendingErr(lastErr)
			}
		case rejected:
			b.m.exports.WithLabelValues("rejected").Inc()
			b.m.dropped.WithLabelValues("rejected").Add(float64(q.points))
			if !b.rejecting {
				b.rejecting = true
				b.log.Error("the OTLP endpoint rejected an export; its data points are dropped, not retried (further rejections are logged at debug level until one succeeds)",
					"error", out.err.Error(), "data_points", q.points)
			} else {
				b.log.Debug("OTLP export rejected", "error", out.err.Error())
			}
			b.pop()
		}
	}
	if len(b.queue) > 0 && lastErr != nil {
		return b.pendingErr(lastErr)
	}
	return nil
}

func (b *Backend) pendingErr(err error) error {
	return fmt.Errorf("%d data points in %d exports queued for retry: %w", b.queuedPoints, len(b.queue), err)
}
