package otlp

import (
	"context"
	"errors"
	"fmt"
	"github.com/statsd-agent/statsd-agent/flush/sendqueue"
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

	q       sendqueue.Queue[*colmetricspb.ExportMetricsServiceRequest]
	spooled bool
	// attempts and notBefore are the retry state of the queue's head.
	attempts    int
	notBefore   time.Time
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
		b.attempts, b.notBefore = 0, time.Time{}
	}
	if err != nil {
		b.log.Error("writing OTLP exports to the spool failed", "error", err)
		err = fmt.Errorf("spool: %w", err)
	}
	b.updateGauges()
	return err
}

func (b *Backend) pop() {
	b.attempts, b.notBefore = 0, time.Time{}
	if err := b.q.Pop(); err != nil {
		b.log.Error("recording a delivery in the spool failed (it may be sent again after a restart)", "error", err)
	}
	b.updateGauges()
}

func (b *Backend) updateGauges() {
	n, points := b.q.Size()
	b.m.queued.Set(float64(points))
	b.m.queuedReqs.Set(float64(n))
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
	b.notBefore = time.Time{} // each flush tries the head at once
	for ctx.Err() == nil {
		q, err := b.q.Front()
		if err != nil {
			b.log.Error("reading the OTLP spool failed; exports stay queued", "error", err)
			return fmt.Errorf("spool: %w", err)
		}
		if q == nil {
			break
		}
		if wait := b.notBefore.Sub(b.now()); wait > 0 {
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
			b.pop()
			if b.rejecting {
				b.rejecting = false
				b.log.Info("the OTLP endpoint accepts exports again")
			}
		case retry:
			b.m.exports.WithLabelValues("retryable").Inc()
			lastErr = out.err
			b.attempts++
			wait := b.backoff(b.attempts)
			if out.retryAfter > wait {
				wait = min(out.retryAfter, 5*retryMax)
			}
			b.notBefore = b.now().Add(wait)
			b.m.retries.Inc()
			if !hasDeadline {
				return b.pendingErr(lastErr)
			}
		case rejected:
			b.m.exports.WithLabelValues("rejected").Inc()
			b.m.dropped.WithLabelValues("rejected").Add(float64(q.Items))
			if !b.rejecting {
				b.rejecting = true
				b.log.Error("the OTLP endpoint rejected an export; its data points are dropped, not retried (further rejections are logged at debug level until one succeeds)",
					"error", out.err.Error(), "data_points", q.Items)
			} else {
				b.log.Debug("OTLP export rejected", "error", out.err.Error())
			}
			b.pop()
		}
	}
	if n, _ := b.q.Size(); n > 0 && lastErr != nil {
		return b.pendingErr(lastErr)
	}
	return nil
}

func (b *Backend) pendingErr(err error) error {
	n, points := b.q.Size()
	return fmt.Errorf("%d data points in %d exports queued for retry: %w", points, n, err)
}
