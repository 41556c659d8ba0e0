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
	"strconv"
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
	// Warmup, when positive, sends at the rate for that long before the
	// measured send (and waits for the receiver to catch up), so that the
	// figures show the steady state rather than the receiver's first
	// seconds (growing maps and heap). 0 measures from the start.
	Warmup   time.Duration
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

	// BaselineCmd starts the bare reader, like AgentCmd. Empty means the
	// running executable with DefaultBaselineArgs.
	BaselineCmd []string
	// NoBaseline skips the bare reader runs.
	NoBaseline bool

	// Pin pins this process (the sender) to CPUSender and the processes
	// under test (agent, bare reader) to CPUAgent.
	Pin                 bool
	CPUSender, CPUAgent int

	// Verifier tunes the catch-up wait.
	Verifier Verifier
	// Log receives progress notes; nil means none.
	Log io.Writer
	// AgentOutput receives the stdout and stderr of the processes started;
	// nil means discard (the tail of stderr is kept for errors).
	AgentOutput io.Writer
}

// DefaultAgentArgs are the arguments given to the running executable when
// SweepConfig.AgentCmd is empty.
var DefaultAgentArgs = []string{"-udp", "{udp}", "-http", "{http}", "-backend", "discard", "-flush-interval", "10s"}

// DefaultBaselineArgs are the arguments given to the running executable
// when SweepConfig.BaselineCmd is empty: `statsd-agent bench baseline`
// serving its counters under the agent's metric names.
var DefaultBaselineArgs = []string{"bench", "baseline", "-listen", "{udp}", "-http", "{http}"}

// Measure is what one receiver (the agent or the bare reader) did with one
// offered rate.
type Measure struct {
	Sent SendStats
	// Received is the receiver's line counter delta.
	Received int64
	// CPU is the receiver process's CPU time during the run; HasCPU tells
	// whether it was measured (a PID was known).
	CPU    time.Duration
	HasCPU bool
	// PeakRSS is the receiver's VmHWM in bytes (0 if unknown).
	PeakRSS int64
	// OtherCPU is the busy time of the receiver's CPU (with Pin) that was
	// not the receiver's own: other processes, and interrupts. HasOther
	// tells whether it was measured; Window is the time it covers.
	OtherCPU time.Duration
	HasOther bool
	Window   time.Duration
}

// Loss is the percentage of sent lines not received.
func (m Measure) Loss() float64 { return lossPercent(m.Sent.Lines, m.Received) }

// ReceivedRate is the received lines per second of sending.
func (m Measure) ReceivedRate() float64 { return perSecond(m.Received, m.Sent) }

// CPUPerMillion is the receiver's CPU seconds per million lines received.
func (m Measure) CPUPerMillion() float64 {
	if !m.HasCPU || m.Received == 0 {
		return 0
	}
	return m.CPU.Seconds() / (float64(m.Received) / 1e6)
}

// SweepRow is the result for one offered rate.
type SweepRow struct {
	Offered float64 // lines/s; 0 for max
	Agent   Measure
	// Baseline is the bare reader's result at the same offered rate.
	Baseline    Measure
	HasBaseline bool
}

// Ratio is the agent's received rate over the bare reader's (0 without a baseline).
func (r SweepRow) Ratio() float64 {
	br := r.Baseline.ReceivedRate()
	if !r.HasBaseline || br == 0 {
		return 0
	}
	return r.Agent.ReceivedRate() / br
}

