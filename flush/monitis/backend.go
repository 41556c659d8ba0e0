package monitis

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/statsd-agent/statsd-agent/aggregate"
)

// Config configures the Monitis backend. Its zero value means the
// documented defaults; it decodes from the [monitis] table of the config
// file with the toml keys below.
type Config struct {
	// URL is the base URL (scheme and host); "" means ProductionURL, or
	// SandboxURL when Sandbox is set.
	URL string `toml:"url"`
	// Sandbox selects the sandbox service and its keys.
	Sandbox bool `toml:"sandbox"`
	// APIKey and SecretKey are the account's keys. When empty they are read
	// from MONITIS_APIKEY and MONITIS_SECRETKEY (sandbox:
	// MONITIS_SANDBOX_APIKEY, MONITIS_SANDBOX_SECRETKEY).
	APIKey    Secret `toml:"api_key"`
	SecretKey Secret `toml:"secret_key"`
	// Validation is "checksum" (default) or "token".
	Validation Validation `toml:"validation"`
	// Rate is the most requests per second sent to Monitis; 0 means 10.
	Rate float64 `toml:"rate"`
	// Retries is how often a request failing with a network error, a 5xx
	// or a malformed response is retried (with exponential backoff and
	// jitter, from 250 ms up to 5 s); 0 means 3, negative means never.
	Retries int `toml:"retries"`
	// QueueSize bounds the results (one per monitor per flush) waiting for
	// delivery in memory; 0 means 10000. When full, the oldest are dropped
	// and counted. It does not apply with SpoolDir.
	QueueSize int `toml:"queue_size"`
	// SpoolDir, when not empty, is a directory (the agent's
	// <state-dir>/monitis) where the results waiting for delivery are kept
	// instead of memory: they survive an outage of any length up to
	// SpoolMaxBytes, a restart and a kill -9, and are delivered in order
	// with their original checktime. Set by the agent from -state-dir.
	SpoolDir string `toml:"-"`
	// SpoolMaxBytes bounds the spool's disk use; 0 means 64 MiB. When
	// full, the oldest results are dropped, logged with the count and
	// counted (reason "spool_full").
	SpoolMaxBytes int64 `toml:"spool_max_bytes"`
	// Tag is the tag of the monitors the backend creates and reuses; ""
	// means "statsd".
	Tag string `toml:"tag"`
	// Include and Exclude are path.Match patterns over series names
	// ("api.*", "*.p99"); a series is sent when it matches an Include
	// pattern (or Include is empty) and no Exclude pattern.
	Include []string `toml:"include"`
	Exclude []string `toml:"exclude"`
	// Groups are name prefixes; the series under a prefix ("api" takes
	// "api.requests", "api.latency", ...) go to one monitor named after the
	// prefix, one result param per series and statistic.
	Groups []string `toml:"groups"`
	// Stats selects, per series type (counter, gauge, set, timer,
	// histogram, distribution), the statistics sent, as path.Match
	// patterns over the statistic keys; a type not named uses
	// DefaultStats.
	Stats map[string][]string `toml:"stats"`
	// NetstatMonitor names the monitor fed from the netstat probe's series
	// (tcp_packets_in/out, udp_packets_in/out, as in the SDK's netstat
	// example); "" means "netstat", "-" turns the mapping off.
	NetstatMonitor string `toml:"netstat_monitor"`
	// NetstatPrefix is the name prefix of the netstat probe's series, as
	// the probe's own prefix setting: "" means "netstat.", "none" means no
	// prefix.
	NetstatPrefix string `toml:"netstat_prefix"`
}

