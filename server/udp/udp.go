// Package udp is the agent's UDP listener: the "packet" step of the
// pipeline (packet -> parse -> aggregate -> snapshot -> flush).
//
// A Server runs N reader goroutines. Each reads datagrams in batches with
// recvmmsg (golang.org/x/net/ipv4 and ipv6 ReadBatch) into buffers it owns
// (64 KiB per datagram, so nothing is truncated) and parses them inline into
// its own aggregation shard through an ingest.Worker: no lock or channel
// operation per line, one uncontended shard lock per batch. By default the
// readers share one socket; with ReusePort each has its own SO_REUSEPORT
// socket and the kernel spreads datagrams across them.
//
// The kernel's drop counter for every socket of the Server (from
// /proc/net/udp and /proc/net/udp6) is available from KernelDrops, so loss
// is never silent.
//
// Serve blocks until Shutdown or Close; Shutdown stops reading only after
// what the sockets already hold has been processed.
package udp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/statsd-agent/statsd-agent/ingest"
	"github.com/statsd-agent/statsd-agent/ratelimit"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Defaults for a zero Config.
const (
	DefaultReadBuffer = 8 << 20
	DefaultBatch      = 32
	MaxDatagram       = 64 << 10
)

// Config configures a Server. The zero value means the defaults.
type Config struct {
	// Addr is the listen address, e.g. "127.0.0.1:8125" or "[::1]:8125".
	Addr string
	// Readers is the number of reader goroutines. 0 means GOMAXPROCS.
	Readers int
	// ReusePort gives each reader its own SO_REUSEPORT socket.
	ReusePort bool
	// ReadBuffer is the SO_RCVBUF size asked for. 0 means 8 MiB.
	ReadBuffer int
	// Batch is the number of datagrams read per recvmmsg call. 0 means 32.
	Batch int
	// Limiter, when non-nil, limits lines per second per source address;
	// datagrams over a source's budget are dropped and counted there.
	Limiter *ratelimit.Limiter
}

// Server reads StatsD datagrams from UDP sockets.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	p       *ingest.Pipeline
	conns   []*net.UDPConn
	inodes  []uint64
	granted int

	truncated atomic.Uint64
	closing   atomic.Bool
	wg        sync.WaitGroup
	errc      chan error
}

// Listen opens the server's sockets. The readers start with Serve.
func Listen(cfg Config, p *ingest.Pipeline, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Readers <= 0 {
		cfg.Readers = runtime.GOMAXPROCS(0)
	}
	if cfg.ReadBuffer <= 0 {
		cfg.ReadBuffer = DefaultReadBuffer
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	s := &Server{cfg: cfg, logger: logger, p: p}
	nsock := 1
	if cfg.ReusePort {
		nsock = cfg.Readers
	}
	lc := net.ListenConfig{}
	if cfg.ReusePort {
		lc.Control = reusePort
	}
	addr := cfg.Addr
	for i := 0; i < nsock; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			s.closeConns()
			return nil, fmt.Errorf("udp: listen %s: %w", cfg.Addr, err)
		}
		c := pc.(*net.UDPConn)
		if i == 0 {
			// With port 0 the kernel picked a port: the other
			// SO_REUSEPORT sockets must bind the same one.
			addr = c.LocalAddr().String()
		}
		s.conns = append(s.conns, c)
		if err := c.SetReadBuffer(cfg.ReadBuffer); err != nil {
			logger.Warn("udp: cannot set receive buffer", "err", err)
		}
		s.granted, s.inodes = sockInfo(c, s.granted, s.inodes)
	}
	// Linux reports twice the usable size it granted.
	if s.granted > 0 && s.granted/2 < cfg.ReadBuffer {
		logger.Warn("udp: kernel granted a smaller receive buffer than asked; raise net.core.rmem_max",
			"asked_bytes", cfg.ReadBuffer, "granted_bytes", s.granted/2,
			"fix", fmt.Sprintf("sysctl -w net.core.rmem_max=%d", cfg.ReadBuffer))
	}
	return s, nil
}

