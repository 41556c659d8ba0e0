package tcp

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/ingest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// Each case writes chunks on one connection and closes it; the counts are
// what the agent aggregated.
func TestStreams(t *testing.T) {
	for _, c := range []struct {
		name     string
		chunks   []string
		count    float64 // value of counter "x"
		lines    uint64
		overlong uint64
	}{
		{"one line", []string{"x:1|c\n"}, 1, 1, 0},
		{"split across reads", []string{"x:", "1|", "c\nx:2|c\n"}, 3, 2, 0},
		{"CRLF", []string{"x:1|c\r\nx:1|c\r\n"}, 2, 2, 0},
		{"last line without newline", []string{"x:1|c\nx:5|c"}, 6, 2, 0},
		{"overlong then good", []string{strings.Repeat("y", 100) + ":1|c\nx:1|c\n"}, 1, 2, 1},
		{"overlong across reads", []string{strings.Repeat("y", 70), strings.Repeat("y", 70), "\nx:1|c\n"}, 1, 2, 1},
		{"overlong unterminated at close", []string{"x:1|c\n" + strings.Repeat("y", 200)}, 1, 2, 1},
		{"empty lines", []string{"\n\nx:1|c\n\n"}, 1, 1, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			agg := aggregate.New(aggregate.Config{})
			p := ingest.New(agg, protocol.Options{}, nil, nil)
			s, err := Listen(Config{Addr: "127.0.0.1:0", MaxLine: 64}, p, nil)
			if err != nil {
				t.Fatal(err)
			}
			go func() { _ = s.Serve() }()
			conn, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range c.chunks {
				if _, err := conn.Write([]byte(ch)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond) // separate reads
			}
			conn.Close()
			deadline := time.Now().Add(5 * time.Second)
			for (p.Metrics().Lines.Load() < c.lines || s.Active() > 0) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			var got float64
			for _, sr := range agg.Flush(time.Unix(0, 0)).Series {
				if sr.Name == "x" {
					got = sr.Value
				}
			}
			if got != c.count || p.Metrics().Lines.Load() != c.lines || s.Overlong() != c.overlong {
				t.Errorf("x = %v, lines %d, overlong %d; want %v, %d, %d", got, p.Metrics().Lines.Load(), s.Overlong(), c.count, c.lines, c.overlong)
			}
		})
	}
}

func TestIdleTimeoutClosesConnection(t *testing.T) {
	p := ingest.New(aggregate.New(aggregate.Config{}), protocol.Options{}, nil, nil)
	s, err := Listen(Config{Addr: "127.0.0.1:0", IdleTimeout: 50 * time.Millisecond}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve() }()
	defer s.Shutdown(context.Background())
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("an idle connection was not closed")
	}
}