// RegisterFlags registers the backend's command-line flags on fs, writing
// into c. There are no flags for the keys: they come from the environment
// or the config file.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "monitis-url", c.URL, "Monitis base URL (default "+ProductionURL+", or "+SandboxURL+" with -monitis-sandbox)")
	fs.BoolVar(&c.Sandbox, "monitis-sandbox", c.Sandbox, "use the Monitis sandbox and the MONITIS_SANDBOX_* keys")
	fs.Float64Var(&c.Rate, "monitis-rate", c.Rate, "most Monitis requests per second (0 means 10)")
	fs.IntVar(&c.QueueSize, "monitis-queue", c.QueueSize, "most results queued in memory while Monitis is unreachable (0 means 10000; with -state-dir the spool's byte bound applies instead)")
	fs.StringVar(&c.Tag, "monitis-tag", c.Tag, `tag of the monitors the backend creates and reuses (default "statsd")`)
	fs.Func("monitis-validation", `POST validation: "checksum" (default) or "token"`, func(s string) error {
		switch Validation(s) {
		case ValidationChecksum, ValidationToken:
			c.Validation = Validation(s)
			return nil
		}
		return fmt.Errorf("want %q or %q", ValidationChecksum, ValidationToken)
	})
	fs.Func("monitis-include", "send only series matching this pattern (repeatable)", func(s string) error {
		c.Include = append(c.Include, s)
		return nil
	})
	fs.Func("monitis-exclude", "do not send series matching this pattern (repeatable)", func(s string) error {
		c.Exclude = append(c.Exclude, s)
		return nil
	})
	fs.Func("monitis-group", "put the series under this name prefix into one monitor (repeatable)", func(s string) error {
		c.Groups = append(c.Groups, s)
		return nil
	})
}

// Backend sends each flush to Monitis custom monitors. It implements
// flush.Backend, flush.Closer and flush.Named. Flush and Close must not be
// called concurrently (the flush package never does).
type Backend struct {
	client  *Client
	mapper  *mapper
	log     *slog.Logger
	limiter *rate.Limiter
	retries int
	maxQ    int
	tag     string
	metrics *metrics
	// sleep waits between retries; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error

	mu           sync.Mutex
	queue        resultQueue
	spooled      bool // queue is a spool
	monitors     map[string]*monitorState
	listed       map[string]bool // tags listed
	authReported bool
	outage       bool
	paceReported bool
}

// errPaced means the flush deadline came before the rate limit allowed the
// next request: not a failure of Monitis.
var errPaced = errors.New("flush deadline reached while pacing requests")

// monitorState is what the backend knows of one monitor.
type monitorState struct {
	id int64
	// params are the monitor's result params; nil until known (created
	// here, or read with getMonitorInfo).
	params []ResultParam
	known  bool
}

// New returns a Monitis backend. It reads the keys from the environment
// when cfg has none and fails clearly when they are missing. logger nil
// discards; reg nil does not register the metrics. New makes no request:
// the existing monitors are listed on the first Flush.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Backend, error) {
	return newBackend(cfg, logger, reg, os.Getenv)
}

func newBackend(cfg Config, logger *slog.Logger, reg prometheus.Registerer, getenv func(string) string) (*Backend, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	apiKey, secretKey := cfg.APIKey, cfg.SecretKey
	envAPI, envSecret := KeysFromEnv(getenv, cfg.Sandbox)
	if apiKey.IsZero() {
		apiKey = envAPI
	}
	if secretKey.IsZero() {
		secretKey = envSecret
	}
	if apiKey.IsZero() || secretKey.IsZero() {
		a, s := EnvAPIKey, EnvSecretKey
		if cfg.Sandbox {
			a, s = EnvSandboxAPIKey, EnvSandboxSecretKey
		}
		var missing []string
		if apiKey.IsZero() {
			missing = append(missing, "API key ("+a+" or api_key)")
		}
		if secretKey.IsZero() {
			missing = append(missing, "secret key ("+s+" or secret_key)")
		}
		return nil, fmt.Errorf("monitis: %w: set the %s", ErrMissingKeys, strings.Join(missing, " and the "))
	}
	base := cfg.URL
	if base == "" {
		base = ProductionURL
		if cfg.Sandbox {
			base = SandboxURL
		}
	}
	if cfg.Rate < 0 {
		return nil, fmt.Errorf("monitis: rate %v: must not be negative", cfg.Rate)
	}
	if cfg.QueueSize < 0 {
		return nil, fmt.Errorf("monitis: queue_size %d: must not be negative", cfg.QueueSize)
	}
	if cfg.SpoolMaxBytes < 0 {
		return nil, fmt.Errorf("monitis: spool_max_bytes %d: must not be negative", cfg.SpoolMaxBytes)
	}
	m, err := newMapper(&cfg)
	if err != nil {
		return nil, err
	}
	met, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	client, err := NewClient(ClientConfig{
		BaseURL: base, APIKey: apiKey, SecretKey: secretKey, Validation: cfg.Validation,
		OnRequest: func(action string) { met.requests.WithLabelValues(action).Inc() },
	})
	if err != nil {
		return nil, err
	}
	r := cfg.Rate
	if r == 0 {
		r = 10
	}
	burst := int(r)
	if burst < 1 {
		burst = 1
	}
	b := &Backend{
		client:   client,
		mapper:   m,
		log:      logger,
		limiter:  rate.NewLimiter(rate.Limit(r), burst),
		retries:  cfg.Retries,
		maxQ:     cfg.QueueSize,
		tag:      m.tag,
		metrics:  met,
		sleep:    sleepCtx,
		monitors: map[string]*monitorState{},
		listed:   map[string]bool{},
	}
	if b.retries == 0 {
		b.retries = 3
	} else if b.retries < 0 {
		b.retries = 0
	}
	if b.maxQ == 0 {
		b.maxQ = 10000
	}
	b.queue = &memQueue{max: b.maxQ}
	if cfg.SpoolDir != "" {
		sq, err := openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes, logger, func() {
			met.dropped.WithLabelValues("corrupt").Inc()
		})
		if err != nil {
			return nil, err
		}
		b.queue, b.spooled = sq, true
		if n := sq.len(); n > 0 {
			logger.Info("monitis: results spooled by the previous run will be delivered on the next flush", "queued", n, "dir", cfg.SpoolDir)
		}
		met.queued.Set(float64(sq.len()))
		met.spoolSize.Set(float64(sq.diskBytes()))
	}
	return b, nil
}

