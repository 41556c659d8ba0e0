package remotewrite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/promseries"
	"github.com/statsd-agent/statsd-agent/flush/sendqueue"
)

// Backend sends every flush to a Prometheus remote-write endpoint. It
// implements flush.Backend, flush.Closer and flush.Named. Flush and Close
// must not be called concurrently (the flush fan-out guarantees it).
type Backend struct {
	cfg     resolved
	log     *slog.Logger
	client  *http.Client
	limiter *rate.Limiter // nil: unpaced
	m       *metrics
	conv    *promseries.Converter

	// now, sleep and jitter are the clock and randomness; tests replace
	// them. sleep waits d or returns false when ctx would end first.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) bool
	jitter func() float64

	q            *sendqueue.Sender[struct{}]
	rejecting    bool // the last answer was a 4xx: logged once
	warnedSketch bool
	lastMetadata time.Time // snapshot time of the last metadata sent
}

// New returns a Backend. Metrics are registered on reg unless it is nil;
// logger nil discards logs.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Backend, error) {
	r, err := cfg.resolve(os.Getenv, hostname)
	if err != nil {
		return nil, err
	}
	conv, err := promseries.New(r.series)
	if err != nil {
		return nil, fmt.Errorf("remotewrite: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Backend{
		cfg:    r,
		log:    logger.With("backend", "remotewrite"),
		client: &http.Client{Timeout: time.Duration(r.Timeout)},
		m:      newMetrics(),
		conv:   conv,
		now:    time.Now,
		sleep:  sendqueue.Sleep,
		jitter: rand.Float64,
	}
	b.q, err = sendqueue.NewSender[struct{}](sendqueue.Config{
		QueueLimit: r.QueueLimit, SpoolDir: r.SpoolDir, SpoolMaxBytes: r.SpoolMaxBytes, Log: b.log,
		Names:   sendqueue.Names{Backend: "remotewrite", Kind: "remote-write", Requests: "requests", Items: "series", ItemsText: "series"},
		Metrics: sendqueue.Metrics{Dropped: b.m.dropped, Queued: b.m.queued, QueuedReqs: b.m.queuedReqs},
	})
	if err != nil {
		return nil, err
	}
	if r.RequestsPerSecond > 0 {
		b.limiter = rate.NewLimiter(rate.Limit(r.RequestsPerSecond), max(1, int(r.RequestsPerSecond)))
	}
	if reg != nil {
		if err := b.m.register(reg); err != nil {
			return nil, fmt.Errorf("remotewrite: register metrics: %w", err)
		}
	}
	return b, nil
}

// Name returns "remotewrite".
func (b *Backend) Name() string { return "remotewrite" }

// encode converts the snapshot (updating the running totals) and encodes
// its requests.
func (b *Backend) encode(s *aggregate.Snapshot) ([]request, error) {
	res := b.conv.Convert(s)
	if res.Duplicates > 0 {
		b.m.dropped.WithLabelValues("duplicate").Add(float64(res.Duplicates))
		b.log.Debug("StatsD series mapped to an existing Prometheus series were dropped", "count", res.Duplicates)
	}
	if res.NoSketch > 0 && !b.warnedSketch && !b.cfg.NoNativeHistograms {
		b.warnedSketch = true
		b.log.Warn("distributions carry no sketch, so no native histograms are sent: turn on aggregate sketches", "series", res.NoSketch)
	}
	wrs := writeRequests(res.Series, s.Time.UnixMilli(), !b.cfg.NoNativeHistograms, b.cfg.MaxSeriesPerRequest)
	if b.cfg.MetadataInterval >= 0 && (b.lastMetadata.IsZero() || s.Time.Sub(b.lastMetadata) >= time.Duration(b.cfg.MetadataInterval)) {
		b.lastMetadata = s.Time
		wrs = append(wrs, metadataRequests(res.Series, b.cfg.MaxSeriesPerRequest)...)
	}
	reqs := make([]request, 0, len(wrs))
	for _, wr := range wrs {
		body, err := marshal(wr)
		if err != nil {
			b.m.dropped.WithLabelValues("encode").Add(float64(len(wr.Timeseries)))
			return reqs, err
		}
		reqs = append(reqs, request{Body: body, Items: len(wr.Timeseries)})
	}
	return reqs, nil
}

// Flush converts and encodes the snapshot, queues its requests behind any
// left from earlier flushes and delivers the queue in order until ctx's
// deadline. It returns an error when requests stay queued after a failure.
func (b *Backend) Flush(ctx context.Context, s *aggregate.Snapshot) error {
	start := time.Now()
	reqs, err := b.encode(s)
	b.m.encodeSecs.Observe(time.Since(start).Seconds())
	qerr := b.q.Enqueue(reqs)
	derr := b.deliver(ctx)
	if err != nil || qerr != nil || derr != nil {
		return fmt.Errorf("flush remotewrite: %w", errors.Join(err, qerr, derr))
	}
	return nil
}

