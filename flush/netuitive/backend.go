package netuitive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
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
	"github.com/statsd-agent/statsd-agent/spool"
)

// Retry backoff: the first retry of a post waits about retryBase, each
// further one twice as long, at most retryMax; the wait is jittered
// uniformly between half and all of that.
const (
	retryBase = time.Second
	retryMax  = time.Minute
	// maxSkew is the clock difference the reference client still calls
	// "in sync" (client.py time_insync).
	maxSkew = 5 * time.Minute
)

// Backend posts every flush to the Netuitive ingest API. It implements
// flush.Backend, flush.Closer and flush.Named. Flush and Close must not be
// called concurrently (the flush fan-out guarantees it).
type Backend struct {
	cfg     resolved
	log     *slog.Logger
	client  *http.Client
	limiter *rate.Limiter // nil: unpaced
	m       *metrics

	// now and sleep are the clock; tests replace them. sleep waits d or
	// returns false at once when ctx would expire first.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) bool
	// jitter returns a float in [0, 1).
	jitter func() float64

	// queue holds the posts waiting for delivery, oldest first; with a
	// spool, only the head post (or the parts a 413 split it into) while
	// it is being delivered.
	queue       []queued
	queuedItems [2]int // by kind, of queue
	// spool, if not nil, is the queue on disk (Config.SpoolDir);
	// spoolSeen is its Stats at the last look, rec a scratch record.
	spool        *spool.Queue
	spoolSeen    spool.Stats
	rec          []byte
	closed       bool // Close closed the spool
	authFailing  bool // the last answer was a configuration/auth failure
	stopped      bool // the service asked us to stop (410/418)
	clockDone    bool // the server clock was compared once
	warned413    bool // a post too large was reported once
	checkFailing bool // the check-in is refused (reported once)
	// interval is the longest flush interval seen: a final flush on
	// shutdown carries only the elapsed part of its interval.
	interval time.Duration
}

// queued is a post waiting for delivery.
type queued struct {
	post
	attempts  int
	notBefore time.Time
}