// Name returns "monitis".
func (b *Backend) Name() string { return "monitis" }

// Client returns the backend's API client.
func (b *Backend) Client() *Client { return b.client }

// Flush encodes the snapshot into one result per monitor, queues them
// behind anything still undelivered, then delivers the queue in order
// (creating or extending monitors as needed) until it is empty or ctx is
// done. Undelivered results stay queued for the next Flush, with their
// original checktime. Flush returns nil once the snapshot is queued; the
// backend logs delivery problems itself (an authentication failure once,
// an outage when it starts and ends) and counts them in its metrics.
func (b *Backend) Flush(ctx context.Context, s *aggregate.Snapshot) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.queue == nil {
		return errors.New("monitis: flush after close")
	}
	results, conflicts := b.mapper.encode(s)
	if conflicts > 0 {
		b.metrics.conflicts.Add(float64(conflicts))
		b.log.Warn("monitis: statistics skipped: two series map to the same monitor param", "count", conflicts)
	}
	b.enqueue(results)
	b.deliver(ctx)
	return nil
}

// Close makes a last delivery attempt within ctx's deadline. Without a
// spool it returns an error naming how many results were not delivered
// (they are counted as dropped, reason "shutdown"). With a spool they stay
// in it for the next start (counted in statsd_agent_monitis_spooled_total
// and logged), Close returns only a failure to close the spool, and the
// Backend must not be used afterwards (Flush fails).
func (b *Backend) Close(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.queue == nil {
		return nil
	}
	b.deliver(ctx)
	n := b.queue.len()
	err := b.queue.close()
	b.queue = nil
	if !b.spooled {
		b.queue = &memQueue{max: b.maxQ} // a memory backend stays usable
	}
	if b.spooled {
		if n > 0 {
			b.metrics.spooled.Add(float64(n))
			b.log.Info("monitis: undelivered results kept in the spool for the next start", "queued", n)
		}
		if err != nil {
			return fmt.Errorf("monitis: closing the spool: %w", err)
		}
		return nil
	}
	if n > 0 {
		b.metrics.dropped.WithLabelValues("shutdown").Add(float64(n))
		b.metrics.queued.Set(0)
		return fmt.Errorf("monitis: %d results not delivered at shutdown", n)
	}
	return nil
}

// Queued returns how many results wait for delivery.
func (b *Backend) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.queue == nil {
		return 0
	}
	return b.queue.len()
}

