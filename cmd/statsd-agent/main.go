// Command statsd-agent is a StatsD/DogStatsD-compatible metrics agent.
//
// With no arguments it listens for StatsD lines on UDP 127.0.0.1:8125,
// flushes every 10 seconds as JSON lines to standard output, and serves its
// own metrics on http://127.0.0.1:9102/metrics. Run `statsd-agent -h` for
// the flags. Subcommands:
//
//	statsd-agent netstat   print the TCP/UDP protocol counters once
//	statsd-agent monitis   manage Monitis custom monitors
//	statsd-agent bench     measure a StatsD server's throughput and loss
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/anomaly"
	"github.com/statsd-agent/statsd-agent/config"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/jsonl"
	"github.com/statsd-agent/statsd-agent/flush/monitis"
	"github.com/statsd-agent/statsd-agent/flush/netuitive"
	"github.com/statsd-agent/statsd-agent/flush/otlp"
	"github.com/statsd-agent/statsd-agent/flush/promexport"
	"github.com/statsd-agent/statsd-agent/flush/remotewrite"
	"github.com/statsd-agent/statsd-agent/netstat"
	"github.com/statsd-agent/statsd-agent/protocol"
	"github.com/statsd-agent/statsd-agent/ratelimit"
	"github.com/statsd-agent/statsd-agent/secret"
	"github.com/statsd-agent/statsd-agent/server/admin"
	"github.com/statsd-agent/statsd-agent/status"
)

// version is set at build time with -ldflags "-X main.version=..."; by
// default it comes from the module's build information.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "netstat":
			return runNetstat(args[1:], stdout, stderr)
		case "monitis":
			return runMonitis(args[1:], stdout, stderr, os.Getenv)
		case "bench":
			return runBench(args[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "statsd-agent", versionString())
			return 0
		}
	}
	opts, code := parseAgentFlags(args, stdout, stderr)
	if opts == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, opts, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "statsd-agent:", err)
		return 1
	}
	return 0
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// options is the parsed command line over the configuration file.
type options struct {
	file config.File
	args []string
}

// agentUsageError prints one clear message and a hint, and returns exit code 2.
func agentUsageError(stderr io.Writer, format string, a ...any) int {
	fmt.Fprintf(stderr, "statsd-agent: "+format+"\n", a...)
	fmt.Fprintln(stderr, "Run 'statsd-agent -h' for usage.")
	return 2
}

