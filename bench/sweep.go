package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SweepConfig configures a sweep of offered rates.
type SweepConfig struct {
	// Rates are the offered rates in lines per second; 0 means max.
	Rates []float64
	// Duration of each rate's send; 0 means 5s.
	Duration time.Duration
	Workload Workload

	// AgentCmd is the command starting the agent under test, one fresh
	// process per rate. "{udp}" and "{http}" in its arguments are replaced by
	// free loopback addresses, and the agent's metrics are read from
	// http://{http}/metrics. Empty means the running executable with
	// DefaultAgentArgs.
	AgentCmd []string
	// Target, VerifyURL and PID select an already running server instead:
	// its UDP address, its metrics URL and (optional, for CPU and RSS) its
	// process ID.
	Target, VerifyURL string
	PID               int

	// Pin pins the sender's thread to CPUSender and the agent (and the
	// baseline reader) to CPUAgent.
	Pin                 bool
	CPUSender, CPUAgent int
	// NoBaseline skips the bare reader runs.
	NoBaseline bool

	// Verifier tunes the catch-up wait.
	Verifier Verifier
	// Log receives progress notes; nil means none.
	Log io.Writer
	// AgentOutput receives the agent's stdout and stderr; nil means discard
	// (the tail of stderr is kept for errors).
	AgentOutput io.Writer
}

// DefaultAgentArgs are the arguments given to the running executable when
// SweepConfig.AgentCmd is empty.
var DefaultAgentArgs = []string{"-udp", "{udp}", "-http", "{http}", "-backend", "discard", "-flush-interval", "10s"}

// SweepRow is the result for one offered rate.
type SweepRow struct {
	Offered float64 // lines/s; 0 for max
	Sent    SendStats
	// Received is the agent's line counter delta.
	Received int64
	Loss     float64 // percent
	// AgentCPU is the agent process's CPU time during the run; HasCPU tells
	// whether it was measured (a PID was known).
	AgentCPU time.Duration
	HasCPU   bool
	// PeakRSS is the agent's VmHWM in bytes (0 if unknown).
	PeakRSS int64
	// Baseline is the bare reader's result at the same offered rate.
	Baseline    BaselineStats
	HasBaseline bool
	// BaselineSent is what the sender sent to the bare reader.
	BaselineSent SendStats
}

// CPUPerMillion is the agent's CPU seconds per million lines received.
func (r SweepRow) CPUPerMillion() float64 {
	if !r.HasCPU || r.Received == 0 {
		return 0
	}
	return r.AgentCPU.Seconds() / (float64(r.Received) / 1e6)
}

// ReceivedRate is the agent's received lines per second of sending.
func (r SweepRow) ReceivedRate() float64 { return perSecond(r.Received, r.Sent) }

// BaselineRate is the bare reader's received lines per second of sending.
func (r SweepRow) BaselineRate() float64 { return perSecond(r.Baseline.Lines, r.BaselineSent) }

// Ratio is the agent's received rate over the bare reader's (0 without a baseline).
func (r SweepRow) Ratio() float64 {
	br := r.BaselineRate()
	if !r.HasBaseline || br == 0 {
		return 0
	}
	return r.ReceivedRate() / br
}

// BaselineLoss is the bare reader's loss percent.
func (r SweepRow) BaselineLoss() float64 { return lossPercent(r.BaselineSent.Lines, r.Baseline.Lines) }