// Close makes a last attempt to deliver the queue within ctx's deadline
// and reports what it could not deliver. With a spool, what is left stays
// on disk for the next start (logged, not dropped).
func (b *Backend) Close(ctx context.Context) error {
	defer b.client.CloseIdleConnections()
	return b.q.Close(ctx, b.deliveryOptions(), b.sendHead)
}

// deliveryOptions are the clock, randomness and pacing of delivery,
// read on each call (tests replace them after New).
func (b *Backend) deliveryOptions() sendqueue.Options {
	return sendqueue.Options{Limiter: b.limiter, Now: b.now, Sleep: b.sleep, Jitter: b.jitter}
}

// deliver sends the queue in order (sendqueue.Deliver). A retryable
// failure of the head keeps everything behind it waiting (samples of a
// series must arrive in time order) and is retried after a backoff while
// ctx's deadline allows; without a deadline the head gets one attempt.
func (b *Backend) deliver(ctx context.Context) error {
	return b.q.Deliver(ctx, b.deliveryOptions(), b.sendHead)
}

// sendHead sends the queue's head and counts and logs the outcome.
func (b *Backend) sendHead(ctx context.Context, q *request) sendqueue.Outcome {
	out := b.send(ctx, q.Body)
	switch out.class {
	case delivered:
		b.m.sent.Add(float64(q.Items))
		if b.rejecting {
			b.rejecting = false
			b.log.Info("remote-write endpoint accepts requests again")
		}
		return sendqueue.Outcome{Class: sendqueue.Delivered}
	case retry:
		b.m.retries.Inc()
		return sendqueue.Outcome{Class: sendqueue.Retry, Err: out.err, RetryAfter: out.retryAfter}
	case noNative:
		b.m.dropped.WithLabelValues("rejected").Add(float64(q.Items))
		if !b.cfg.NoNativeHistograms {
			b.cfg.NoNativeHistograms = true
			b.log.Error("the remote-write receiver has native histograms disabled: this request is dropped and from now on only the classic _count, _sum and _quantile series are sent; start Prometheus with --enable-feature=native-histograms, or set -remotewrite-no-native-histograms to silence this",
				"error", out.err.Error(), "series", q.Items)
		}
		return sendqueue.Outcome{Class: sendqueue.Drop}
	default: // rejected
		b.m.dropped.WithLabelValues("rejected").Add(float64(q.Items))
		if !b.rejecting {
			b.rejecting = true
			b.log.Error("remote-write endpoint rejected a request; its series are dropped, not retried (further rejections are logged at debug level until one succeeds)",
				"status", out.status, "error", out.err.Error(), "series", q.Items)
		} else {
			b.log.Debug("remote-write request rejected", "status", out.status, "error", out.err.Error())
		}
		return sendqueue.Outcome{Class: sendqueue.Drop}
	}
}

type class uint8

const (
	delivered class = iota
	retry           // network error, 5xx, 429
	rejected        // other 4xx (and unexpected answers): drop
	noNative        // the receiver has native histograms disabled
)

// nativeDisabled is Prometheus' answer (a 500) to a native histogram
// sample when its native-histograms feature is off; retrying cannot help.
const nativeDisabled = "native histograms are disabled"

type outcome struct {
	class      class
	status     int
	err        error
	retryAfter time.Duration
}

// send makes one request, as the remote-write 1.0 specification says.
func (b *Backend) send(ctx context.Context, body []byte) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.URL, bytes.NewReader(body))
	if err != nil {
		b.m.requests.WithLabelValues("rejected").Inc()
		return outcome{class: rejected, err: err}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "statsd-agent")
	for k, v := range b.cfg.Headers {
		req.Header.Set(k, v)
	}
	switch {
	case b.cfg.token != "":
		req.Header.Set("Authorization", "Bearer "+b.cfg.token)
	case b.cfg.Username != "":
		req.SetBasicAuth(b.cfg.Username, b.cfg.password)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.m.requests.WithLabelValues("network").Inc()
		return outcome{class: retry, err: redactURL(err)}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	c := resp.StatusCode
	if c >= 200 && c < 300 {
		b.m.requests.WithLabelValues("ok").Inc()
		return outcome{class: delivered, status: c}
	}
	text := strings.TrimSpace(string(msg))
	if len(text) > 512 {
		text = text[:512] + "..."
	}
	out := outcome{status: c, err: fmt.Errorf("POST %s: %s: %s", logURL(b.cfg.URL), resp.Status, text)}
	if c >= 500 && strings.Contains(text, nativeDisabled) {
		out.class = noNative
		b.m.requests.WithLabelValues("rejected").Inc()
		return out
	}
	if c >= 500 || c == http.StatusTooManyRequests {
		out.class = retry
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			out.retryAfter = time.Duration(s) * time.Second
		}
		b.m.requests.WithLabelValues("server").Inc()
		return out
	}
	out.class = rejected
	b.m.requests.WithLabelValues("rejected").Inc()
	return out
}

// logURL returns u without its query, which may hold a credential.
func logURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?[redacted]"
	}
	return u
}

// redactURL removes the query from the URL of a *url.Error; errors.Is
// still sees the cause (timeouts, cancellation).
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: logURL(ue.URL), Err: ue.Err}
	}
	return err
}
