package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/statsd-agent/statsd-agent/bench"
)

const benchUsage = `usage: statsd-agent bench [flags]            send a load to a StatsD server
       statsd-agent bench baseline [flags]   a bare recvmmsg reader that only counts lines
       statsd-agent bench sweep [flags]      offered rate vs received rate, loss and CPU

Run "statsd-agent bench <command> -h" for a command's flags.
`

// runBench runs `statsd-agent bench ...` and returns the exit code: 0 on
// success, 1 on a failed run, 2 on a usage error.
func runBench(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 {
		switch args[0] {
		case "baseline":
			return benchBaseline(ctx, args[1:], stdout, stderr)
		case "sweep":
			return benchSweep(ctx, args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, benchUsage)
			return 0
		}
		if !strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "statsd-agent bench: unknown command %q\n%s", args[0], benchUsage)
			return 2
		}
	}
	return benchRun(ctx, args, stdout, stderr)
}

// usageError prints a usage error with a hint and returns exit code 2.
func usageError(stderr io.Writer, cmd, format string, args ...any) int {
	fmt.Fprintf(stderr, "statsd-agent %s: %s\nRun \"statsd-agent %s -h\" for usage.\n", cmd, fmt.Sprintf(format, args...), cmd)
	return 2
}

// parseFlags parses args, returning an exit code when parsing ends the command.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, cmd string) (code int, done bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, true
		}
		return 2, true
	}
	if fs.NArg() > 0 {
		return usageError(stderr, cmd, "unexpected argument %q", fs.Arg(0)), true
	}
	return 0, false
}

// workloadFlags are the flags shaping the lines sent.
type workloadFlags struct {
	keys, tags, packetBytes, linesPerPacket int
	mix                                     string
	seed                                    uint64
}

func (w *workloadFlags) register(fs *flag.FlagSet, defaultMix string, defaultLPP int) {
	fs.IntVar(&w.keys, "keys", 1000, "number of distinct series (name, type, tags)")
	fs.StringVar(&w.mix, "mix", defaultMix, "share of lines per type: c, ms, g, s, h, d `weights`")
	fs.IntVar(&w.tags, "tags", 0, "DogStatsD tags per line (|#k:v,...)")
	fs.IntVar(&w.packetBytes, "packet-bytes", 1400, "pack lines into datagrams of at most this many bytes")
	fs.IntVar(&w.linesPerPacket, "lines-per-packet", defaultLPP, "put exactly this many lines in each datagram (instead of -packet-bytes)")
	fs.Uint64Var(&w.seed, "seed", 1, "seed of the generated workload")
}

func (w *workloadFlags) workload(fs *flag.FlagSet) (bench.Workload, error) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["packet-bytes"] && set["lines-per-packet"] {
		return bench.Workload{}, errors.New("-packet-bytes and -lines-per-packet exclude each other")
	}
	if w.keys <= 0 {
		return bench.Workload{}, fmt.Errorf("-keys must be positive, got %d", w.keys)
	}
	mix, err := bench.ParseMix(w.mix)
	if err != nil {
		return bench.Workload{}, err
	}
	wl := bench.Workload{Keys: w.keys, Mix: mix, Tags: w.tags, PacketBytes: w.packetBytes, Seed: w.seed}
	if !set["packet-bytes"] {
		wl.LinesPerPacket = w.linesPerPacket
	}
	return wl, wl.Validate()
}

// checkCPU validates a -cpu flag value (-1 means no pinning).
func checkCPU(name string, cpu int) error {
	if cpu < -1 || cpu >= runtime.NumCPU() {
		return fmt.Errorf("-%s %d: this machine has CPUs 0..%d (-1: do not pin)", name, cpu, runtime.NumCPU()-1)
	}
	return nil
}

func benchRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const cmd = "bench"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage+"\nFlags of statsd-agent bench:\n")
		fs.PrintDefaults()
	}
	var wf workloadFlags
	wf.register(fs, bench.DefaultMix.String(), 0)
	target := fs.String("target", "127.0.0.1:8125", "UDP `host:port` of the StatsD server")
	rateFlag := fs.String("rate", "100k", "offered `lines/s` (500000, 500k, 1M) or max")
	duration := fs.Duration("duration", 10*time.Second, "how long to send (at most 1h)")
	maxLines := fs.Int64("lines", 0, "stop after this many lines (0: only -duration bounds the run)")
	verify := fs.String("verify", "", "agent metrics `URL` (http://127.0.0.1:9102/metrics): count the lines it received")
	cpu := fs.Int("cpu-sender", -1, "pin the sender to this CPU (-1: do not pin)")
	batch := fs.Int("batch", 0, "datagrams per sendmmsg call (0: from the rate, at most 64)")
	maxLoss := fs.Float64("max-loss", -1, "with -verify, exit 1 if the loss exceeds this `percent` (-1: never)")
	quiet := fs.Bool("quiet", false, "no progress line")
	if code, done := parseFlags(fs, args, stderr, cmd); done {
		return code
	}
	wl, err := wf.workload(fs)
	if err != nil {
		return usageError(stderr, cmd, "%v", err)
	}
	rate, err := bench.ParseRate(*rateFlag)
	if err != nil {
		return usageError(stderr, cmd, "-rate: %v", err)
	}
	if *duration <= 0 || *duration > bench.MaxDuration {
		return usageError(stderr, cmd, "-duration %v out of range (0, %v]", *duration, bench.MaxDuration)
	}
	if _, _, err := net.SplitHostPort(*target); err != nil {
		return usageError(stderr, cmd, "-target %q: want host:port", *target)
	}
	if err := checkCPU("cpu-sender", *cpu); err != nil {
		return usageError(stderr, cmd, "%v", err)
	}
	if *maxLoss >= 0 && *verify == "" {
		return usageError(stderr, cmd, "-max-loss needs -verify")
	}
	if !bench.IsLoopback(*target) {
		fmt.Fprintf(stderr, "note: sending to %s, which is not a loopback address\n", *target)
	}
	cfg := bench.RunConfig{
		Workload:  wl,
		Send:      bench.SendConfig{Target: *target, Rate: rate, Duration: *duration, MaxLines: *maxLines, Batch: *batch, Pin: *cpu >= 0, CPU: *cpu},
		VerifyURL: *verify,
	}
	if !*quiet {
		cfg.Progress = bench.Progress{W: stderr, TTY: bench.IsTerminal(stderr)}
	}
	if *cpu >= 0 {
		// The whole process, as taskset -c would.
		if err := bench.PinProcess(*cpu); err != nil {
			fmt.Fprintf(stderr, "statsd-agent bench: %v\n", err)
			return 1
		}
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "statsd-agent bench: %v\n", err)
		return 1
	}
	if err := res.WriteSummary(stdout); err != nil {
		fmt.Fprintf(stderr, "statsd-agent bench: %v\n", err)
		return 1
	}
	if *maxLoss >= 0 && res.Verdict.Loss() > *maxLoss {
		fmt.Fprintf(stderr, "statsd-agent bench: loss %.3f %% exceeds -max-loss %g %%\n", res.Verdict.Loss(), *maxLoss)
		return 1
	}
	return 0
}