func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// sockInfo reads the granted SO_RCVBUF and the socket's inode.
func sockInfo(c *net.UDPConn, granted int, inodes []uint64) (int, []uint64) {
	rc, err := c.SyscallConn()
	if err != nil {
		return granted, inodes
	}
	_ = rc.Control(func(fd uintptr) {
		if n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			if granted == 0 || n < granted {
				granted = n
			}
		}
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) == nil {
			inodes = append(inodes, st.Ino)
		}
	})
	return granted, inodes
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.conns[0].LocalAddr() }

// ReceiveBuffer returns the receive buffer size the kernel granted (the
// usable half of what SO_RCVBUF reports), 0 if unknown.
func (s *Server) ReceiveBuffer() int { return s.granted / 2 }

// Truncated returns how many datagrams did not fit the 64 KiB buffer.
func (s *Server) Truncated() uint64 { return s.truncated.Load() }

// Serve runs the readers until Shutdown or Close. It returns nil after a
// shutdown and the first read error otherwise.
func (s *Server) Serve() error {
	s.Start()
	return s.Wait()
}

// Start starts the readers and returns at once; Wait waits for them.
// Start must be called once.
func (s *Server) Start() {
	s.errc = make(chan error, s.cfg.Readers)
	for i := 0; i < s.cfg.Readers; i++ {
		c := s.conns[i%len(s.conns)]
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.errc <- s.read(c)
		}()
	}
}

// Wait waits until the readers started by Start have stopped and returns
// the first error one of them returned.
func (s *Server) Wait() error {
	s.wg.Wait()
	close(s.errc)
	for err := range s.errc {
		if err != nil {
			return err
		}
	}
	return nil
}

type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

type v6reader struct{ *ipv6.PacketConn }

func (r v6reader) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	return r.PacketConn.ReadBatch(ms, flags)
}

func (s *Server) read(c *net.UDPConn) error {
	var br batchReader
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil && la.IP != nil && !la.IP.IsUnspecified() {
		br = v6reader{ipv6.NewPacketConn(c)}
	} else {
		br = ipv4.NewPacketConn(c)
	}
	msgs := make([]ipv4.Message, s.cfg.Batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, MaxDatagram)}
	}
	w := s.p.NewWorker()
	for {
		n, err := br.ReadBatch(msgs, 0)
		if n > 0 {
			w.Begin()
			for i := 0; i < n; i++ {
				m := &msgs[i]
				if m.Flags&unix.MSG_TRUNC != 0 {
					s.truncated.Add(1)
				}
				b := m.Buffers[0][:m.N]
				if s.cfg.Limiter != nil && !s.cfg.Limiter.Allow(sourceIP(m.Addr), countLines(b)) {
					continue
				}
				w.Packet(b)
			}
			w.End()
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && s.closing.Load() {
				if pending(c) {
					_ = c.SetReadDeadline(time.Now().Add(drainIdle))
					continue
				}
				return nil // drained
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if s.closing.Load() {
				return nil
			}
			// A transient error (e.g. ICMP-induced ECONNREFUSED) must not
			// stop the reader.
			s.logger.Warn("udp: read error", "err", err)
			continue
		}
		if s.closing.Load() {
			// Keep draining with a short deadline until the socket is empty.
			_ = c.SetReadDeadline(time.Now().Add(drainIdle))
		}
	}
}

func sourceIP(a net.Addr) netip.Addr {
	if ua, ok := a.(*net.UDPAddr); ok {
		return ua.AddrPort().Addr()
	}
	return netip.Addr{}
}

// countLines counts the lines of a datagram, for the rate limit.
func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// pending reports whether a datagram is waiting in c's receive queue.
func pending(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	})
	return n > 0
}

// drainIdle is how long the socket must stay empty during Shutdown before a
// reader stops.
const drainIdle = 50 * time.Millisecond

// Shutdown stops the readers after the datagrams already queued in the
// sockets have been processed, or when ctx ends, then closes the sockets.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	for _, c := range s.conns {
		_ = c.SetReadDeadline(time.Now().Add(drainIdle))
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.closeConns()
	<-done
	return err
}

// Close closes the sockets at once.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.closeConns()
	return nil
}

func (s *Server) closeConns() {
	for _, c := range s.conns {
		_ = c.Close()
	}
}

// KernelDrops returns the number of datagrams the kernel dropped for the
// server's sockets (receive buffer full), read from /proc/net/udp and
// /proc/net/udp6.
func (s *Server) KernelDrops() (uint64, error) {
	return kernelDrops("/proc/net", s.inodes)
}