// configPath finds -config in args before the flags are parsed, so that
// the file's values become the flags' defaults and flags override them.
func configPath(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// parseFlags returns nil and an exit code when the agent should not run.
func parseAgentFlags(args []string, stdout, stderr io.Writer) (*options, int) {
	f := config.Default()
	if p := configPath(args); p != "" {
		var err error
		if f, err = config.Load(p); err != nil {
			return nil, agentUsageError(stderr, "%v", err)
		}
	}
	fs := flag.NewFlagSet("statsd-agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("config", "", "TOML configuration `file` (flags override it; see statsd-agent.example.toml)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	checkOnly := fs.Bool("check-config", false, "validate the configuration (file and flags) and exit: 0 when valid, 2 otherwise")
	fs.StringVar(&f.UDP, "udp", f.UDP, "UDP listen `address` (\"none\" disables UDP)")
	fs.IntVar(&f.UDPReaders, "udp-readers", f.UDPReaders, "UDP reader goroutines (0 means one per CPU)")
	fs.BoolVar(&f.ReusePort, "reuseport", f.ReusePort, "give each UDP reader its own SO_REUSEPORT socket")
	fs.IntVar(&f.ReadBuffer, "read-buffer", f.ReadBuffer, "UDP receive buffer `bytes` (0 means 8 MiB)")
	fs.StringVar(&f.TCP, "tcp", f.TCP, "TCP listen `address` for newline-delimited lines (default: off)")
	fs.StringVar(&f.Unixgram, "unixgram", f.Unixgram, "Unix datagram socket `path` to listen on (default: off)")
	fs.Float64Var(&f.RateLimit, "rate-limit", f.RateLimit, "most lines per second per source address, the rest dropped and counted (0 means no limit)")
	fs.IntVar(&f.RateLimitBurst, "rate-limit-burst", f.RateLimitBurst, "most lines at once per source (0 means one second's worth)")
	fs.StringVar(&f.HTTP, "http", f.HTTP, "self-metrics and health endpoint `address` (\"none\" disables it)")
	fs.Var(&f.FlushInterval, "flush-interval", "flush `duration` (default 10s)")
	fs.Var(&f.FlushTimeout, "flush-timeout", "each backend's `duration` per flush (default: the interval)")
	fs.Func("percentiles", "timer percentile thresholds, comma-separated `list`, e.g. 50,90,99.9,-10 (default 90)", func(s string) error {
		p, err := parsePercentiles(s)
		f.Percentiles = p
		return err
	})
	fs.IntVar(&f.MaxTimerValues, "max-timer-values", f.MaxTimerValues, "timer values per series and interval kept exactly before a 1% sketch takes over (0 means 10000)")
	fs.IntVar(&f.MaxSeries, "max-series", f.MaxSeries, "cardinality budget: most series per interval, the rest folded into statsd_agent.overflow (0 means no limit)")
	fs.IntVar(&f.MaxSeriesPerName, "max-series-per-name", f.MaxSeriesPerName, "most tag combinations per metric name (0 means no limit)")
	fs.Var(&f.Lateness, "lateness", "accept DogStatsD |T timestamps this `duration` before the open interval, drop and count older ones (default: one interval; negative: no limit)")
	fs.StringVar(&f.Idle, "idle", f.Idle, "idle counters, timers and sets: \"delete\" (default) or \"zero\"")
	fs.Var(&f.IdleTTL, "idle-ttl", "with -idle zero, stop sending zeros after this `duration` (default: never)")
	fs.Var(&f.GaugeTTL, "gauge-ttl", "forget a gauge not updated for this `duration` (default 5m; negative: never)")
	backendsSet := false
	fs.Func("backend", "backend `name`: stdout, discard, monitis, netuitive, remotewrite, otlp, promexport (repeatable; default stdout)", func(s string) error {
		if !backendsSet {
			f.Backends, backendsSet = nil, true
		}
		for _, b := range strings.Split(s, ",") {
			f.Backends = append(f.Backends, strings.TrimSpace(b))
		}
		return nil
	})
	fs.StringVar(&f.StateDir, "state-dir", f.StateDir, "`directory` for what survives restarts: gauges, undelivered backend data (default: none)")
	fs.Func("spool-max-bytes", "bound of each backend's disk spool in the state directory, in `bytes` (default 64 MiB)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a number of bytes")
		}
		f.Monitis.SpoolMaxBytes, f.Netuitive.SpoolMaxBytes = n, n
		f.RemoteWrite.SpoolMaxBytes, f.OTLP.SpoolMaxBytes = n, n
		return nil
	})
	fs.StringVar(&f.StdoutFile, "stdout-file", f.StdoutFile, "write the stdout backend's JSON lines to this `file` (appending)")
	fs.StringVar(&f.LogLevel, "log-level", f.LogLevel, "log `level`: debug, info, warn, error")
	fs.StringVar(&f.LogFormat, "log-format", f.LogFormat, "log `format`: text or json")
	fs.BoolVar(&f.Parser.UnknownTypeAsCounter, "unknown-type-as-counter", f.Parser.UnknownTypeAsCounter, "count unknown metric types as counters (reference-server compatibility)")
	fs.BoolVar(&f.Parser.NoGaugeDeltas, "no-gauge-deltas", f.Parser.NoGaugeDeltas, "make +N/-N set a gauge instead of adding to it (DogStatsD semantics)")
	f.Monitis.RegisterFlags(fs)
	f.Netuitive.RegisterFlags(fs)
	f.Netstat.RegisterFlags(fs)
	f.Anomaly.RegisterFlags(fs)
	f.RemoteWrite.RegisterFlags(fs)
	f.OTLP.RegisterFlags(fs)
	f.PromExport.RegisterFlags(fs)

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout, fs)
			return nil, 0
		}
		return nil, agentUsageError(stderr, "%v", err)
	}
	if *showVersion {
		fmt.Fprintln(stdout, "statsd-agent", versionString())
		return nil, 0
	}
	if fs.NArg() > 0 {
		return nil, agentUsageError(stderr, "unexpected argument %q", fs.Arg(0))
	}
	if err := f.Validate(); err != nil {
		return nil, agentUsageError(stderr, "%v", err)
	}
	if *checkOnly {
		if err := checkConfig(&f); err != nil {
			return nil, agentUsageError(stderr, "%v", err)
		}
		fmt.Fprintln(stdout, "configuration OK")
		return nil, 0
	}
	return &options{file: f, args: args}, 0
}

