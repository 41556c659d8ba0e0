// Package tcp is the agent's stream listener for newline-delimited StatsD
// lines over TCP (IPv4 and IPv6) or a Unix stream socket: the "packet" step
// of the pipeline for clients that want a connection.
//
// Each connection is read by its own goroutine, which borrows an
// ingest.Worker (a parser and an aggregation shard) from the server's free
// list for as long as the connection lives, so a line costs no lock or
// channel operation. Lines may span reads; a final line without a newline
// is processed when the client closes the connection. Lines longer than
// MaxLine are skipped up to the next newline and counted as line_too_long.
// A connection idle for longer than IdleTimeout is closed, and at most
// MaxConns connections are served at once; further ones are closed at once
// and counted.
package tcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statsd-agent/statsd-agent/ingest"
	"github.com/statsd-agent/statsd-agent/protocol"
	"github.com/statsd-agent/statsd-agent/ratelimit"
)

// Defaults for a zero Config.
const (
	DefaultMaxLine     = 64 << 10
	DefaultMaxConns    = 1024
	DefaultIdleTimeout = 5 * time.Minute
)

// Config configures a Server. The zero value means the defaults.
type Config struct {
	// Network is "tcp" (default) or "unix".
	Network string
	// Addr is the listen address (a path for "unix").
	Addr string
	// MaxLine is the longest accepted line in bytes; 0 means 64 KiB.
	MaxLine int
	// MaxConns bounds concurrent connections; 0 means 1024.
	MaxConns int
	// IdleTimeout closes a connection that sends nothing for this long;
	// 0 means 5 minutes.
	IdleTimeout time.Duration
	// Limiter, when non-nil, limits lines per second per client address;
	// lines over a client's budget are dropped and counted there.
	Limiter *ratelimit.Limiter
}

// Server accepts stream connections carrying StatsD lines.
type Server struct {
	cfg    Config
	ln     net.Listener
	p      *ingest.Pipeline
	logger *slog.Logger

	mu      sync.Mutex
	free    []*ingest.Worker
	conns   map[net.Conn]struct{}
	closing atomic.Bool
	wg      sync.WaitGroup

	active   atomic.Int64
	rejected atomic.Uint64
	overlong atomic.Uint64
}

// Listen binds the listener. Serving starts with Serve.
func Listen(cfg Config, p *ingest.Pipeline, logger *slog.Logger) (*Server, error) {
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen(cfg.Network, cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen %s: %w", cfg.Network, cfg.Addr, err)
	}
	return &Server{cfg: cfg, ln: ln, p: p, logger: logger, conns: make(map[net.Conn]struct{})}, nil
}

// Addr returns the listen address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Active returns the number of open connections.
func (s *Server) Active() int64 { return s.active.Load() }

// Rejected returns the connections closed because MaxConns were open.
func (s *Server) Rejected() uint64 { return s.rejected.Load() }

// Overlong returns the number of lines skipped for exceeding MaxLine.
func (s *Server) Overlong() uint64 { return s.overlong.Load() }

// Serve accepts connections until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.logger.Warn("accept", "err", err)
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: don't spin
			continue
		}
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		if len(s.conns) >= s.cfg.MaxConns {
			s.mu.Unlock()
			s.rejected.Add(1)
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c)
	}
}

func (s *Server) worker() *ingest.Worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.free); n > 0 {
		w := s.free[n-1]
		s.free = s.free[:n-1]
		return w
	}
	return s.p.NewWorker()
}

func (s *Server) release(w *ingest.Worker) {
	s.mu.Lock()
	s.free = append(s.free, w)
	s.mu.Unlock()
}

func (s *Server) handle(c net.Conn) {
	s.active.Add(1)
	w := s.worker()
	defer func() {
		s.release(w)
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.active.Add(-1)
		s.wg.Done()
	}()
	var src netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		src = ta.AddrPort().Addr()
	}
	buf := make([]byte, 0, 64<<10)
	skipping := false // inside an overlong line
	for {
		if s.closing.Load() {
			_ = c.SetReadDeadline(time.Now().Add(drainIdle))
		} else {
			_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		}
		if len(buf) == cap(buf) {
			// A line longer than the buffer: grow up to MaxLine+1, so we
			// can tell an overlong line from a long one.
			if cap(buf) <= s.cfg.MaxLine {
				nb := make([]byte, len(buf), min(2*cap(buf), s.cfg.MaxLine+1))
				copy(nb, buf)
				buf = nb
			}
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if n > 0 {
			drop := false
			if s.cfg.Limiter != nil {
				if n := bytes.Count(buf, []byte{'\n'}); n > 0 {
					drop = !s.cfg.Limiter.Allow(src, n)
				}
			}
			w.Begin()
			w.CountPacket()
			buf, skipping = s.lines(w, buf, skipping, drop)
			w.End()
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 && !skipping {
				w.Begin()
				w.Line(bytes.TrimSuffix(buf, []byte("\r")))
				w.End()
			}
			return
		}
	}
}

// lines processes every complete line in buf and returns the unprocessed
// remainder moved to the front of buf.
func (s *Server) lines(w *ingest.Worker, buf []byte, skipping, drop bool) ([]byte, bool) {
	rest := buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := rest[:i]
		rest = rest[i+1:]
		if skipping {
			skipping = false
			continue
		}
		if drop {
			continue // over the client's rate limit, counted by the Limiter
		}
		if len(line) > s.cfg.MaxLine {
			s.tooLong(w, line)
			continue
		}
		w.Line(bytes.TrimSuffix(line, []byte("\r")))
	}
	if len(rest) > s.cfg.MaxLine && !skipping {
		// No newline within MaxLine bytes: drop what we have and skip to
		// the next newline.
		s.tooLong(w, rest)
		rest = rest[:0]
		skipping = true
	} else if skipping {
		rest = rest[:0]
	}
	n := copy(buf, rest)
	return buf[:n], skipping
}

func (s *Server) tooLong(w *ingest.Worker, line []byte) {
	s.overlong.Add(1)
	w.RejectLine(protocol.ErrLineTooLong, line)
}

// drainIdle is how long a connection may stay silent during Shutdown.
const drainIdle = 50 * time.Millisecond

// Shutdown stops accepting, lets open connections finish what they have
// sent until ctx ends, then closes them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	err := s.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	// Wake blocked readers soon; they process what they hold and exit.
	s.mu.Lock()
	for c := range s.conns {
		_ = c.SetReadDeadline(time.Now().Add(drainIdle))
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		<-done
		err = errors.Join(err, ctx.Err())
	}
	return err
}
