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
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/config"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/jsonl"
	"github.com/statsd-agent/statsd-agent/flush/monitis"
	"github.com/statsd-agent/statsd-agent/flush/netuitive"
	"github.com/statsd-agent/statsd-agent/netstat"
	"github.com/statsd-agent/statsd-agent/protocol"
	"github.com/statsd-agent/statsd-agent/server/admin"
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
	fs.StringVar(&f.UDP, "udp", f.UDP, "UDP listen `address` (\"none\" disables UDP)")
	fs.IntVar(&f.UDPReaders, "udp-readers", f.UDPReaders, "UDP reader goroutines (0 means one per CPU)")
	fs.BoolVar(&f.ReusePort, "reuseport", f.ReusePort, "give each UDP reader its own SO_REUSEPORT socket")
	fs.IntVar(&f.ReadBuffer, "read-buffer", f.ReadBuffer, "UDP receive buffer `bytes` (0 means 8 MiB)")
	fs.StringVar(&f.TCP, "tcp", f.TCP, "TCP listen `address` for newline-delimited lines (default: off)")
	fs.StringVar(&f.Unixgram, "unixgram", f.Unixgram, "Unix datagram socket `path` to listen on (default: off)")
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
	fs.StringVar(&f.Idle, "idle", f.Idle, "idle counters, timers and sets: \"delete\" (default) or \"zero\"")
	fs.Var(&f.IdleTTL, "idle-ttl", "with -idle zero, stop sending zeros after this `duration` (default: never)")
	fs.Var(&f.GaugeTTL, "gauge-ttl", "forget a gauge not updated for this `duration` (default 5m; negative: never)")
	backendsSet := false
	fs.Func("backend", "backend `name`: stdout, discard, monitis, netuitive (repeatable; default stdout)", func(s string) error {
		if !backendsSet {
			f.Backends, backendsSet = nil, true
		}
		for _, b := range strings.Split(s, ",") {
			f.Backends = append(f.Backends, strings.TrimSpace(b))
		}
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
	return &options{file: f}, 0
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

// buildBackends creates the configured backends in order.
func buildBackends(f *config.File, stdout io.Writer, logger *slog.Logger, reg prometheus.Registerer) ([]flush.Backend, error) {
	names := f.Backends
	if len(names) == 0 {
		names = []string{"stdout"}
	}
	var out []flush.Backend
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			return nil, fmt.Errorf("backend %q given twice", name)
		}
		seen[name] = true
		switch name {
		case "stdout":
			if f.StdoutFile != "" {
				b, err := jsonl.Open(f.StdoutFile)
				if err != nil {
					return nil, err
				}
				out = append(out, b)
			} else {
				out = append(out, jsonl.New(stdout))
			}
		case "discard":
			out = append(out, flush.Discard{})
		case "monitis":
			b, err := monitis.New(f.Monitis, logger.With("backend", "monitis"), reg)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		case "netuitive":
			b, err := netuitive.New(f.Netuitive, logger.With("backend", "netuitive"), reg)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		default:
			return nil, fmt.Errorf("unknown backend %q", name)
		}
	}
	return out, nil
}

func serve(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	f := &o.file
	logger := newLogger(f, stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	backends, err := buildBackends(f, stdout, logger, reg)
	if err != nil {
		return err
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
		Aggregate:      f.Aggregate(),
		Parser:         protocol.Options{UnknownTypeAsCounter: f.Parser.UnknownTypeAsCounter, NoGaugeDeltas: f.Parser.NoGaugeDeltas, NoSanitize: f.Parser.NoSanitize},
		FlushTimeout:   time.Duration(f.FlushTimeout),
		Registerer:     reg,
	}, backends, logger)
	if err != nil {
		for _, b := range backends {
			if c, ok := b.(flush.Closer); ok {
				_ = c.Close(context.Background())
			}
		}
		return err
	}
	started := time.Now()

	var httpSrv *admin.Server
	if f.HTTP != "none" && f.HTTP != "" {
		httpSrv, err = admin.Listen(admin.Config{Addr: f.HTTP, Gatherer: reg, Logger: logger, Health: func() admin.Health {
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

	if f.Netstat.Enabled {
		cfg := f.Netstat.Resolve(f.Aggregate().Interval)
		in := netstat.NewInput(cfg, netstat.System(cfg.ProcRoot), a.NewShard().AddSamples, logger.With("input", "netstat"), reg)
		go func() { _ = in.Run(ctx) }()
	}

	attrs := []any{"version", versionString(), "backends", strings.Join(a.Backends(), ","),
		"flush_interval", f.Aggregate().Interval.String()}
	if addr := a.UDPAddr(); addr != nil {
		attrs = append(attrs, "udp", addr.String())
	}
	if httpSrv != nil {
		attrs = append(attrs, "http", "http://"+httpSrv.Addr().String()+"/metrics")
	}
	logger.Info("statsd-agent started", attrs...)

	err = a.Run(ctx)
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = httpSrv.Shutdown(sctx)
		cancel()
	}
	logger.Info("statsd-agent stopped")
	return err
}
