package netstat

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/statsd-agent/statsd-agent/protocol"
)

// DefaultInterval is the probe interval used when neither Config.Interval
// nor an agent flush interval is given (see Config.Resolve).
const DefaultInterval = 10 * time.Second

// DefaultPrefix is the metric name prefix a zero Config uses.
const DefaultPrefix = "netstat."

// Duration is a time.Duration that decodes from TOML and flags as a Go
// duration string ("30s", "1m").
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("netstat: interval: %w", err)
	}
	if v < 0 {
		return fmt.Errorf("netstat: interval %s is negative", v)
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String formats d as a Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// Set implements flag.Value.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Config configures the netstat input. The zero value is a disabled input
// with the defaults below.
type Config struct {
	// Enabled turns the probe on (-netstat).
	Enabled bool `toml:"enabled"`
	// Interval is the time between readings; 0 means the agent's flush
	// interval (see Resolve), or DefaultInterval (10s) when that is unknown.
	Interval Duration `toml:"interval"`
	// Prefix is put before every documented name; "" means "netstat."
	// (so "netstat.tcp.segments_in"), "none" means no prefix.
	Prefix string `toml:"prefix"`
	// ProcRoot is the procfs mount point on Linux; "" means "/proc". In a
	// container reading the host, mount the host's /proc and use its PID 1
	// directory, e.g. "/host/proc/1".
	ProcRoot string `toml:"proc_root"`
}

// RegisterFlags adds -netstat, -netstat-interval, -netstat-prefix and
// -netstat-proc-root to fs, writing into c. Call it before fs.Parse with c
// holding the config file's values, so flags override the file.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "netstat", c.Enabled, "read the system's TCP/UDP/IP counters (netstat -s) as metrics")
	fs.Var(&c.Interval, "netstat-interval", "time between netstat readings (0 = the flush interval)")
	fs.StringVar(&c.Prefix, "netstat-prefix", c.Prefix, `name prefix of netstat metrics ("" = "netstat.", "none" = no prefix)`)
	fs.StringVar(&c.ProcRoot, "netstat-proc-root", c.ProcRoot, `procfs root for netstat on Linux ("" = /proc; e.g. /host/proc/1 in a container)`)
}

// Resolve returns c with the defaults filled in: Interval from
// flushInterval (or DefaultInterval when that is 0 too) and the prefix.
func (c Config) Resolve(flushInterval time.Duration) Config {
	if c.Interval <= 0 {
		c.Interval = Duration(flushInterval)
		if c.Interval <= 0 {
			c.Interval = Duration(DefaultInterval)
		}
	}
	switch c.Prefix {
	case "":
		c.Prefix = DefaultPrefix
	case "none":
		c.Prefix = ""
	}
	return c
}

// Input feeds the system's counters into the aggregator: every interval it
// takes a reading, turns each cumulative counter into the increase since
// the previous reading (sent as a Counter sample with SampleRate 1, so the
// aggregator's rate is per second) and sends every gauge as is.
//
// Failures are counted (statsd_agent_netstat_errors_total) and logged at
// most once a minute; they never stop the input.
//
// Collect and Run may be called from any goroutine; calls are serialised.
type Input struct {
	cfg    Config
	src    Source
	sink   func([]protocol.Sample)
	logger *slog.Logger

	mu     sync.Mutex
	deltas Deltas
	names  map[string][]byte // prefixed names, built once

	logSometimes rate.Sometimes

	errs     prometheus.Counter
	readings prometheus.Counter
	partials prometheus.Counter
	resets   prometheus.Counter
}

// NewInput returns an input reading src (nil means System(cfg.ProcRoot))
// and handing samples to sink. cfg is resolved with Config.Resolve(0), so
// set cfg.Interval (or call Resolve with the flush interval) first.
//
// sink is called from the goroutine running Collect; the slice and the
// samples' Name bytes belong to the input and are valid only during the
// call (the aggregator copies what it keeps). logger nil means discard;
// reg nil registers no metrics.
func NewInput(cfg Config, src Source, sink func([]protocol.Sample), logger *slog.Logger, reg prometheus.Registerer) *Input {
	cfg = cfg.Resolve(0)
	if src == nil {
		src = System(cfg.ProcRoot)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	in := &Input{
		cfg:          cfg,
		src:          src,
		sink:         sink,
		logger:       logger,
		names:        map[string][]byte{},
		logSometimes: rate.Sometimes{First: 1, Interval: time.Minute},
		errs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "statsd_agent_netstat_errors_total",
			Help: "Netstat readings that failed (command or file error, unreadable output).",
		}),
		readings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "statsd_agent_netstat_readings_total",
			Help: "Netstat readings taken successfully (including partial ones).",
		}),
		partials: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "statsd_agent_netstat_partial_readings_total",
			Help: "Netstat readings that were partial: part of the input was truncated or malformed and dropped.",
		}),
		resets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "statsd_agent_netstat_counter_resets_total",
			Help: "Times a system counter went backwards (reboot, reset) and its delta was skipped for one interval.",
		}),
	}
	if reg != nil {
		in.errs = register(reg, in.errs)
		in.readings = register(reg, in.readings)
		in.partials = register(reg, in.partials)
		in.resets = register(reg, in.resets)
	}
	return in
}