// Sweep runs each offered rate against the agent under test and, unless
// NoBaseline, against a bare reader process measured the same way, and
// returns one row per rate. The rows done so far are returned with an error.
//
// The bare reader runs as a process of its own, like the agent: in this
// process, next to the sender, it would share the Go scheduler and the
// network poller with the sender and fall far short of the machine's limit.
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
	if cfg.Pin {
		// All of this process on the sender's CPU, as with taskset -c; the
		// processes under test are started on the agent's CPU.
		var orig unix.CPUSet
		if err := unix.SchedGetaffinity(0, &orig); err != nil {
			return nil, fmt.Errorf("bench: sweep: %w", err)
		}
		defer pinThreads(&orig, 0)
		if err := PinProcess(cfg.CPUSender); err != nil {
			return nil, err
		}
	}
	agent := receiver{cmd: cfg.AgentCmd, defaultArgs: DefaultAgentArgs, target: cfg.Target, url: cfg.VerifyURL, pid: cfg.PID}
	base := receiver{cmd: cfg.BaselineCmd, defaultArgs: DefaultBaselineArgs}
	var rows []SweepRow
	for _, rate := range cfg.Rates {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		row := SweepRow{Offered: rate}
		logf("rate %s: agent run (%v)", FormatRate(rate), cfg.Duration)
		if row.Agent, err = measure(ctx, cfg, agent, pool, rate); err != nil {
			return rows, fmt.Errorf("bench: sweep at %s: %w", FormatRate(rate), err)
		}
		if !cfg.NoBaseline {
			logf("rate %s: bare reader run", FormatRate(rate))
			if row.Baseline, err = measure(ctx, cfg, base, pool, rate); err != nil {
				return rows, fmt.Errorf("bench: sweep bare reader at %s: %w", FormatRate(rate), err)
			}
			row.HasBaseline = true
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// receiver is what a sweep sends to: a command to start per rate, or an
// already running server (target set).
type receiver struct {
	cmd, defaultArgs []string
	target, url      string
	pid              int
}

// measure runs one rate against one receiver.
func measure(ctx context.Context, cfg SweepConfig, rc receiver, pool *Pool, rate float64) (Measure, error) {
	var m Measure
	target, pid := rc.target, rc.pid
	v := cfg.Verifier
	v.URL = rc.url
	if rc.target == "" {
		p, err := startProc(cfg, rc.cmd, rc.defaultArgs)
		if err != nil {
			return m, err
		}
		defer p.stop()
		target, pid, v.URL = p.udp, p.cmd.Process.Pid, p.metricsURL
		if err := p.waitReady(ctx, &v); err != nil {
			return m, err
		}
	}
	send := func(d time.Duration) (SendStats, error) {
		s, err := NewSender(SendConfig{Target: target, Rate: rate, Duration: d, Pin: cfg.Pin, CPU: cfg.CPUSender}, pool)
		if err != nil {
			return SendStats{}, err
		}
		defer s.Close()
		return s.Run(ctx)
	}
	if cfg.Warmup > 0 {
		c, err := v.Scrape(ctx)
		if err != nil {
			return m, err
		}
		st, err := send(cfg.Warmup)
		if err != nil {
			return m, err
		}
		if _, err := v.WaitCaughtUp(ctx, c, st.Lines); err != nil {
			return m, err
		}
	}
	before, err := v.Scrape(ctx)
	if err != nil {
		return m, err
	}
	var cpu0, busy0 time.Duration
	if pid > 0 {
		if cpu0, err = ProcCPU(pid); err != nil {
			return m, err
		}
	}
	otherCPU := cfg.Pin && pid > 0 && rc.target == ""
	if otherCPU {
		if busy0, err = CPUBusy(cfg.CPUAgent); err != nil {
			return m, err
		}
	}
	t0 := time.Now()
	if m.Sent, err = send(cfg.Duration); err != nil {
		return m, err
	}
	after, err := v.WaitCaughtUp(ctx, before, m.Sent.Lines)
	if err != nil {
		return m, err
	}
	m.Received = NewVerdict(m.Sent.Lines, before, after).Received
	if pid > 0 {
		cpu1, err := ProcCPU(pid)
		if err != nil {
			return m, err
		}
		m.CPU, m.HasCPU = cpu1-cpu0, true
		if otherCPU {
			busy1, err := CPUBusy(cfg.CPUAgent)
			if err != nil {
				return m, err
			}
			m.OtherCPU, m.HasOther, m.Window = max(0, busy1-busy0-m.CPU), true, time.Since(t0)
		}
		if m.PeakRSS, err = ProcPeakRSS(pid); err != nil {
			return m, err
		}
	}
	return m, nil
}

// agentProc is a process under test (agent or bare reader) started by the sweep.
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

// startProc starts argv (or the running executable with defaultArgs),
// with {udp} and {http} replaced by free loopback addresses.
func startProc(cfg SweepConfig, argv, defaultArgs []string) (*agentProc, error) {
	udp, err := freeAddr("udp")
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr("tcp")
	if err != nil {
		return nil, err
	}
	if len(argv) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("command under test: %w", err)
		}
		argv = append([]string{exe}, defaultArgs...)
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
		return nil, fmt.Errorf("start %q: %w", strings.Join(argv, " "), err)
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
			return fmt.Errorf("%s exited before it was ready (%v): %s", a.cmd.Path, a.waitErr, a.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s: %w; stderr: %s", a.cmd.Path, a.metricsURL, err, a.stderr.String())
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
	header := []string{"offered", "sent/s", "received/s", "loss %", "CPU s/M lines", "peak RSS", "bare sent/s", "bare recv/s", "bare loss %", "bare CPU s/M", "ratio"}
	table := [][]string{header}
	cpu := func(m Measure) string {
		if !m.HasCPU {
			return "-"
		}
		return fmt.Sprintf("%.3f", m.CPUPerMillion())
	}
	for _, r := range rows {
		a := r.Agent
		rss := "-"
		if a.PeakRSS > 0 {
			rss = HumanBytes(a.PeakRSS)
		}
		cells := []string{FormatRate(r.Offered), HumanCount(a.Sent.Rate()), HumanCount(a.ReceivedRate()), fmt.Sprintf("%.2f", a.Loss()), cpu(a), rss}
		if b := r.Baseline; r.HasBaseline {
			cells = append(cells, HumanCount(b.Sent.Rate()), HumanCount(b.ReceivedRate()), fmt.Sprintf("%.2f", b.Loss()), cpu(b), fmt.Sprintf("%.2f", r.Ratio()))
		} else {
			cells = append(cells, "-", "-", "-", "-", "-")
		}
		table = append(table, cells)
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

// Warnings points out rows whose figures are not to be trusted: where the
// sender fell short of the offered rate (the machine was busy, or the rate
// is beyond one sender thread), so that the agent and the bare reader were
// not offered the same load, and where other work took more than 5 % of
// the receiver's pinned CPU.
func Warnings(rows []SweepRow) []string {
	var out []string
	for _, r := range rows {
		check := func(who string, m Measure) {
			if got := m.Sent.Rate(); r.Offered > 0 && got < 0.95*r.Offered {
				out = append(out, fmt.Sprintf("at %s the sender reached only %s lines/s to the %s: the machine was busy or the rate is beyond one sender; rerun before trusting this row",
					FormatRate(r.Offered), HumanCount(got), who))
			}
		}
		check("agent", r.Agent)
		if r.HasBaseline {
			check("bare reader", r.Baseline)
		}
		other := func(who string, m Measure) {
			if m.HasOther && m.OtherCPU > m.Window/20 {
				out = append(out, fmt.Sprintf("at %s, %.2f s of the %s's CPU (in %.1f s) went to other processes or interrupts: its figures may suffer",
					FormatRate(r.Offered), m.OtherCPU.Seconds(), who, m.Window.Seconds()))
			}
		}
		other("agent", r.Agent)
		if r.HasBaseline {
			other("bare reader", r.Baseline)
		}
	}
	return out
}

// LoadAverage returns the 1-minute load average from /proc/loadavg.
func LoadAverage() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, fmt.Errorf("bench: load average: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, errors.New("bench: load average: empty /proc/loadavg")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("bench: load average: %w", err)
	}
	return v, nil
}

// Peak is the highest received rate of a sweep and the offered rate it
// came at (0 for max).
type Peak struct {
	Rate, Offered float64
}

// Peaks returns the agent's and the bare reader's highest received rates
// over all rows. Under heavy overload ("max" sends what the kernel accepts,
// which grows as the receiver drops more) a receiver may take in less than
// at a lower rate, so the peaks, not the "max" row, measure capacity.
func Peaks(rows []SweepRow) (agent, bare Peak) {
	for _, r := range rows {
		if v := r.Agent.ReceivedRate(); v > agent.Rate {
			agent = Peak{v, r.Offered}
		}
		if v := r.Baseline.ReceivedRate(); r.HasBaseline && v > bare.Rate {
			bare = Peak{v, r.Offered}
		}
	}
	return agent, bare
}