// Sweep runs each offered rate against the agent under test and, unless
// NoBaseline, against a bare reader, and returns one row per rate. The rows
// done so far are returned with an error.
func Sweep(ctx context.Context, cfg SweepConfig) ([]SweepRow, error) {
	if len(cfg.Rates) == 0 {
		return nil, errors.New("bench: sweep: no rates")
	}
	if cfg.Duration == 0 {
		cfg.Duration = 5 * time.Second
	}
	external := cfg.Target != ""
	if external && cfg.VerifyURL == "" {
		return nil, errors.New("bench: sweep: -target needs -verify (the agent's metrics URL)")
	}
	if !external && cfg.VerifyURL != "" {
		return nil, errors.New("bench: sweep: -verify needs -target (or neither, to start the agent)")
	}
	pool, err := cfg.Workload.Build()
	if err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	// With Pin, the whole process sits on the sender's CPU during the agent
	// runs, and on the agent's CPU during the bare reader runs (but for the
	// sender's own thread), so that in both runs the receiving side has its
	// CPU with all of its runtime threads, as with taskset -c.
	pinAll := func(int) error { return nil }
	if cfg.Pin {
		var orig unix.CPUSet
		if err := unix.SchedGetaffinity(0, &orig); err != nil {
			return nil, fmt.Errorf("bench: sweep: %w", err)
		}
		defer pinThreads(&orig, 0)
		pinAll = func(cpu int) error {
			var set unix.CPUSet
			set.Set(cpu)
			return pinThreads(&set, 0)
		}
	}
	var rows []SweepRow
	for _, rate := range cfg.Rates {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		logf("rate %s: agent run (%v)", FormatRate(rate), cfg.Duration)
		if err := pinAll(cfg.CPUSender); err != nil {
			return rows, err
		}
		row, err := sweepAgent(ctx, cfg, pool, rate)
		if err != nil {
			return rows, fmt.Errorf("bench: sweep at %s: %w", FormatRate(rate), err)
		}
		if !cfg.NoBaseline {
			logf("rate %s: baseline run", FormatRate(rate))
			if err := pinAll(cfg.CPUAgent); err != nil {
				return rows, err
			}
			if row.BaselineSent, row.Baseline, err = sweepBaseline(ctx, cfg, pool, rate); err != nil {
				return rows, fmt.Errorf("bench: sweep baseline at %s: %w", FormatRate(rate), err)
			}
			row.HasBaseline = true
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func (cfg SweepConfig) sendConfig(target string, rate float64, cpu int) SendConfig {
	return SendConfig{Target: target, Rate: rate, Duration: cfg.Duration, Pin: cfg.Pin, CPU: cpu}
}

// sweepAgent runs one rate against the agent under test.
func sweepAgent(ctx context.Context, cfg SweepConfig, pool *Pool, rate float64) (SweepRow, error) {
	row := SweepRow{Offered: rate}
	target, pid := cfg.Target, cfg.PID
	v := cfg.Verifier
	v.URL = cfg.VerifyURL
	if cfg.Target == "" {
		a, err := startAgent(ctx, cfg)
		if err != nil {
			return row, err
		}
		defer a.stop()
		target, pid, v.URL = a.udp, a.cmd.Process.Pid, a.metricsURL
		if err := a.waitReady(ctx, &v); err != nil {
			return row, err
		}
	}
	before, err := v.Scrape(ctx)
	if err != nil {
		return row, err
	}
	var cpu0 time.Duration
	if pid > 0 {
		if cpu0, err = ProcCPU(pid); err != nil {
			return row, err
		}
	}
	s, err := NewSender(cfg.sendConfig(target, rate, cfg.CPUSender), pool)
	if err != nil {
		return row, err
	}
	row.Sent, err = s.Run(ctx)
	s.Close()
	if err != nil {
		return row, err
	}
	after, err := v.WaitCaughtUp(ctx, before, row.Sent.Lines)
	if err != nil {
		return row, err
	}
	verdict := NewVerdict(row.Sent.Lines, before, after)
	row.Received, row.Loss = verdict.Received, verdict.Loss()
	if pid > 0 {
		cpu1, err := ProcCPU(pid)
		if err != nil {
			return row, err
		}
		row.AgentCPU, row.HasCPU = cpu1-cpu0, true
		if row.PeakRSS, err = ProcPeakRSS(pid); err != nil {
			return row, err
		}
	}
	return row, nil
}

// sweepBaseline runs one rate against an in-process bare reader on the
// agent's CPU.
func sweepBaseline(ctx context.Context, cfg SweepConfig, pool *Pool, rate float64) (SendStats, BaselineStats, error) {
	b, err := ListenBaseline(BaselineConfig{Listen: "127.0.0.1:0", Pin: cfg.Pin, CPU: cfg.CPUAgent})
	if err != nil {
		return SendStats{}, BaselineStats{}, err
	}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() { runErr = b.Run(rctx) })
	s, err := NewSender(cfg.sendConfig(b.Addr().String(), rate, cfg.CPUSender), pool)
	if err != nil {
		stop()
		wg.Wait()
		return SendStats{}, BaselineStats{}, err
	}
	sent, err := s.Run(ctx)
	s.Close()
	if err == nil {
		waitStable(ctx, func() int64 { return b.Stats().Lines }, sent.Lines, 200*time.Millisecond, 5*time.Second)
	}
	stop()
	wg.Wait()
	if err == nil {
		err = runErr
	}
	return sent, b.Stats(), err
}

// waitStable polls count until it reaches want or stays unchanged for
// settle, bounded by maxWait.
func waitStable(ctx context.Context, count func() int64, want int64, settle, maxWait time.Duration) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(maxWait)
	last, changed := count(), time.Now()
	for last < want && time.Since(changed) < settle && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c := count(); c != last {
			last, changed = c, time.Now()
		}
	}
}