// register registers c, or returns the collector already registered under
// its name (two inputs in one process share the metrics).
func register(reg prometheus.Registerer, c prometheus.Counter) prometheus.Counter {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return existing
			}
		}
	}
	return c
}

// Interval is the input's resolved interval.
func (in *Input) Interval() time.Duration { return time.Duration(in.cfg.Interval) }

// Run takes a reading at once (which only primes the counters) and then one
// every interval until ctx is done. It returns nil when ctx is done; read
// failures never end it.
//
// Readings are taken half an interval after each wall-clock multiple of the
// interval (at :05, :15, :25... for 10s), the middle of the agent's aligned
// flush windows, so each window receives exactly one increase.
func (in *Input) Run(ctx context.Context) error {
	_ = in.Collect(ctx) // counted and logged inside
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		timer.Reset(NextTick(now, in.Interval()).Sub(now))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		_ = in.Collect(ctx)
	}
}

// NextTick returns the first time after now that is half an interval past a
// multiple of interval (counted from the zero time, like time.Truncate).
func NextTick(now time.Time, interval time.Duration) time.Time {
	t := now.Truncate(interval).Add(interval / 2)
	if !t.After(now) {
		t = t.Add(interval)
	}
	return t
}

// Collect takes one reading and sends the samples it yields. The first
// reading (and the first appearance of any counter) only primes that
// counter. It returns the read error, already counted and logged.
func (in *Input) Collect(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	r, err := Read(ctx, in.src)
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down: not a failure of the probe
		}
		in.errs.Inc()
		in.logSometimes.Do(func() {
			in.logger.Warn("netstat: reading failed (logged at most once a minute; see statsd_agent_netstat_errors_total)", "err", err)
		})
		return err
	}
	in.readings.Inc()
	if r.Partial {
		in.partials.Inc()
		in.logSometimes.Do(func() {
			in.logger.Warn("netstat: partial reading; some counters dropped (logged at most once a minute)", "warnings", r.Warnings)
		})
	}
	changes, resets := in.deltas.Update(r)
	in.resets.Add(float64(resets))
	samples := make([]protocol.Sample, 0, len(changes)+len(r.Gauges))
	for _, c := range changes {
		samples = append(samples, protocol.Sample{Name: in.name(c.Name), Type: protocol.Counter, Value: float64(c.Delta), SampleRate: 1})
	}
	gauges := make([]string, 0, len(r.Gauges))
	for n := range r.Gauges {
		gauges = append(gauges, n)
	}
	sort.Strings(gauges)
	for _, n := range gauges {
		samples = append(samples, protocol.Sample{Name: in.name(n), Type: protocol.Gauge, Value: r.Gauges[n], SampleRate: 1})
	}
	if len(samples) > 0 && in.sink != nil {
		in.sink(samples)
	}
	return nil
}

func (in *Input) name(n string) []byte {
	b, ok := in.names[n]
	if !ok {
		b = []byte(in.cfg.Prefix + n)
		in.names[n] = b
	}
	return b
}

// Change is the increase of one counter over one interval.
type Change struct {
	Name  string
	Delta uint64
}

// Deltas turns successive cumulative readings into per-interval increases.
// The zero value is ready to use. It is not safe for concurrent use.
//
// Rules, per counter name:
//   - first value seen (first reading, or a counter that appears later):
//     remembered, no change reported;
//   - value >= previous: the difference;
//   - value < previous on a 32-bit source (Width 32, both values below
//     2^32) where the forward distance modulo 2^32 is under 2^31: a wrap,
//     the distance across it is reported;
//   - otherwise (reboot, counter reset, or an implausible wrap): a reset,
//     nothing reported this interval, the new value remembered. No spike.
//
// A counter missing from one reading keeps its previous value, so a partial
// reading does not break the series.
type Deltas struct {
	prev map[string]uint64
}

// Update records r's counters and returns the changes since the previous
// reading, sorted by name, and the number of resets detected.
func (d *Deltas) Update(r *Reading) (changes []Change, resets int) {
	if d.prev == nil {
		d.prev = make(map[string]uint64, len(r.Counters))
	}
	for name, cur := range r.Counters {
		prev, seen := d.prev[name]
		d.prev[name] = cur
		if !seen {
			continue
		}
		delta, ok := CounterDelta(prev, cur, r.Width)
		if !ok {
			resets++
			continue
		}
		changes = append(changes, Change{Name: name, Delta: delta})
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Name < changes[j].Name })
	return changes, resets
}

// CounterDelta returns the increase of a counter of the given width (32 or
// 64 bits) from prev to cur, and false when the counter went backwards in a
// way that is not a plausible 32-bit wrap (a reset).
func CounterDelta(prev, cur uint64, width int) (uint64, bool) {
	if cur >= prev {
		return cur - prev, true
	}
	if width == 32 && prev <= math.MaxUint32 && cur <= math.MaxUint32 {
		d := cur + (1 << 32) - prev
		if d < 1<<31 {
			return d, true
		}
	}
	return 0, false
}