// New returns a Backend. The API key comes from cfg.APIKey or, when empty,
// from the NETUITIVE_API_KEY environment variable; a missing key is an
// error. Metrics are registered on reg unless it is nil; logger nil
// discards logs (the caller adds a backend attribute if it wants one). With
// cfg.SpoolDir set, New opens the spool there (creating it; a directory
// another Backend has open is refused) and the next Flush delivers the
// posts a previous run left first. Otherwise, with cfg.QueueFile set, New
// loads the posts a previous Close saved there.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Backend, error) {
	r, err := cfg.resolve(os.Getenv, hostname)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Backend{
		cfg: r,
		log: logger,
		client: &http.Client{
			Timeout: time.Duration(r.Timeout),
			// A redirect could carry the key in the path to another host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		m:      newMetrics(),
		now:    time.Now,
		sleep:  sleepCtx,
		jitter: rand.Float64,
	}
	if r.PostsPerMinute > 0 {
		burst := max(1, int(r.PostsPerMinute))
		b.limiter = rate.NewLimiter(rate.Limit(r.PostsPerMinute/60), burst)
	}
	if reg != nil {
		if err := b.m.register(reg); err != nil {
			return nil, fmt.Errorf("netuitive: register metrics: %w", err)
		}
	}
	switch {
	case r.SpoolDir != "":
		if err := b.openSpool(); err != nil {
			return nil, err
		}
	case r.QueueFile != "":
		if err := b.loadQueue(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Name returns "netuitive".
func (b *Backend) Name() string { return "netuitive" }

// sleepCtx waits d unless ctx ends first; it does not start a wait that
// would outlast ctx's deadline.
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

// Flush encodes the snapshot, queues its posts behind any left from
// earlier flushes, posts the heartbeat check-in and delivers the queue in
// order until it is empty or ctx's deadline comes; what is left stays
// queued for the next Flush. It returns an error for transient delivery
// failures (the data stays queued) and for data it had to drop (queue
// overflow, non-finite values). Rejections (400), authentication failures
// and the service's stop signal are logged by the backend, once, instead.
// With a spool, the posts are written to it (and fsynced) before any is
// sent, and Flush fails after Close.
func (b *Backend) Flush(ctx context.Context, snap *aggregate.Snapshot) error {
	if b.closed {
		return errors.New("flush netuitive: the backend is closed")
	}
	posts, invalid := encode(snap, &b.cfg)
	var errs []error
	if invalid > 0 {
		b.m.dropped.WithLabelValues("samples", "invalid").Add(float64(invalid))
		errs = append(errs, fmt.Errorf("dropped %d series with NaN or infinite values", invalid))
	}
	if b.stopped {
		for _, p := range posts {
			b.m.dropped.WithLabelValues(itemName(p.kind), "stopped").Add(float64(p.items))
		}
		return nil
	}
	if b.spool != nil {
		dropped, err := b.spoolPush(posts)
		if err != nil {
			errs = append(errs, err)
		}
		if dropped > 0 {
			errs = append(errs, fmt.Errorf("spool_max_bytes %d reached: dropped the oldest %d posts", b.cfg.SpoolMaxBytes, dropped))
		}
	} else if dropped := b.enqueue(posts); dropped[kindIngest]+dropped[kindEvents] > 0 {
		errs = append(errs, fmt.Errorf("queue_limit %d reached: dropped the oldest %d samples and %d events",
			b.cfg.QueueLimit, dropped[kindIngest], dropped[kindEvents]))
	}
	if !b.clockDone {
		b.checkClock(ctx)
	}
	b.interval = max(b.interval, snap.Interval)
	if !b.cfg.NoCheckIn {
		b.checkIn(ctx, b.interval)
	}
	if err := b.deliver(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("flush netuitive: %w", errors.Join(errs...))
	}
	return nil
}

// Close makes a last attempt to deliver the queue within ctx's deadline,
// then saves what is left to QueueFile when one is configured; otherwise it
// reports what it could not deliver. With a spool, what is left stays in
// it for the next start (logged, counted in spooled_total, not as
// dropped), Close returns only a failure to close the spool, and the
// Backend must not be used afterwards (Flush fails).
func (b *Backend) Close(ctx context.Context) error {
	defer b.client.CloseIdleConnections()
	if b.spool != nil {
		return b.closeSpool(ctx)
	}
	if b.closed {
		return nil
	}
	if b.stopped || len(b.queue) == 0 {
		return nil
	}
	err := b.deliver(ctx)
	if len(b.queue) == 0 {
		return nil
	}
	lost := b.queuedItems
	if b.cfg.QueueFile != "" {
		werr := writeQueue(b.cfg.QueueFile, b.queue)
		if werr == nil {
			b.log.Info("netuitive: saved undelivered posts for the next start", "file", b.cfg.QueueFile,
				"samples", lost[kindIngest], "events", lost[kindEvents])
			b.queue, b.queuedItems = nil, [2]int{}
			b.updateQueueGauges()
			return nil
		}
		err = errors.Join(err, fmt.Errorf("save queue: %w", werr))
	}
	for _, q := range b.queue {
		b.m.dropped.WithLabelValues(itemName(q.kind), "closed").Add(float64(q.items))
	}
	b.queue, b.queuedItems = nil, [2]int{}
	b.updateQueueGauges()
	msg := fmt.Errorf("netuitive: close: %d samples and %d events undelivered", lost[kindIngest], lost[kindEvents])
	if err != nil {
		return fmt.Errorf("%w: %w", msg, err)
	}
	return msg
}

func itemName(k kind) string {
	if k == kindEvents {
		return "events"
	}
	return "samples"
}

// enqueue appends posts and enforces QueueLimit by dropping the oldest.
func (b *Backend) enqueue(posts []post) (dropped [2]int) {
	for _, p := range posts {
		b.queue = append(b.queue, queued{post: p})
		b.queuedItems[p.kind] += p.items
	}
	for len(b.queue) > 0 && b.queuedItems[0]+b.queuedItems[1] > b.cfg.QueueLimit {
		q := b.queue[0]
		b.queue[0] = queued{}
		b.queue = b.queue[1:]
		b.queuedItems[q.kind] -= q.items
		dropped[q.kind] += q.items
		b.m.dropped.WithLabelValues(itemName(q.kind), "overflow").Add(float64(q.items))
	}
	b.updateQueueGauges()
	return dropped
}

func (b *Backend) pop() {
	q := b.queue[0]
	b.queue[0] = queued{}
	b.queue = b.queue[1:]
	b.queuedItems[q.kind] -= q.items
	if len(b.queue) == 0 {
		b.queue = nil // let the backing array go
		if b.spool != nil {
			b.ackHead() // every part of the spooled post is resolved
		}
	}
	b.updateQueueGauges()
}

func (b *Backend) updateQueueGauges() {
	b.m.queued.WithLabelValues("samples").Set(float64(b.queuedItems[kindIngest]))
	b.m.queued.WithLabelValues("events").Set(float64(b.queuedItems[kindEvents]))
}

// backoff returns the wait before retry number n (n >= 1), with jitter.
func (b *Backend) backoff(n int) time.Duration {
	d := retryMax
	if n < 7 {
		d = min(retryBase<<(n-1), retryMax)
	}
	return d/2 + time.Duration(b.jitter()*float64(d/2))
}

// deliver posts the queue in order. A retryable failure of the head keeps
// everything behind it waiting (flush order), and is retried after a
// backoff while ctx's deadline allows; without a deadline the head gets
// one attempt.
func (b *Backend) deliver(ctx context.Context) error {
	_, hasDeadline := ctx.Deadline()
	var lastErr error
	if len(b.queue) == 0 && b.spool != nil {
		b.loadHead()
	}
	if len(b.queue) > 0 {
		// Every flush tries the head at once; the backoff spaces the
		// retries within one flush (after a long outage, the grown backoff
		// leaves one attempt per flush).
		b.queue[0].notBefore = time.Time{}
	}
	for ctx.Err() == nil && !b.stopped {
		if len(b.queue) == 0 && (b.spool == nil || !b.loadHead()) {
			break
		}
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
		url := b.cfg.endpoints.data
		if q.kind == kindEvents {
			url = b.cfg.endpoints.events
		}
		out := b.send(ctx, q.kind.String(), url, q.body)
		switch out.class {
		case delivered:
			b.m.delivered.WithLabelValues(itemName(q.kind)).Add(float64(q.items))
			b.pop()
			b.recovered()
		case retry:
			lastErr = out.err
			q.attempts++
			q.notBefore = b.now().Add(max(b.backoff(q.attempts), out.retryAfter))
			b.m.retries.Inc()
			if !hasDeadline {
				return b.pendingErr(lastErr)
			}
		case rejected:
			if out.status == http.StatusRequestEntityTooLarge && b.halveHead() {
				continue
			}
			b.logRejected(q, out)
			b.m.dropped.WithLabelValues(itemName(q.kind), "rejected").Add(float64(q.items))
			b.pop()
			b.recovered()
		case refused:
			b.reportRefused(out)
			return nil // kept queued; tried again next flush
		case stop:
			b.stop(out)
			return nil
		}
	}
	if len(b.queue) > 0 || b.spool != nil && b.spool.Len() > 0 {
		if lastErr == nil && !b.stopped {
			// The deadline came before the head could be tried (a slow
			// check-in, pacing): the data is still queued, say so.
			lastErr = ctx.Err()
		}
		if lastErr != nil {
			return b.pendingErr(lastErr)
		}
	}
	return nil
}

// halveHead replaces the head post, refused as too large (413), by two
// posts with half of its metrics (and their samples) or events each. It
// reports false when the post cannot be split.
func (b *Backend) halveHead() bool {
	q := b.queue[0]
	first, second, ok := halve(q.kind, q.body)
	if !ok {
		return false
	}
	if !b.warned413 {
		b.warned413 = true
		b.log.Warn("netuitive refused a post as too large (413); splitting it, lower max_metrics_per_post", "items", q.items)
	}
	b.m.splits.Inc()
	rest := append([]queued{first, second}, b.queue[1:]...)
	b.queue = rest
	return true
}

// halve splits an encoded post in two. An ingest post holds one element
// whose samples[i] belongs to metrics[i] (see split); an events post is an
// array of events.
func halve(k kind, body []byte) (first, second queued, ok bool) {
	if k == kindEvents {
		var evs []json.RawMessage
		if json.Unmarshal(body, &evs) != nil || len(evs) < 2 {
			return first, second, false
		}
		h := len(evs) / 2
		a, _ := json.Marshal(evs[:h])
		c, _ := json.Marshal(evs[h:])
		return queued{post: post{kind: k, body: a, items: h}}, queued{post: post{kind: k, body: c, items: len(evs) - h}}, true
	}
	var els []map[string]json.RawMessage
	if json.Unmarshal(body, &els) != nil || len(els) != 1 {
		return first, second, false
	}
	var ms, ss []json.RawMessage
	if json.Unmarshal(els[0]["metrics"], &ms) != nil || json.Unmarshal(els[0]["samples"], &ss) != nil || len(ms) < 2 || len(ms) != len(ss) {
		return first, second, false
	}
	part := func(m, s []json.RawMessage) queued {
		el := maps.Clone(els[0])
		el["metrics"], _ = json.Marshal(m)
		el["samples"], _ = json.Marshal(s)
		out, _ := json.Marshal([]map[string]json.RawMessage{el})
		return queued{post: post{kind: k, body: out, items: len(s)}}
	}
	h := len(ms) / 2
	return part(ms[:h], ss[:h]), part(ms[h:], ss[h:]), true
}

func (b *Backend) pendingErr(err error) error {
	if b.spool != nil {
		return fmt.Errorf("%s, queued for retry: %w", b.spoolPending(), err)
	}
	return fmt.Errorf("%d samples and %d events queued for retry: %w", b.queuedItems[kindIngest], b.queuedItems[kindEvents], err)
}

// class is how a response is handled.
type class uint8

const (
	delivered class = iota
	retry           // network error, 5xx, 408, 429: back off and retry
	rejected        // 400 and other 4xx: drop the post, log the detail
	refused         // 401, 403, 404, unexpected status: configuration problem
	stop            // 410, 418: the service asks clients to stop posting
)

// outcome is the result of one request.
type outcome struct {
	class  class
	status int
	err    error     // redacted
	body   errorBody // parsed error body, if any
	raw    string    // redacted, truncated body when not JSON
	// retryAfter is the server's Retry-After (seconds form), 0 if none.
	retryAfter time.Duration
}

// errorBody is the documented error JSON (spec 3.3).
type errorBody struct {
	Status  int      `json:"status"`
	Message string   `json:"message"`
	Detail  string   `json:"detail"`
	Errors  []string `json:"errors"`
}

// parseErrorBody decodes an error body; ok is false when it is not the
// documented JSON object.
func parseErrorBody(b []byte) (eb errorBody, ok bool) {
	if err := json.Unmarshal(b, &eb); err != nil {
		return errorBody{}, false
	}
	return eb, eb.Detail != "" || eb.Message != "" || len(eb.Errors) > 0
}

// send makes one request. body nil means an empty body (check-in).
func (b *Backend) send(ctx context.Context, endpoint, url string, body []byte) outcome {
	b.m.posts.WithLabelValues(endpoint).Inc()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return b.failed(endpoint, "request", outcome{class: refused, err: b.redact(err)})
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	req.Header.Set("User-Agent", "statsd-agent")
	resp, err := b.client.Do(req)
	if err != nil {
		return b.failed(endpoint, "network", outcome{class: retry, err: b.redact(err)})
	}
	defer resp.Body.Close()
	respBody, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	if resp.StatusCode == http.StatusAccepted {
		return outcome{class: delivered, status: resp.StatusCode}
	}
	out := outcome{status: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		out.retryAfter = min(time.Duration(s)*time.Second, retryMax)
	}
	var ok bool
	if out.body, ok = parseErrorBody(respBody); !ok {
		out.raw = b.redactString(strings.TrimSpace(string(respBody)))
		if len(out.raw) > 512 {
			out.raw = out.raw[:512] + "..."
		}
	}
	what := fmt.Sprintf("POST %s: %s", b.redactString(url), resp.Status)
	if out.body.Detail != "" {
		what += ": " + out.body.Detail
	}
	if len(out.body.Errors) > 0 {
		what += ": " + strings.Join(out.body.Errors, "; ")
	} else if out.raw != "" {
		what += ": " + out.raw
	}
	out.err = errors.New(b.redactString(what))
	c := resp.StatusCode
	switch {
	case c == http.StatusGone || c == http.StatusTeapot:
		out.class = stop
		return b.failed(endpoint, "stop", out)
	case c >= 500 || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout:
		out.class = retry
		return b.failed(endpoint, "server", out)
	case c == http.StatusUnauthorized || c == http.StatusForbidden || c == http.StatusNotFound ||
		c == http.StatusMethodNotAllowed || c < 400:
		out.class = refused
		return b.failed(endpoint, "refused", out)
	default:
		out.class = rejected
		return b.failed(endpoint, "rejected", out)
	}
}

func (b *Backend) failed(endpoint, reason string, out outcome) outcome {
	b.m.failures.WithLabelValues(endpoint, reason).Inc()
	return out
}

// redactString replaces the API key (raw and path-escaped) with "****".
func (b *Backend) redactString(s string) string {
	k := b.cfg.key
	s = strings.ReplaceAll(s, k, "****")
	if e := url.PathEscape(k); e != k {
		s = strings.ReplaceAll(s, e, "****")
	}
	return s
}

// redactedError is an error whose message has the API key removed; it
// still unwraps to the original for errors.Is (timeouts, cancellation).
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func (b *Backend) redact(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// Keep the operation and cause, drop the URL's path.
		err = &url.Error{Op: ue.Op, URL: b.redactString(ue.URL), Err: ue.Err}
	}
	return &redactedError{msg: b.redactString(err.Error()), err: err}
}

// logRejected logs a rejected post once, with the server's detail and the
// errors naming the rejected field.
func (b *Backend) logRejected(q *queued, out outcome) {
	attrs := []any{
		"endpoint", q.kind.String(), "status", out.status, itemName(q.kind), q.items,
	}
	if out.body.Detail != "" || len(out.body.Errors) > 0 {
		attrs = append(attrs, "detail", out.body.Detail, "errors", out.body.Errors)
	} else {
		attrs = append(attrs, "body", out.raw)
	}
	if out.status == http.StatusRequestEntityTooLarge {
		attrs = append(attrs, "hint", "lower max_metrics_per_post")
	}
	b.log.Error("netuitive rejected a post; its data is dropped, not retried", attrs...)
}

// reportRefused logs one clear message when posting starts failing for a
// configuration reason (bad key, wrong URL); repeats are not logged.
func (b *Backend) reportRefused(out outcome) {
	if b.authFailing {
		return
	}
	b.authFailing = true
	hint := "check the url setting (-netuitive-url)"
	if out.status == http.StatusUnauthorized || out.status == http.StatusForbidden {
		hint = "the API key was refused: check api_key or " + EnvAPIKey
	}
	b.log.Error("netuitive refuses our posts; data stays queued (up to queue_limit) and is retried every flush; other backends are not affected",
		"status", out.status, "error", out.err.Error(), "hint", hint)
}

func (b *Backend) recovered() {
	if b.authFailing {
		b.authFailing = false
		b.log.Info("netuitive accepts posts again")
	}
}

// stop honours the 410/418 kill switch of the vendor clients: posting of
// metrics, events and check-ins stops for good (until restart).
func (b *Backend) stop(out outcome) {
	b.stopped = true
	b.m.stopped.Set(1)
	for _, q := range b.queue {
		b.m.dropped.WithLabelValues(itemName(q.kind), "stopped").Add(float64(q.items))
	}
	lost := b.queuedItems
	attrs := []any{"status", out.status, "error", out.err.Error(), "dropped_samples", lost[kindIngest], "dropped_events", lost[kindEvents]}
	if b.spool != nil {
		attrs = append(attrs, "dropped_spooled_posts", b.dropSpool("stopped", len(b.queue) > 0))
	}
	b.queue, b.queuedItems = nil, [2]int{}
	b.updateQueueGauges()
	b.log.Error("netuitive asked its clients to stop posting (kill switch); the netuitive backend is disabled until restart, other backends are not affected",
		attrs...)
}

// checkInURL returns the heartbeat URL for an interval.
func (b *Backend) checkInURL(interval time.Duration) string {
	ttl := time.Duration(b.cfg.CheckTTL)
	if ttl == 0 {
		if interval <= 0 {
			interval = time.Minute
		}
		ttl = 3 * interval
	}
	secs := int64((ttl + time.Second - 1) / time.Second)
	return b.cfg.endpoints.checkBase + "/" + b.cfg.CheckName + "/" + url.PathEscape(b.cfg.ElementID) + "/" + strconv.FormatInt(secs, 10)
}

// checkIn posts the heartbeat once; it is not queued (a late heartbeat
// means nothing). A failure is logged once until a check-in succeeds again
// (network errors and 5xx only at debug level: the data posts report those);
// the kill switch is honoured as for data posts.
func (b *Backend) checkIn(ctx context.Context, interval time.Duration) {
	out := b.send(ctx, "check", b.checkInURL(interval), nil)
	switch out.class {
	case delivered:
		if b.checkFailing {
			b.checkFailing = false
			b.log.Info("netuitive accepts the heartbeat check-in again")
		}
	case stop:
		b.stop(out)
	case retry:
		b.log.Debug("netuitive heartbeat check-in failed", "error", out.err.Error())
	case refused:
		if out.status == http.StatusUnauthorized || out.status == http.StatusForbidden {
			b.reportRefused(out) // the key: one message for posts and check-ins
			return
		}
		fallthrough
	default:
		if !b.checkFailing {
			b.checkFailing = true
			b.log.Error("netuitive refuses the heartbeat check-in; Netuitive may report this agent as down",
				"status", out.status, "error", out.err.Error(), "hint", "check check_name, element_id, url and the API key")
		}
	}
}

// checkClock compares the local clock with the server's Date header (HEAD
// /time) at the first flush, and warns when they differ by more than five minutes:
// samples outside the server's time window are dropped without an error.
func (b *Backend) checkClock(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, min(5*time.Second, time.Duration(b.cfg.Timeout)))
	defer cancel()
	b.clockDone = true // once, whatever the outcome
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, b.cfg.endpoints.time, nil)
	if err != nil {
		return
	}
	req.Header.Set("User-Agent", "statsd-agent")
	resp, err := b.client.Do(req)
	if err != nil {
		b.log.Debug("netuitive: HEAD /time failed", "error", b.redact(err).Error())
		return
	}
	resp.Body.Close()
	server, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return
	}
	skew := server.Sub(b.now())
	if skew > maxSkew || skew < -maxSkew {
		b.log.Warn("the local clock differs from netuitive's; samples outside its time window are dropped silently",
			"skew", skew.Round(time.Second).String())
	}
}
