package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPerSourceLimit(t *testing.T) {
	l := New(Config{LinesPerSecond: 100, Burst: 100, MaxSources: 3})
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::ffff:10.0.0.2")
	if !l.Allow(a, 60) || !l.Allow(a, 40) {
		t.Fatal("burst of 100 refused")
	}
	if l.Allow(a, 20) {
		t.Error("lines over the burst allowed")
	}
	if !l.Allow(b, 100) {
		t.Error("another source shares the first one's budget")
	}
	now = now.Add(time.Second) // 100 more tokens
	if !l.Allow(a, 100) {
		t.Error("budget not refilled after a second")
	}
	if l.Dropped() != 20 {
		t.Errorf("dropped %d, want 20", l.Dropped())
	}
	top := l.Top(5)
	if len(top) != 1 || top[0].Source != a || top[0].Dropped != 20 {
		t.Errorf("top %+v", top)
	}
	// IPv4-mapped IPv6 addresses count as the IPv4 source.
	if _, ok := l.sources[netip.MustParseAddr("10.0.0.2")]; !ok {
		t.Error("mapped address not unmapped")
	}
}

func TestBoundedTableAndMetrics(t *testing.T) {
	l := New(Config{LinesPerSecond: 1, Burst: 1, MaxSources: 50})
	for i := 0; i < 1000; i++ {
		addr := netip.AddrFrom4([4]byte{10, 0, byte(i / 256), byte(i)})
		l.Allow(addr, 1)
		l.Allow(addr, 1+i%7) // over budget: dropped
	}
	if len(l.sources) > 50 {
		t.Errorf("%d sources kept, bound 50", len(l.sources))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(l)
	if n, err := testutil.GatherAndCount(reg, "statsd_agent_ratelimit_top_source_dropped_lines"); err != nil || n != TopN {
		t.Errorf("top series %d (%v), want %d", n, err, TopN)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(""), "no_such_metric"); err != nil {
		t.Error(err)
	}
}

func TestNilLimiterAllows(t *testing.T) {
	var l *Limiter = New(Config{})
	if l != nil || !l.Allow(netip.MustParseAddr("127.0.0.1"), 1e6) || l.Dropped() != 0 || l.Top(3) != nil {
		t.Error("disabled limiter must allow everything")
	}
}
