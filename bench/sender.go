package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// MaxDuration is the hard cap on one send.
const MaxDuration = time.Hour

// SendConfig configures a Sender.
type SendConfig struct {
	// Target is the UDP host:port to send to.
	Target string
	// Rate is the offered rate in lines per second; 0 means as fast as possible.
	Rate float64
	// Duration bounds the send; 0 means 10s. At most MaxDuration.
	Duration time.Duration
	// MaxLines, when positive, stops the send once that many lines are sent
	// (rounded up to whole datagrams).
	MaxLines int64
	// Batch is the number of datagrams per sendmmsg call; 0 picks one from the
	// rate (about one call per millisecond, at most 64).
	Batch int
	// Pin pins the sending thread to CPU (see taskset -c).
	Pin bool
	CPU int
	// WriteBuffer is the socket send buffer size; 0 means 4 MiB (the kernel
	// caps it at net.core.wmem_max).
	WriteBuffer int
}

// SendStats counts what a Sender sent.
type SendStats struct {
	Lines, Datagrams, Bytes int64
	// Errors counts failed sendmmsg calls (for example "connection refused"
	// while nothing listens on the target); their datagrams are not counted
	// as sent.
	Errors int64
	// LastError is the last send error's text ("" if none).
	LastError string
	// Elapsed is the time from the first send to now (live) or to the end.
	Elapsed time.Duration
}

// Rate is the achieved send rate in lines per second.
func (s SendStats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Lines) / s.Elapsed.Seconds()
}

// batchWriter is ipv4.PacketConn or ipv6.PacketConn.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// Sender sends a Pool's datagrams to one UDP target with sendmmsg, paced to
// an offered rate. Run must be called once; Stats may be called from any
// goroutine while Run runs.
type Sender struct {
	cfg  SendConfig
	pool *Pool
	conn *net.UDPConn
	bw   batchWriter

	lines, datagrams, bytes, errs atomic.Int64
	lastErr                       atomic.Pointer[string]
	startNanos                    atomic.Int64 // unix nanos of the first send; 0 before
	endNanos                      atomic.Int64 // unix nanos at the end; 0 while running
}

// NewSender validates cfg and connects a UDP socket to cfg.Target.
func NewSender(cfg SendConfig, pool *Pool) (*Sender, error) {
	if pool == nil || len(pool.Datagrams) == 0 {
		return nil, errors.New("bench: empty datagram pool")
	}
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Duration < 0 || cfg.Duration > MaxDuration {
		return nil, fmt.Errorf("bench: duration %v out of range (0, %v]", cfg.Duration, MaxDuration)
	}
	if cfg.Rate < 0 {
		return nil, fmt.Errorf("bench: negative rate %v", cfg.Rate)
	}
	if cfg.Batch < 0 || cfg.Batch > 1024 {
		return nil, fmt.Errorf("bench: batch %d out of range 0..1024", cfg.Batch)
	}
	if cfg.Batch == 0 {
		cfg.Batch = autoBatch(cfg.Rate, pool.LinesPerDatagram())
	}
	if cfg.WriteBuffer == 0 {
		cfg.WriteBuffer = 4 << 20
	}
	raddr, err := net.ResolveUDPAddr("udp", cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("bench: target: %w", err)
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, fmt.Errorf("bench: dial %s: %w", cfg.Target, err)
	}
	// Best effort: the kernel caps the size at net.core.wmem_max.
	_ = conn.SetWriteBuffer(cfg.WriteBuffer)
	s := &Sender{cfg: cfg, pool: pool, conn: conn}
	if raddr.IP.To4() != nil {
		s.bw = ipv4.NewPacketConn(conn)
	} else {
		s.bw = ipv6.NewPacketConn(conn)
	}
	return s, nil
}

// autoBatch picks the number of datagrams per sendmmsg call: about one call
// per millisecond at the offered rate, between 1 and 64; 64 for "max".
func autoBatch(rate, linesPerDatagram float64) int {
	if rate <= 0 || linesPerDatagram <= 0 {
		return 64
	}
	b := int(rate / linesPerDatagram / 1000)
	return max(1, min(64, b))
}

// Close closes the socket.
func (s *Sender) Close() error { return s.conn.Close() }