func (b *Backend) enqueue(results []*pending) {
	dropped, err := b.queue.push(results)
	if err != nil {
		// Disk full or failing: the results that could not be written
		// are lost; say so loudly.
		b.metrics.dropped.WithLabelValues("spool_error").Add(float64(len(results)))
		b.log.Error("monitis: writing results to the spool failed", "results", len(results), "err", err)
	}
	if dropped > 0 {
		if b.spooled {
			b.metrics.dropped.WithLabelValues("spool_full").Add(float64(dropped))
			b.log.Warn("monitis: spool full, oldest results dropped", "dropped", dropped)
		} else {
			b.metrics.dropped.WithLabelValues("queue_full").Add(float64(dropped))
			b.log.Warn("monitis: queue full, oldest results dropped", "dropped", dropped, "queue_size", b.maxQ)
		}
	}
	b.metrics.queued.Set(float64(b.queue.len()))
}

// deliver sends the queue in order until it is empty, ctx is done, or
// Monitis is unreachable or refuses the keys.
func (b *Backend) deliver(ctx context.Context) {
	delivered := 0
	defer func() {
		b.metrics.queued.Set(float64(b.queue.len()))
		b.metrics.spoolSize.Set(float64(b.queue.diskBytes()))
		b.metrics.delivered.Add(float64(delivered))
	}()
	for {
		p, err := b.queue.front()
		if err != nil {
			b.log.Error("monitis: reading the spool failed; results stay queued", "err", err)
			return
		}
		if p == nil {
			return
		}
		if ctx.Err() != nil {
			b.reportBacklog()
			return
		}
		err = b.deliverOne(ctx, p)
		if err == nil || rejected(err) {
			if perr := b.queue.pop(); perr != nil {
				// The result was delivered but may be sent again after
				// a restart.
				b.log.Error("monitis: recording a delivery in the spool failed", "err", perr)
			}
			if err != nil {
				b.metrics.dropped.WithLabelValues("rejected").Inc()
				b.log.Warn("monitis: result rejected by the service, dropped", "monitor", p.monitor, "err", err)
				continue
			}
			delivered++
			b.recovered(delivered)
			continue
		}
		if ctx.Err() != nil || errors.Is(err, errPaced) {
			b.reportBacklog()
			return
		}
		if errors.Is(err, ErrAuth) {
			if !b.authReported {
				b.authReported = true
				b.log.Error("monitis: authentication failed: check the API key and secret key (env "+EnvAPIKey+"/"+EnvSecretKey+
					", sandbox "+EnvSandboxAPIKey+"/"+EnvSandboxSecretKey+", or api_key/secret_key in the config); results stay queued",
					"err", err, "queued", b.queue.len())
			}
			return
		}
		if !b.outage {
			b.outage = true
			b.log.Warn("monitis: unreachable, queuing results until it returns", "err", err, "queued", b.queue.len())
		}
		return
	}
}

// reportBacklog notes that the flush deadline ended delivery with results
// still queued: warned once, since it means the rate or the deadline is too
// low for the number of monitors.
func (b *Backend) reportBacklog() {
	if b.paceReported || b.outage {
		b.log.Debug("monitis: flush deadline reached, results stay queued", "queued", b.queue.len())
		return
	}
	b.paceReported = true
	b.log.Warn("monitis: flush deadline reached before every result was sent; they stay queued (raise -monitis-rate, or group series with -monitis-group, if this persists)",
		"queued", b.queue.len())
}

// recovered ends a reported outage or authentication failure.
func (b *Backend) recovered(delivered int) {
	if b.outage {
		b.outage = false
		b.log.Info("monitis: reachable again, delivering queued results", "delivered", delivered, "queued", b.queue.len())
	}
	if b.authReported {
		b.authReported = false
		b.log.Info("monitis: authentication works again")
	}
}

// rejected reports whether err is the service refusing one request for
// its content (not auth, not a server fault): retrying it cannot help.
func rejected(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && !ae.Temporary() && !errors.Is(err, ErrAuth)
}

// retryable reports whether a failed request is worth sending again:
// network errors, 5xx, 429 and malformed responses.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, ErrAuth) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	return true
}

// deliverOne provisions p's monitor if needed and posts p.
func (b *Backend) deliverOne(ctx context.Context, p *pending) error {
	for attempt := 0; ; attempt++ {
		st, err := b.ensureMonitor(ctx, p)
		if err != nil {
			return err
		}
		err = b.call(ctx, "addResult", func(ctx context.Context) error {
			return b.client.AddResult(ctx, st.id, p.at, p.values)
		})
		if err != nil && attempt == 0 && monitorGone(err) {
			// Deleted behind our back: provision it again.
			delete(b.monitors, p.monitor)
			continue
		}
		return err
	}
}