func parsePercentiles(s string) ([]float64, error) {
	out := []float64{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		v, err := strconv.ParseFloat(part, 64)
		if err != nil {
			return nil, fmt.Errorf("percentile %q is not a number", part)
		}
		out = append(out, v)
	}
	return out, nil
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage: statsd-agent [flags]
       statsd-agent netstat [-json] [-file PATH -format FORMAT]
       statsd-agent monitis COMMAND ...
       statsd-agent bench [baseline|sweep] ...

Listens for StatsD lines (UDP 127.0.0.1:8125 by default), aggregates them
and flushes every interval to the backends (JSON lines on stdout by default).
Its own metrics are on http://127.0.0.1:9102/metrics.

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, `
Secrets come from the environment, never from flags: MONITIS_APIKEY,
MONITIS_SECRETKEY (MONITIS_SANDBOX_* with -monitis-sandbox), NETUITIVE_API_KEY.
`)
}

func newLogger(f *config.File, stderr io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch f.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	ho := &slog.HandlerOptions{Level: level}
	if f.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, ho))
	}
	return slog.New(slog.NewTextHandler(stderr, ho))
}

// backendBuilder creates backends, reusing on reload the instances whose
// configuration did not change (so their queues survive).
type backendBuilder struct {
	// promHandler serves the promexport backend's /metrics/series, mounted
	// once so it survives reloads; nil when no HTTP endpoint.
	promHandler *promexport.Handler
	stdout      io.Writer
	logger      *slog.Logger
	reg         prometheus.Registerer
	prev        map[string]builtBackend
}

type builtBackend struct {
	b   flush.Backend
	cfg any // the configuration it was built from
}

// backendConfig is the part of the file a backend is built from.
func backendConfig(f *config.File, name string) any {
	switch name {
	case "stdout":
		return f.StdoutFile
	case "monitis":
		return []any{f.Monitis, f.Netstat.Prefix, f.StateDir}
	case "netuitive":
		return []any{f.Netuitive, f.StateDir}
	case "remotewrite":
		return []any{f.RemoteWrite, f.StateDir}
	case "otlp":
		return []any{f.OTLP, f.StateDir}
	case "promexport":
		return f.PromExport
	}
	return nil
}

func backendNames(f *config.File) []string {
	if len(f.Backends) == 0 {
		return []string{"stdout"}
	}
	return f.Backends
}

// aggregateConfig is the file's aggregation settings, with the sketches
// the fleet-export backends need.
func aggregateConfig(f *config.File) aggregate.Config {
	c := f.Aggregate()
	for _, b := range backendNames(f) {
		switch b {
		case "remotewrite", "otlp", "promexport":
			c.Sketches = true
		}
	}
	return c
}