// Stats returns the counts so far. Safe for concurrent use.
func (s *Sender) Stats() SendStats {
	st := SendStats{
		Lines:     s.lines.Load(),
		Datagrams: s.datagrams.Load(),
		Bytes:     s.bytes.Load(),
		Errors:    s.errs.Load(),
	}
	if e := s.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	if start := s.startNanos.Load(); start != 0 {
		end := s.endNanos.Load()
		if end == 0 {
			end = time.Now().UnixNano()
		}
		st.Elapsed = time.Duration(end - start)
	}
	return st
}

// Run sends until the duration has passed, MaxLines are sent or ctx is done,
// and returns the final counts. A cancelled ctx is a normal end, not an error.
// The sending loop runs on its own OS thread (pinned if cfg.Pin), which
// exits with it.
func (s *Sender) Run(ctx context.Context) (SendStats, error) {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, pinned or not, exits with the goroutine.
		runtime.LockOSThread()
		if s.cfg.Pin {
			if err := pinThread(s.cfg.CPU); err != nil {
				errc <- err
				return
			}
		}
		errc <- s.loop(ctx)
	}()
	err := <-errc
	return s.Stats(), err
}

func (s *Sender) loop(ctx context.Context) error {
	n := s.cfg.Batch
	ms := make([]ipv4.Message, n)
	bufs := make([][]byte, n)
	lineCounts := make([]int, n)
	for i := range ms {
		ms[i].Buffers = bufs[i : i+1 : i+1]
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	dgs := s.pool.Datagrams
	next := 0
	var offered int64
	start := time.Now()
	s.startNanos.Store(start.UnixNano())
	defer func() { s.endNanos.Store(time.Now().UnixNano()) }()
	deadline := start.Add(s.cfg.Duration)
	nsPerLine := 0.0
	if s.cfg.Rate > 0 {
		nsPerLine = 1e9 / s.cfg.Rate
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		now := time.Now()
		if !now.Before(deadline) {
			return nil
		}
		if s.cfg.MaxLines > 0 && offered >= s.cfg.MaxLines {
			return nil
		}
		if nsPerLine > 0 {
			// Token pacing: the lines offered so far are due at start+offered/rate.
			due := start.Add(time.Duration(float64(offered) * nsPerLine))
			if wait := due.Sub(now); wait > 0 {
				if due.After(deadline) {
					wait = deadline.Sub(now)
				}
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
				continue
			}
		}
		batchLines := int64(0)
		b := 0
		for b < n {
			d := &dgs[next]
			next++
			if next == len(dgs) {
				next = 0
			}
			bufs[b] = d.Payload
			lineCounts[b] = d.Lines
			batchLines += int64(d.Lines)
			b++
			if s.cfg.MaxLines > 0 && offered+batchLines >= s.cfg.MaxLines {
				break
			}
		}
		for off := 0; off < b; {
			k, err := s.bw.WriteBatch(ms[off:b], 0)
			k = max(k, 0) // -1 with an error
			var l, by int64
			for i := off; i < off+k; i++ {
				by += int64(len(bufs[i]))
				l += int64(lineCounts[i])
			}
			s.datagrams.Add(int64(k))
			s.bytes.Add(by)
			s.lines.Add(l)
			offered += l
			off += k
			if err != nil {
				s.errs.Add(1)
				msg := err.Error()
				s.lastErr.Store(&msg)
				if errors.Is(err, syscall.ECONNREFUSED) {
					// Nothing listens yet: the kernel reports the ICMP error once;
					// skip this batch, as a real client would, and go on.
					// Count the skipped lines as due so pacing does not burst later.
					for i := off; i < b; i++ {
						offered += int64(lineCounts[i])
					}
					break
				}
				return fmt.Errorf("bench: send: %w", err)
			}
		}
	}
}

// pinThread pins the calling OS thread to cpu.
func pinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("bench: pin to CPU %d: %w", cpu, err)
	}
	return nil
}

// IsLoopback reports whether the host of a host:port target is a loopback
// address or "localhost".
func IsLoopback(target string) bool {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// pinThreads sets the CPU affinity of every thread of this process except
// skip (a thread ID, 0 for none). Threads created later inherit the
// affinity of the thread that creates them.
func pinThreads(set *unix.CPUSet, skip int) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("bench: list threads: %w", err)
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid == skip {
			continue
		}
		// A thread may have exited meanwhile.
		if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("bench: set affinity of thread %d: %w", tid, err)
		}
	}
	return nil
}

// PinProcess pins every thread of this process, and so the threads it will
// create, to cpu.
func PinProcess(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return pinThreads(&set, 0)
}