func benchBaseline(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const cmd = "bench baseline"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: statsd-agent bench baseline [flags]\n\n"+
			"A bare recvmmsg reader that only counts lines: the physical limit of this\n"+
			"machine for the same sender. Send to it with statsd-agent bench.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	listen := fs.String("listen", "127.0.0.1:8125", "UDP `host:port` to read")
	httpAddr := fs.String("http", "", "serve its counters in the Prometheus format on this `host:port` (for bench -verify)")
	duration := fs.Duration("duration", 0, "stop after this long (0: at Ctrl-C)")
	cpu := fs.Int("cpu", -1, "pin the reader to this CPU (-1: do not pin)")
	every := fs.Duration("every", time.Second, "print the counts this often")
	readBuffer := fs.Int("read-buffer", 0, "socket receive buffer `bytes` (0: 8 MiB, capped by net.core.rmem_max)")
	if code, done := parseFlags(fs, args, stderr, cmd); done {
		return code
	}
	if err := checkCPU("cpu", *cpu); err != nil {
		return usageError(stderr, cmd, "%v", err)
	}
	if *duration < 0 || *every <= 0 {
		return usageError(stderr, cmd, "-duration must not be negative and -every must be positive")
	}
	if *cpu >= 0 {
		// The whole process: the Go runtime's threads that wake the reader
		// share its CPU, as an agent started with taskset -c would.
		if err := bench.PinProcess(*cpu); err != nil {
			fmt.Fprintf(stderr, "statsd-agent bench baseline: %v\n", err)
			return 1
		}
	}
	b, err := bench.ListenBaseline(bench.BaselineConfig{Listen: *listen, ReadBuffer: *readBuffer})
	if err != nil {
		fmt.Fprintf(stderr, "statsd-agent bench baseline: %v\n", err)
		return 1
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			fmt.Fprintf(stderr, "statsd-agent bench baseline: %v\n", err)
			return 1
		}
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain; version=0.0.4")
				_ = b.WriteMetrics(w)
			}),
			ReadHeaderTimeout: 5 * time.Second,
		}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		fmt.Fprintf(stderr, "counters at http://%s/metrics\n", ln.Addr())
	}
	fmt.Fprintf(stderr, "reading %s (Ctrl-C to stop)\n", b.Addr())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t := time.NewTicker(*every)
	defer t.Stop()
	var prev bench.BaselineStats
	prevAt := time.Now()
	for {
		select {
		case err := <-done:
			s := b.Stats()
			fmt.Fprintf(stdout, "received %d lines in %d datagrams (%s)\n", s.Lines, s.Datagrams, bench.HumanBytes(s.Bytes))
			fmt.Fprintf(stdout, "rate %s lines/s from first to last datagram; reader CPU %.3fs, %.3f CPU-seconds per million lines\n",
				bench.HumanCount(s.Rate()), s.CPU.Seconds(), s.CPUPerMillion())
			if err != nil {
				fmt.Fprintf(stderr, "statsd-agent bench baseline: %v\n", err)
				return 1
			}
			return 0
		case now := <-t.C:
			s := b.Stats()
			if s.Lines != prev.Lines {
				fmt.Fprintf(stderr, "lines %s  %s lines/s  CPU %.3f s per M lines\n", bench.HumanCount(float64(s.Lines)),
					bench.HumanCount(float64(s.Lines-prev.Lines)/now.Sub(prevAt).Seconds()), s.CPUPerMillion())
			}
			prev, prevAt = s, now
		}
	}
}