func monitorGone(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.Message), "does not exist")
}

// ensureMonitor finds or creates p's monitor and extends its params with
// any p uses that it lacks. Existing monitors are listed once per tag
// (the backend's tag, and "netstat" for the netstat monitor), so a restart
// reuses them.
func (b *Backend) ensureMonitor(ctx context.Context, p *pending) (*monitorState, error) {
	if !b.listed[p.tag] {
		if err := b.list(ctx, p.tag); err != nil {
			return nil, err
		}
		b.listed[p.tag] = true
	}
	st := b.monitors[p.monitor]
	if st == nil {
		var id int64
		err := b.call(ctx, "addMonitor", func(ctx context.Context) error {
			var err error
			id, err = b.client.AddMonitor(ctx, NewMonitor{Name: p.monitor, Tag: p.tag, Type: "statsd", ResultParams: p.params})
			return err
		})
		switch {
		case err == nil:
			st = &monitorState{id: id, params: append([]ResultParam(nil), p.params...), known: true}
			b.monitors[p.monitor] = st
			b.log.Info("monitis: monitor created", "monitor", p.monitor, "id", id)
		case errors.Is(err, ErrNameExists):
			// Created with another tag (e.g. by the CLI): find it by name.
			if err := b.list(ctx, ""); err != nil {
				return nil, err
			}
			if st = b.monitors[p.monitor]; st == nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
	if !st.known {
		var info *MonitorInfo
		err := b.call(ctx, "getMonitorInfo", func(ctx context.Context) error {
			var err error
			info, err = b.client.MonitorInfo(ctx, st.id)
			return err
		})
		if err != nil {
			if monitorGone(err) {
				delete(b.monitors, p.monitor)
			}
			return nil, err
		}
		st.params, st.known = info.ResultParams, true
	}
	have := make(map[string]struct{}, len(st.params))
	for _, rp := range st.params {
		have[rp.Name] = struct{}{}
	}
	var missing []ResultParam
	for _, rp := range p.params {
		if _, ok := have[rp.Name]; !ok {
			missing = append(missing, rp)
		}
	}
	if len(missing) > 0 {
		all := append(append([]ResultParam(nil), st.params...), missing...)
		err := b.call(ctx, "editMonitor", func(ctx context.Context) error {
			return b.client.EditMonitor(ctx, MonitorEdit{ID: st.id, ResultParams: all})
		})
		if err != nil {
			if monitorGone(err) {
				delete(b.monitors, p.monitor)
			}
			return nil, err
		}
		st.params = all
		b.log.Info("monitis: monitor params extended", "monitor", p.monitor, "id", st.id, "added", len(missing))
	}
	return st, nil
}

// list records the monitors with tag (all monitors when tag is "").
func (b *Backend) list(ctx context.Context, tag string) error {
	var ms []Monitor
	err := b.call(ctx, "getMonitors", func(ctx context.Context) error {
		var err error
		ms, err = b.client.Monitors(ctx, tag)
		return err
	})
	if err != nil {
		return err
	}
	for _, m := range ms {
		if st := b.monitors[m.Name]; st == nil || st.id != m.ID {
			b.monitors[m.Name] = &monitorState{id: m.ID}
		}
	}
	return nil
}

// call runs one request under the rate limit, retrying temporary failures
// with exponential backoff and full jitter.
func (b *Backend) call(ctx context.Context, action string, fn func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		if err := b.limiter.Wait(ctx); err != nil {
			return fmt.Errorf("monitis: %s: %w (%v)", action, errPaced, err)
		}
		err := fn(ctx)
		if err == nil {
			return nil
		}
		b.metrics.failures.WithLabelValues(action).Inc()
		if attempt >= b.retries || !retryable(ctx, err) {
			return err
		}
		b.metrics.retries.Inc()
		if serr := b.sleep(ctx, backoff(attempt)); serr != nil {
			return err
		}
	}
}

// backoff returns the wait before retry attempt+1: a random duration up to
// 250 ms * 2^attempt, capped at 5 s (full jitter).
func backoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << attempt
	if d > 5*time.Second || d <= 0 {
		d = 5 * time.Second
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