// build creates the configured backends in order. On error, the backends
// it created are closed again.
func (bb *backendBuilder) build(f *config.File) ([]flush.Backend, map[string]builtBackend, error) {
	names := backendNames(f)
	var out []flush.Backend
	built := map[string]builtBackend{}
	fail := func(err error) ([]flush.Backend, map[string]builtBackend, error) {
		for name, x := range built {
			if prev, ok := bb.prev[name]; ok && prev.b == x.b {
				continue
			}
			if c, ok := x.b.(flush.Closer); ok {
				_ = c.Close(context.Background())
			}
		}
		return nil, nil, err
	}
	for _, name := range names {
		if _, dup := built[name]; dup {
			return fail(fmt.Errorf("backend %q given twice", name))
		}
		cfg := backendConfig(f, name)
		if prev, ok := bb.prev[name]; ok && reflect.DeepEqual(prev.cfg, cfg) {
			built[name] = prev
			out = append(out, prev.b)
			continue
		}
		var b flush.Backend
		var err error
		switch name {
		case "stdout":
			if f.StdoutFile != "" {
				b, err = jsonl.Open(f.StdoutFile)
			} else {
				b = jsonl.New(bb.stdout)
			}
		case "discard":
			b = flush.Discard{}
		case "monitis":
			mc := f.Monitis
			if mc.NetstatPrefix == "" {
				mc.NetstatPrefix = f.Netstat.Prefix // find the probe's series under its prefix
			}
			if f.StateDir != "" {
				mc.SpoolDir = filepath.Join(f.StateDir, "monitis")
			}
			b, err = monitis.New(mc, bb.logger.With("backend", "monitis"), replacing{bb.reg})
		case "netuitive":
			nc := f.Netuitive
			if f.StateDir != "" {
				// The disk spool replaces the older queue file, whose
				// content it takes over on first start.
				nc.SpoolDir = filepath.Join(f.StateDir, "netuitive")
				if nc.QueueFile == "" {
					nc.QueueFile = filepath.Join(f.StateDir, "netuitive-queue.jsonl")
				}
			}
			b, err = netuitive.New(nc, bb.logger.With("backend", "netuitive"), replacing{bb.reg})
		case "remotewrite":
			rc := f.RemoteWrite
			if f.StateDir != "" {
				rc.SpoolDir = filepath.Join(f.StateDir, "remotewrite")
			}
			b, err = remotewrite.New(rc, bb.logger, replacing{bb.reg})
		case "otlp":
			oc := f.OTLP
			if f.StateDir != "" {
				oc.SpoolDir = filepath.Join(f.StateDir, "otlp")
			}
			b, err = otlp.New(oc, bb.logger, replacing{bb.reg})
		case "promexport":
			var e *promexport.Exporter
			if e, err = promexport.New(f.PromExport, bb.logger, replacing{bb.reg}); err == nil {
				b = e
				if bb.promHandler != nil {
					bb.promHandler.Set(e)
				}
			}
		default:
			err = fmt.Errorf("unknown backend %q", name)
		}
		if err != nil {
			return fail(err)
		}
		built[name] = builtBackend{b: b, cfg: cfg}
		out = append(out, b)
	}
	return out, built, nil
}

// replacing is a Registerer that replaces a collector registered before
// under the same descriptors, so a backend rebuilt on reload can register
// its metrics again (they restart from zero).
type replacing struct{ prometheus.Registerer }

func (r replacing) Register(c prometheus.Collector) error {
	if r.Registerer == nil {
		return nil
	}
	err := r.Registerer.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.Registerer.Unregister(are.ExistingCollector)
		return r.Registerer.Register(c)
	}
	return err
}

// MustRegister registers, panicking on error like prometheus's own.
func (r replacing) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// checkConfig builds everything the configuration names, without opening
// sockets or sending anything, and reports the first problem.
func checkConfig(f *config.File) error {
	bb := &backendBuilder{stdout: io.Discard, logger: slog.New(slog.DiscardHandler), reg: prometheus.NewRegistry()}
	// Neither create the output file nor open (and lock) the spools of the
	// state directory just to check the configuration.
	g := *f
	g.StdoutFile, g.StateDir = "", ""
	f = &g
	backends, _, err := bb.build(f)
	if err != nil {
		return err
	}
	for _, b := range backends {
		if c, ok := b.(flush.Closer); ok {
			_ = c.Close(context.Background())
		}
	}
	return nil
}

func routes(page *status.Page, prom *promexport.Handler) map[string]http.Handler {
	r := page.Routes()
	r["GET "+promexport.Path] = prom
	return r
}

// server is a running agent with what a reload may change.
type server struct {
	args   []string // the command line, re-applied over the file on reload
	logger *slog.Logger
	a      *agent.Agent
	bb     *backendBuilder

	mu            sync.Mutex // serialises reloads
	file          config.File
	netstatCancel context.CancelFunc
	ctx           context.Context
	reg           prometheus.Registerer
}