func benchSweep(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const cmd = "bench sweep"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: statsd-agent bench sweep [flags]\n\n"+
			"For each rate, start the agent under test (or use -target), offer the rate,\n"+
			"read its counters, CPU and peak RSS; then do the same with a bare recvmmsg\n"+
			"reader process (statsd-agent bench baseline), the machine's limit.\n"+
			"Prints a table and writes an SVG plot.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var wf workloadFlags
	wf.register(fs, "c=100", 20)
	ratesFlag := fs.String("rates", "100k,300k,1M,3M,max", "offered `rates` in lines/s, comma-separated")
	duration := fs.Duration("duration", 5*time.Second, "send time per rate")
	warmup := fs.Duration("warmup", 0, "send at each rate this long before measuring, to skip the receiver's first seconds (0: measure from the start)")
	agentCmd := fs.String("agent-cmd", "", "`command` starting the agent under test, split at spaces; {udp} and {http} are replaced by free loopback addresses (default: this executable -udp {udp} -http {http} -backend discard -flush-interval 10s)")
	target := fs.String("target", "", "UDP `host:port` of an already running server (with -verify)")
	verify := fs.String("verify", "", "metrics `URL` of the server given by -target")
	pid := fs.Int("pid", 0, "process ID of the server given by -target, for CPU and RSS")
	defSender, defAgent := 0, 1
	if runtime.NumCPU() < 2 {
		defSender, defAgent = -1, -1
	}
	cpuSender := fs.Int("cpu-sender", defSender, "pin the sender to this CPU (-1: do not pin)")
	cpuAgent := fs.Int("cpu-agent", defAgent, "pin the agent and the bare reader processes to this CPU (-1: do not pin)")
	baselineCmd := fs.String("baseline-cmd", "", "`command` starting the bare reader, like -agent-cmd (default: this executable bench baseline -listen {udp} -http {http})")
	noBaseline := fs.Bool("no-baseline", false, "skip the bare reader runs")
	svgPath := fs.String("svg", "bench-sweep.svg", "write the plot to this `file` (empty: no plot)")
	verbose := fs.Bool("v", false, "show the agent's output")
	if code, done := parseFlags(fs, args, stderr, cmd); done {
		return code
	}
	wl, err := wf.workload(fs)
	if err != nil {
		return usageError(stderr, cmd, "%v", err)
	}
	rates, err := bench.ParseRates(*ratesFlag)
	if err != nil {
		return usageError(stderr, cmd, "-rates: %v", err)
	}
	if *duration <= 0 || *duration > bench.MaxDuration {
		return usageError(stderr, cmd, "-duration %v out of range (0, %v]", *duration, bench.MaxDuration)
	}
	if *warmup < 0 || *warmup > bench.MaxDuration {
		return usageError(stderr, cmd, "-warmup %v out of range [0, %v]", *warmup, bench.MaxDuration)
	}
	for name, v := range map[string]int{"cpu-sender": *cpuSender, "cpu-agent": *cpuAgent} {
		if err := checkCPU(name, v); err != nil {
			return usageError(stderr, cmd, "%v", err)
		}
	}
	if (*cpuSender >= 0) != (*cpuAgent >= 0) {
		return usageError(stderr, cmd, "pin both -cpu-sender and -cpu-agent, or neither (-1)")
	}
	if (*target == "") != (*verify == "") {
		return usageError(stderr, cmd, "-target and -verify go together")
	}
	if *target != "" && *agentCmd != "" {
		return usageError(stderr, cmd, "-agent-cmd and -target exclude each other")
	}
	if *pid != 0 && *target == "" {
		return usageError(stderr, cmd, "-pid needs -target")
	}
	cfg := bench.SweepConfig{
		Rates: rates, Duration: *duration, Warmup: *warmup, Workload: wl,
		AgentCmd: strings.Fields(*agentCmd), BaselineCmd: strings.Fields(*baselineCmd),
		Target: *target, VerifyURL: *verify, PID: *pid,
		Pin: *cpuSender >= 0, CPUSender: *cpuSender, CPUAgent: *cpuAgent,
		NoBaseline: *noBaseline,
		Log:        stderr,
	}
	if *verbose {
		cfg.AgentOutput = stderr
	}
	if load, err := bench.LoadAverage(); err == nil && load > float64(runtime.NumCPU()) {
		fmt.Fprintf(stderr, "note: load average %.2f: other processes are running, the figures will be noisy\n", load)
	}
	rows, err := bench.Sweep(ctx, cfg)
	if len(rows) > 0 {
		fmt.Fprintf(stdout, "workload: %d keys, mix %s, %d tags, %s; %v per rate", wl.Keys, wl.Mix, wl.Tags, packing(wl), *duration)
		if *warmup > 0 {
			fmt.Fprintf(stdout, " after %v of warm-up", *warmup)
		}
		fmt.Fprintln(stdout)
		if werr := bench.WriteTable(stdout, rows); werr != nil && err == nil {
			err = werr
		}
		if agent, bare := bench.Peaks(rows); bare.Rate > 0 {
			fmt.Fprintf(stdout, "peak received: agent %s lines/s (offered %s), bare reader %s lines/s (offered %s): %.2f of the bare reader\n",
				bench.HumanCount(agent.Rate), bench.FormatRate(agent.Offered), bench.HumanCount(bare.Rate), bench.FormatRate(bare.Offered), agent.Rate/bare.Rate)
		}
		for _, w := range bench.Warnings(rows) {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
		if *svgPath != "" {
			title := fmt.Sprintf("statsd-agent bench sweep: %d keys, mix %s, %s", wl.Keys, wl.Mix, packing(wl))
			if werr := writeSVGFile(*svgPath, rows, title); werr != nil && err == nil {
				err = werr
			} else if werr == nil {
				fmt.Fprintf(stderr, "plot written to %s\n", *svgPath)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "statsd-agent bench sweep: %v\n", err)
		return 1
	}
	return 0
}

func packing(wl bench.Workload) string {
	if wl.LinesPerPacket > 0 {
		return fmt.Sprintf("%d lines per datagram", wl.LinesPerPacket)
	}
	return fmt.Sprintf("datagrams up to %d bytes", wl.PacketBytes)
}

func writeSVGFile(path string, rows []bench.SweepRow, title string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := bench.WriteSVG(f, rows, title); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