// agentProc is an agent process started by the sweep.
type agentProc struct {
	cmd             *exec.Cmd
	udp, metricsURL string
	stderr          *tailBuffer
	done            chan struct{}
	waitErr         error
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(network string) (string, error) {
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.LocalAddr().String(), nil
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		defer l.Close()
		return l.Addr().String(), nil
	}
}

func startAgent(ctx context.Context, cfg SweepConfig) (*agentProc, error) {
	udp, err := freeAddr("udp")
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr("tcp")
	if err != nil {
		return nil, err
	}
	argv := cfg.AgentCmd
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("agent command: %w", err)
		}
		argv = append([]string{exe}, DefaultAgentArgs...)
	}
	argv = expandAgentArgs(argv, udp, httpAddr)
	a := &agentProc{udp: udp, metricsURL: "http://" + httpAddr + "/metrics", stderr: &tailBuffer{max: 4096}, done: make(chan struct{})}
	a.cmd = exec.Command(argv[0], argv[1:]...)
	a.cmd.Stderr = a.stderr
	if cfg.AgentOutput != nil {
		a.cmd.Stdout = cfg.AgentOutput
		a.cmd.Stderr = io.MultiWriter(cfg.AgentOutput, a.stderr)
	}
	if err := startPinned(a.cmd, cfg.Pin, cfg.CPUAgent); err != nil {
		return nil, fmt.Errorf("start agent %q: %w", strings.Join(argv, " "), err)
	}
	go func() {
		a.waitErr = a.cmd.Wait()
		close(a.done)
	}()
	return a, nil
}

// expandAgentArgs replaces {udp} and {http} in the agent's arguments.
func expandAgentArgs(argv []string, udp, httpAddr string) []string {
	out := make([]string, len(argv))
	r := strings.NewReplacer("{udp}", udp, "{http}", httpAddr)
	for i, a := range argv {
		out[i] = r.Replace(a)
	}
	return out
}

// startPinned starts cmd with its CPU affinity set to cpu: the child is
// forked from a thread pinned to cpu and inherits its affinity (for all of
// its threads), so no taskset is needed.
func startPinned(cmd *exec.Cmd, pin bool, cpu int) error {
	if !pin {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the pinned thread exits with the goroutine.
		runtime.LockOSThread()
		if err := pinThread(cpu); err != nil {
			errc <- err
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// waitReady polls the agent's metrics until it answers, bounded by 15s.
func (a *agentProc) waitReady(ctx context.Context, v *Verifier) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		_, err := v.Scrape(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-a.done:
			return fmt.Errorf("agent exited before it was ready (%v): %s", a.waitErr, a.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("agent not ready at %s: %w; stderr: %s", a.metricsURL, err, a.stderr.String())
		case <-t.C:
		}
	}
}

// stop sends SIGTERM, waits up to 10s, then kills.
func (a *agentProc) stop() {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}

// WriteTable writes the sweep's rows as an aligned text table.
func WriteTable(w io.Writer, rows []SweepRow) error {
	header := []string{"offered", "sent/s", "received/s", "loss %", "CPU s/M lines", "peak RSS", "baseline/s", "baseline loss %", "baseline CPU s/M", "ratio"}
	table := [][]string{header}
	for _, r := range rows {
		cpu, rss, base, baseLoss, baseCPU, ratio := "-", "-", "-", "-", "-", "-"
		if r.HasCPU {
			cpu = fmt.Sprintf("%.3f", r.CPUPerMillion())
		}
		if r.PeakRSS > 0 {
			rss = HumanBytes(r.PeakRSS)
		}
		if r.HasBaseline {
			base = HumanCount(r.BaselineRate())
			baseLoss = fmt.Sprintf("%.2f", r.BaselineLoss())
			baseCPU = fmt.Sprintf("%.3f", r.Baseline.CPUPerMillion())
			ratio = fmt.Sprintf("%.2f", r.Ratio())
		}
		table = append(table, []string{
			FormatRate(r.Offered), HumanCount(r.Sent.Rate()), HumanCount(r.ReceivedRate()),
			fmt.Sprintf("%.2f", r.Loss), cpu, rss, base, baseLoss, baseCPU, ratio,
		})
	}
	widths := make([]int, len(header))
	for _, row := range table {
		for i, c := range row {
			widths[i] = max(widths[i], len(c))
		}
	}
	ew := &errWriter{w: w}
	for _, row := range table {
		for i, c := range row {
			if i > 0 {
				ew.printf("  ")
			}
			ew.printf("%*s", widths[i], c)
		}
		ew.printf("\n")
	}
	return ew.err
}
