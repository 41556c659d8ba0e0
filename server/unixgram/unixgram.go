// Package unixgram is the agent's Unix datagram socket listener, as used by
// DogStatsD, gostatsd and statsd_exporter clients: the "packet" step of the
// pipeline for local clients that avoid the network stack.
//
// Every reader goroutine owns a 64 KiB buffer and an ingest.Worker, and
// parses each datagram inline, like server/udp. A stale socket file left by
// a previous run is removed before binding; any other file at the path is an
// error.
package unixgram

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statsd-agent/statsd-agent/ingest"
)

// Server reads StatsD datagrams from a Unix datagram socket.
type Server struct {
	conn    *net.UnixConn
	path    string
	p       *ingest.Pipeline
	logger  *slog.Logger
	readers int
	closing atomic.Bool
	wg      sync.WaitGroup
}

// Listen binds the socket at path with permissions mode (0 means 0666, so
// any local client can send). readers 0 means one.
func Listen(path string, mode fs.FileMode, readers int, p *ingest.Pipeline, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if readers <= 0 {
		readers = 1
	}
	if mode == 0 {
		mode = 0o666
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("unixgram: %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("unixgram: remove stale socket: %w", err)
		}
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("unixgram: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		c.Close()
		return nil, fmt.Errorf("unixgram: %w", err)
	}
	_ = c.SetReadBuffer(8 << 20)
	return &Server{conn: c, path: path, p: p, logger: logger, readers: readers}, nil
}

// Addr returns the socket's address.
func (s *Server) Addr() net.Addr { return s.conn.LocalAddr() }

// Start starts the readers.
func (s *Server) Start() {
	for i := 0; i < s.readers; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.read()
		}()
	}
}

func (s *Server) read() {
	buf := make([]byte, 64<<10)
	w := s.p.NewWorker()
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if n > 0 {
			w.Begin()
			w.Packet(buf[:n])
			w.End()
			if s.closing.Load() {
				_ = s.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.closing.Load() {
				return
			}
			s.logger.Warn("unixgram: read error", "err", err)
		}
	}
}

// Shutdown processes what the socket holds, then closes and removes it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	_ = s.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.conn.Close()
	<-done
	_ = os.Remove(s.path)
	return err
}
