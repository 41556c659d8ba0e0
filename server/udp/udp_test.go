package udp

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/ingest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// A /proc/net/udp table as the kernel prints it (two sockets).
const procNetUDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:1FBD 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  456: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 999 2 0000000000000000 5
`

func TestParseDrops(t *testing.T) {
	for _, c := range []struct {
		inodes []uint64
		drops  uint64
		found  int
	}{
		{[]uint64{4242}, 17, 1},
		{[]uint64{4242, 999}, 22, 2},
		{[]uint64{1}, 0, 0},
	} {
		d, n, err := parseDrops(bufio.NewScanner(strings.NewReader(procNetUDP)), c.inodes)
		if err != nil || d != c.drops || n != c.found {
			t.Errorf("inodes %v: drops %d found %d err %v, want %d %d", c.inodes, d, n, err, c.drops, c.found)
		}
	}
	bad := strings.Replace(procNetUDP, " 17\n", " x\n", 1)
	if _, _, err := parseDrops(bufio.NewScanner(strings.NewReader(bad)), []uint64{4242}); err == nil {
		t.Error("bad drops field accepted")
	}
}

func serve(t *testing.T, cfg Config) (*Server, *aggregate.Aggregator, *ingest.Pipeline) {
	t.Helper()
	agg := aggregate.New(aggregate.Config{})
	p := ingest.New(agg, protocol.Options{}, nil, nil)
	s, err := Listen(cfg, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s, agg, p
}

func TestReusePortReadersAndKernelDrops(t *testing.T) {
	s, agg, p := serve(t, Config{Addr: "127.0.0.1:0", Readers: 3, ReusePort: true})
	if len(s.conns) != 3 {
		t.Fatalf("%d sockets, want one per reader", len(s.conns))
	}
	// Several senders (source ports), so the kernel spreads them.
	const senders, per = 8, 50
	for i := 0; i < senders; i++ {
		c, err := net.Dial("udp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < per; j++ {
			if _, err := c.Write([]byte("r:1|c\nr:1|c")); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Metrics().Lines.Load() < 2*senders*per && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	snap := agg.Flush(time.Unix(0, 0))
	if len(snap.Series) != 1 || snap.Series[0].Value != 2*senders*per {
		t.Errorf("series %+v, want r = %d", snap.Series, 2*senders*per)
	}
	if p.Metrics().Packets.Load() != senders*per {
		t.Errorf("packets %d", p.Metrics().Packets.Load())
	}
	drops, err := s.KernelDrops()
	if err != nil {
		t.Fatalf("KernelDrops: %v", err)
	}
	if drops != 0 {
		t.Logf("kernel dropped %d datagrams (machine under load)", drops)
	}
	if s.ReceiveBuffer() <= 0 {
		t.Errorf("receive buffer %d", s.ReceiveBuffer())
	}
}

func TestLargeDatagram(t *testing.T) {
	s, agg, p := serve(t, Config{Addr: "127.0.0.1:0", Readers: 1})
	var b strings.Builder
	for b.Len() < 60000 {
		b.WriteString("big:1|c\n")
	}
	c, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	want := uint64(b.Len() / len("big:1|c\n"))
	deadline := time.Now().Add(10 * time.Second)
	for p.Metrics().Lines.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := agg.Flush(time.Unix(0, 0)).Series[0].Value; got != float64(want) || s.Truncated() != 0 {
		t.Errorf("count %v want %d, truncated %d", got, want, s.Truncated())
	}
}

func TestListenErrors(t *testing.T) {
	p := ingest.New(aggregate.New(aggregate.Config{}), protocol.Options{}, nil, nil)
	if _, err := Listen(Config{Addr: "127.0.0.1:99999"}, p, nil); err == nil {
		t.Error("bad port accepted")
	}
}
