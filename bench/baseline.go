package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// BaselineConfig configures a Baseline reader.
type BaselineConfig struct {
	// Listen is the UDP host:port to read; "127.0.0.1:0" picks a free port.
	Listen string
	// ReadBuffer is the socket receive buffer size; 0 means 8 MiB (the kernel
	// caps it at net.core.rmem_max).
	ReadBuffer int
	// Batch is the number of datagrams per recvmmsg call; 0 means 64.
	Batch int
	// Pin locks the reading goroutine to an OS thread pinned to CPU. Without
	// it the reader is an ordinary goroutine, as in server/udp (a locked
	// thread costs a thread hand-off on every wake-up).
	Pin bool
	CPU int
}

// BaselineStats counts what a Baseline reader received.
type BaselineStats struct {
	Lines, Datagrams, Bytes int64
	// CPU is the CPU time (user+system) of the whole process since Run
	// started, as /proc/PID/stat counts it for the agent: run the reader in
	// a process of its own (statsd-agent bench baseline) for a clean figure.
	CPU time.Duration
	// First and Last are the times of the first and last datagram read
	// (zero before the first).
	First, Last time.Time
}

// CPUPerMillion is the reader's CPU seconds per million lines.
func (s BaselineStats) CPUPerMillion() float64 {
	if s.Lines == 0 {
		return 0
	}
	return s.CPU.Seconds() / (float64(s.Lines) / 1e6)
}

// Rate is the lines per second between the first and the last datagram.
func (s BaselineStats) Rate() float64 {
	d := s.Last.Sub(s.First)
	if d <= 0 {
		return 0
	}
	return float64(s.Lines) / d.Seconds()
}

type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

// Baseline is a bare recvmmsg reader that only counts non-empty
// '\n'-separated lines: the physical limit of the machine for a sender, the
// yardstick for the agent's figures. Run must be called once; Stats and
// WriteMetrics may be called from any goroutine.
type Baseline struct {
	cfg  BaselineConfig
	conn *net.UDPConn
	br   batchReader

	lines, datagrams, bytes atomic.Int64
	cpuNanos                atomic.Int64
	first, last             atomic.Int64 // unix nanos
}

// ListenBaseline opens the reader's socket.
func ListenBaseline(cfg BaselineConfig) (*Baseline, error) {
	if cfg.Batch == 0 {
		cfg.Batch = 64
	}
	if cfg.Batch < 0 || cfg.Batch > 1024 {
		return nil, fmt.Errorf("bench: baseline batch %d out of range 1..1024", cfg.Batch)
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = 8 << 20
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("bench: baseline listen address: %w", err)
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("bench: baseline: %w", err)
	}
	// Best effort: the kernel caps the size at net.core.rmem_max.
	_ = conn.SetReadBuffer(cfg.ReadBuffer)
	b := &Baseline{cfg: cfg, conn: conn}
	if laddr.IP == nil || laddr.IP.To4() != nil {
		b.br = ipv4.NewPacketConn(conn)
	} else {
		b.br = ipv6.NewPacketConn(conn)
	}
	return b, nil
}

// Addr is the address the reader listens on.
func (b *Baseline) Addr() *net.UDPAddr { return b.conn.LocalAddr().(*net.UDPAddr) }

// Stats returns the counts so far. Safe for concurrent use.
func (b *Baseline) Stats() BaselineStats {
	s := BaselineStats{
		Lines:     b.lines.Load(),
		Datagrams: b.datagrams.Load(),
		Bytes:     b.bytes.Load(),
		CPU:       time.Duration(b.cpuNanos.Load()),
	}
	if f := b.first.Load(); f != 0 {
		s.First = time.Unix(0, f)
		s.Last = time.Unix(0, b.last.Load())
	}
	return s
}

// Run reads until ctx is done, then closes the socket and returns nil.
// With cfg.Pin it runs on its own OS thread pinned to cfg.CPU.
func (b *Baseline) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { b.conn.Close() })
	defer stop()
	errc := make(chan error, 1)
	go func() {
		if b.cfg.Pin {
			// Never unlocked: the pinned thread exits with the goroutine.
			runtime.LockOSThread()
			if err := pinThread(b.cfg.CPU); err != nil {
				errc <- err
				return
			}
		}
		errc <- b.loop()
	}()
	err := <-errc
	b.conn.Close()
	if ctx.Err() != nil && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (b *Baseline) loop() error {
	var ru0 unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru0); err != nil {
		return fmt.Errorf("bench: baseline getrusage: %w", err)
	}
	sampleCPU := func() {
		var ru unix.Rusage
		if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
			d := tvNanos(ru.Utime) + tvNanos(ru.Stime) - tvNanos(ru0.Utime) - tvNanos(ru0.Stime)
			b.cpuNanos.Store(d)
		}
	}
	defer sampleCPU()

	const bufSize = 64 << 10 // a whole datagram, as a server reads (spec R1.3)
	ms := make([]ipv4.Message, b.cfg.Batch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, bufSize)}
	}
	lastSample := time.Now()
	for {
		n, err := b.br.ReadBatch(ms, 0)
		if err != nil {
			return err
		}
		var lines, by int64
		for i := range n {
			m := &ms[i]
			lines += int64(CountLines(m.Buffers[0][:m.N]))
			by += int64(m.N)
		}
		now := time.Now()
		nanos := now.UnixNano()
		if b.first.Load() == 0 {
			b.first.Store(nanos)
		}
		b.last.Store(nanos)
		b.lines.Add(lines)
		b.datagrams.Add(int64(n))
		b.bytes.Add(by)
		if now.Sub(lastSample) > 50*time.Millisecond {
			sampleCPU()
			lastSample = now
		}
	}
}

func tvNanos(tv unix.Timeval) int64 { return tv.Nano() }

// CountLines counts the non-empty lines of a datagram: '\n'-separated,
// a trailing '\r' ignored (spec R1.1, R1.2).
func CountLines(p []byte) int {
	n := 0
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		line := p
		if i >= 0 {
			line, p = p[:i], p[i+1:]
		} else {
			p = nil
		}
		if len(line) > 1 || len(line) == 1 && line[0] != '\r' {
			n++
		}
	}
	return n
}

// WriteMetrics writes the reader's counts in the Prometheus text format
// under the agent's metric names (statsd_agent_lines_received_total,
// statsd_agent_packets_received_total), so `bench -verify` works against a
// bare reader too.
func (b *Baseline) WriteMetrics(w io.Writer) error {
	s := b.Stats()
	_, err := fmt.Fprintf(w, "# HELP %[1]s Lines read by the bench baseline reader.\n# TYPE %[1]s counter\n%[1]s %[2]d\n"+
		"# HELP %[3]s Datagrams read by the bench baseline reader.\n# TYPE %[3]s counter\n%[3]s %[4]d\n"+
		"# HELP %[5]s CPU seconds of the bench baseline reader process.\n# TYPE %[5]s counter\n%[5]s %[6]g\n",
		MetricLines, s.Lines, MetricPackets, s.Datagrams, "statsd_bench_baseline_cpu_seconds_total", s.CPU.Seconds())
	return err
}