func (s *server) startNetstat(f *config.File) {
	if s.netstatCancel != nil {
		s.netstatCancel()
		s.netstatCancel = nil
	}
	if !f.Netstat.Enabled {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.netstatCancel = cancel
	cfg := f.Netstat.Resolve(f.Aggregate().Interval)
	in := netstat.NewInput(cfg, netstat.System(cfg.ProcRoot), s.a.NewShard().AddSamples, s.logger.With("input", "netstat"), replacing{s.reg})
	go func() { _ = in.Run(ctx) }()
}

// reload re-reads the configuration file (with the command line's flags
// over it), validates it fully, and applies what can change without a
// restart. On any error nothing changes.
func (s *server) reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var msg bytes.Buffer
	o, _ := parseAgentFlags(s.args, io.Discard, &msg)
	if o == nil {
		return errors.New(strings.TrimSpace(strings.SplitN(strings.TrimPrefix(msg.String(), "statsd-agent: "), "\nRun ", 2)[0]))
	}
	nf := o.file
	// Validate every backend without touching the running ones' spools.
	if err := checkConfig(&nf); err != nil {
		return err
	}
	agg := aggregateConfig(&nf)
	if err := agg.Validate(); err != nil {
		return err
	}
	// Backends whose configuration did not change are kept (with their
	// queues); the others are closed before their successors are built, so
	// a successor can take over the same spool directory.
	keep := map[flush.Backend]bool{}
	for _, name := range backendNames(&nf) {
		if prev, ok := s.bb.prev[name]; ok && reflect.DeepEqual(prev.cfg, backendConfig(&nf, name)) {
			keep[prev.b] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var built map[string]builtBackend
	err := s.a.ReplaceBackends(ctx, func(b flush.Backend) bool { return keep[b] }, func() ([]flush.Backend, error) {
		var backends []flush.Backend
		var err error
		backends, built, err = s.bb.build(&nf)
		return backends, err
	})
	if err != nil {
		return fmt.Errorf("backends: %w", err)
	}
	s.bb.prev = built
	if _, ok := built["promexport"]; !ok {
		s.bb.promHandler.Set(nil)
	}
	if err := s.a.SetAggregate(agg); err != nil {
		return err
	}
	if !reflect.DeepEqual(nf.Netstat, s.file.Netstat) || nf.FlushInterval != s.file.FlushInterval {
		s.startNetstat(&nf)
	}
	old := s.file
	for _, c := range []struct {
		key      string
		old, new any
	}{
		{"udp", old.UDP, nf.UDP}, {"tcp", old.TCP, nf.TCP}, {"unixgram", old.Unixgram, nf.Unixgram},
		{"http", old.HTTP, nf.HTTP}, {"udp_readers", old.UDPReaders, nf.UDPReaders}, {"reuseport", old.ReusePort, nf.ReusePort},
		{"read_buffer", old.ReadBuffer, nf.ReadBuffer}, {"parser", old.Parser, nf.Parser},
		{"state_dir", old.StateDir, nf.StateDir}, {"rate_limit", old.RateLimit, nf.RateLimit}, {"rate_limit_burst", old.RateLimitBurst, nf.RateLimitBurst},
		{"log_level", old.LogLevel, nf.LogLevel}, {"log_format", old.LogFormat, nf.LogFormat},
		{"anomaly", old.Anomaly, nf.Anomaly},
	} {
		if !reflect.DeepEqual(c.old, c.new) {
			s.logger.Warn("reload: this setting only changes on restart", "key", c.key)
		}
	}
	s.file = nf
	s.logger.Info("configuration reloaded", "backends", strings.Join(s.a.Backends(), ","),
		"flush_interval", nf.Aggregate().Interval.String())
	return nil
}

func serve(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	f := &o.file
	logger := newLogger(f, stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	bb := &backendBuilder{stdout: stdout, logger: logger, reg: reg, promHandler: &promexport.Handler{}}
	backends, built, err := bb.build(f)
	if err != nil {
		return err
	}
	bb.prev = built

	// Processors see every snapshot before the backends: the anomaly
	// detector adds its events first, then the status page records it all.
	var det *anomaly.Detector
	if f.Anomaly.Enabled {
		if det, err = anomaly.New(f.Anomaly, logger.With("part", "anomaly"), reg); err != nil {
			return err
		}
		if f.StateDir != "" {
			if err := det.Load(f.StateDir); err != nil {
				logger.Warn("anomaly baselines not restored", "err", err)
			}
		}
	}
	page := status.New(status.Config{Anomaly: det, Version: versionString()})
	procs := []flush.Processor{page}
	if det != nil {
		procs = []flush.Processor{det, page}
	}
	a, err := agent.New(agent.Config{
		UDP:            f.UDP,
		UDPReaders:     f.UDPReaders,
		ReusePort:      f.ReusePort,
		ReadBuffer:     f.ReadBuffer,
		TCP:            f.TCP,
		TCPMaxConns:    f.TCPMaxConns,
		TCPMaxLine:     f.TCPMaxLine,
		TCPIdleTimeout: time.Duration(f.TCPIdleTimeout),
		Unixgram:       f.Unixgram,
		StateDir:       f.StateDir,
		RateLimit:      ratelimit.Config{LinesPerSecond: f.RateLimit, Burst: f.RateLimitBurst},
		Aggregate:      aggregateConfig(f),
		Parser:         protocol.Options{UnknownTypeAsCounter: f.Parser.UnknownTypeAsCounter, NoGaugeDeltas: f.Parser.NoGaugeDeltas, NoSanitize: f.Parser.NoSanitize},
		FlushTimeout:   time.Duration(f.FlushTimeout),
		Registerer:     reg,
		Processors:     procs,
	}, backends, logger)
	if err != nil {
		for _, b := range backends {
			if c, ok := b.(flush.Closer); ok {
				_ = c.Close(context.Background())
			}
		}
		return err
	}
	page.SetSource(status.AgentSource(a, reg))
	started := time.Now()
	srv := &server{args: o.args, logger: logger, a: a, bb: bb, file: *f, ctx: ctx, reg: reg}

	var httpSrv *admin.Server
	if f.HTTP != "none" && f.HTTP != "" {
		token := f.HTTPToken
		if token.IsZero() {
			token = secret.New(os.Getenv("STATSD_AGENT_HTTP_TOKEN"))
		}
		httpSrv, err = admin.Listen(admin.Config{Addr: f.HTTP, Gatherer: reg, Logger: logger, Token: token,
			Reload: srv.reload, ReloadFromAnywhere: f.ReloadFromAnywhere, Routes: routes(page, bb.promHandler),
			Delete: a.DeleteSeries,
			Health: func() admin.Health {
				h := admin.Health{Status: "ok", Version: versionString(), UptimeSeconds: time.Since(started).Seconds(), Backends: a.Backends()}
				if addr := a.UDPAddr(); addr != nil {
					h.UDP = addr.String()
				}
				return h
			}})
		if err != nil {
			_ = a.Close()
			return err
		}
		go func() {
			if err := httpSrv.Serve(); err != nil {
				logger.Error("http endpoint stopped", "err", err)
			}
		}()
	}

	srv.mu.Lock()
	srv.startNetstat(f)
	srv.mu.Unlock()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := srv.reload(); err != nil {
					logger.Error("reload rejected, the running configuration stays", "err", err)
				}
			}
		}
	}()

	attrs := []any{"version", versionString(), "backends", strings.Join(a.Backends(), ","),
		"flush_interval", f.Aggregate().Interval.String()}
	if addr := a.UDPAddr(); addr != nil {
		attrs = append(attrs, "udp", addr.String())
	}
	if addr := a.TCPAddr(); addr != nil {
		attrs = append(attrs, "tcp", addr.String())
	}
	if httpSrv != nil {
		attrs = append(attrs, "http", "http://"+httpSrv.Addr().String()+"/metrics")
	}
	logger.Info("statsd-agent started", attrs...)

	if det != nil && f.StateDir != "" {
		go func() { _ = det.Autosave(ctx, f.StateDir, 10*time.Minute) }()
	}
	err = a.Run(ctx)
	if det != nil && f.StateDir != "" {
		if serr := det.Save(f.StateDir); serr != nil {
			logger.Error("anomaly baselines not saved", "err", serr)
		}
	}
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = httpSrv.Shutdown(sctx)
		cancel()
	}
	logger.Info("statsd-agent stopped")
	return err
}
