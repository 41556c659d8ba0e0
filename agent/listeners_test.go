package agent

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/protocol"
	"github.com/statsd-agent/statsd-agent/ratelimit"
)

func counterValue(t *testing.T, a *Agent, name string) float64 {
	t.Helper()
	snap := a.Flush(context.Background(), time.Unix(0, 0))
	for _, s := range snap.Series {
		if s.Name == name && s.Type == protocol.Counter {
			return s.Value
		}
	}
	return 0
}

func TestTCPLinesAcrossReadsAndLimits(t *testing.T) {
	a, _ := start(t, Config{TCP: "127.0.0.1:0", TCPMaxLine: 100})
	c, err := net.Dial("tcp", a.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	write := func(s string) {
		t.Helper()
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write("tcpa:1|c\ntcpb:2|")
	time.Sleep(20 * time.Millisecond)                                      // let the first part arrive as its own read
	write("c\n" + strings.Repeat("x", 300) + ":1|c\ntcpa:1|c\r\ntcpb:5|c") // overlong line, then a final line without newline
	c.Close()
	waitLines(t, a, 5)
	if got := counterValue(t, a, "tcpb"); got != 7 {
		t.Errorf("tcpb = %v, want 7 (line split across reads plus final unterminated line)", got)
	}
	if inv := a.Metrics().InvalidByReason(); inv["line_too_long"] != 1 {
		t.Errorf("invalid by reason %v, want line_too_long 1", inv)
	}
}

func TestTCPOverlongWithoutNewlineIsSkipped(t *testing.T) {
	a, _ := start(t, Config{TCP: "127.0.0.1:0", TCPMaxLine: 64})
	c, err := net.Dial("tcp", a.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	// 200 KiB without a newline, then a good line.
	big := strings.Repeat("y", 200<<10)
	if _, err := c.Write([]byte(big + "\nok:3|c\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitLines(t, a, 1)
	deadline := time.Now().Add(5 * time.Second)
	for a.Metrics().InvalidByReason()["line_too_long"] < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := counterValue(t, a, "ok"); got != 3 {
		t.Errorf("ok = %v, want 3", got)
	}
	if inv := a.Metrics().InvalidByReason(); inv["line_too_long"] != 1 {
		t.Errorf("line_too_long = %d, want 1", inv["line_too_long"])
	}
}

func TestTCPMaxConns(t *testing.T) {
	a, _ := start(t, Config{TCP: "127.0.0.1:0", TCPMaxConns: 1})
	c1, err := net.Dial("tcp", a.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if _, err := c1.Write([]byte("one:1|c\n")); err != nil {
		t.Fatal(err)
	}
	waitLines(t, a, 1)
	c2, err := net.Dial("tcp", a.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); err == nil {
		t.Error("second connection was not closed")
	}
	if a.tcp.Rejected() != 1 {
		t.Errorf("rejected = %d", a.tcp.Rejected())
	}
}

func TestIPv6AndUnixgram(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "statsd.sock")
	cfg := Config{Unixgram: sock}
	a, err := New(Config{UDP: "[::1]:0", Unixgram: cfg.Unixgram, Aggregate: cfg.Aggregate}, nil, nil)
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c6, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c6.Close()
	if _, err := c6.Write([]byte("v6:1|c")); err != nil {
		t.Fatal(err)
	}
	cu, err := net.Dial("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer cu.Close()
	if _, err := cu.Write([]byte("v6:2|c\nux:1|c")); err != nil {
		t.Fatal(err)
	}
	waitLines(t, a, 3)
	if got := counterValue(t, a, "v6"); got != 3 {
		t.Errorf("v6 = %v, want 3", got)
	}
}

func TestPerSourceRateLimit(t *testing.T) {
	a, _ := start(t, Config{RateLimit: ratelimit.Config{LinesPerSecond: 10, Burst: 10}, TCP: "127.0.0.1:0"})
	c, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 30; i++ {
		if _, err := c.Write([]byte("limited:1|c")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.LinesReceived()+a.limiter.Dropped() < 30 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	got, dropped := a.LinesReceived(), a.limiter.Dropped()
	if got+dropped != 30 || got < 10 || got > 15 {
		t.Errorf("received %d, dropped %d; want about 10 received and the rest dropped", got, dropped)
	}
	top := a.limiter.Top(1)
	if len(top) != 1 || top[0].Source.String() != "127.0.0.1" {
		t.Errorf("top sources %+v", top)
	}
	if v := counterValue(t, a, "limited"); v != float64(got) {
		t.Errorf("aggregated %v, want %d", v, got)
	}
}
