// Package clientlibtest is the test kit for code instrumented with clientlib:
// a Recorder that stands in for the network, keeps every datagram the Client
// sends and parses it back, with the agent's own parser, into structured
// samples that a test can assert on.
//
//	c, rec := clientlibtest.New(t, clientlib.Config{Prefix: "app"})
//	handle(c) // code under test
//	got := rec.Samples()
//
// It plays the part of go-statsd-client's statsdtest.RecordingSender, but
// keeps datagram boundaries (Packets) and understands tags and every
// metric type. A Recorder is safe for concurrent use.
package clientlibtest

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/statsd-agent/statsd-agent/clientlib"
)

// Recorder is a clientlib.Sender that records what it is sent.
type Recorder struct {
	mu      sync.Mutex
	packets [][]byte
	closed  bool
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("clientlibtest: recorder is closed")

// Send records a copy of data as one datagram.
func (r *Recorder) Send(data []byte) (int, error) {
	p := append([]byte(nil), data...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	r.packets = append(r.packets, p)
	return len(data), nil
}

// Close marks the Recorder closed: later sends fail with ErrClosed. What was
// recorded stays readable.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

// Closed reports whether Close was called.
func (r *Recorder) Closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Packets returns copies of the datagrams recorded so far, in order.
func (r *Recorder) Packets() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]byte, len(r.packets))
	for i, p := range r.packets {
		out[i] = append([]byte(nil), p...)
	}
	return out
}

// Lines returns every non-empty line recorded so far, in order.
func (r *Recorder) Lines() []string {
	var out []string
	for _, p := range r.Packets() {
		for len(p) > 0 {
			line := p
			if i := bytes.IndexByte(p, '\n'); i >= 0 {
				line, p = p[:i], p[i+1:]
			} else {
				p = nil
			}
			if len(line) > 0 {
				out = append(out, string(line))
			}
		}
	}
	return out
}

// Reset forgets what was recorded.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.packets = nil
}

// New returns a Client that sends to a new Recorder, unbuffered (every call
// is one datagram, visible at once) unless cfg says otherwise through
// FlushInterval or FlushBytes. The Client is closed when the test ends.
func New(tb testing.TB, cfg clientlib.Config) (*clientlib.Client, *Recorder) {
	tb.Helper()
	rec := NewRecorder()
	cfg.Sender = rec
	if cfg.FlushInterval == 0 && cfg.FlushBytes == 0 {
		cfg.Unbuffered = true
	}
	c, err := clientlib.New(cfg)
	if err != nil {
		tb.Fatalf("clientlibtest: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	return c, rec
}
