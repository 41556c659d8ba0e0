package netuitive

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/netuitive/netuitivetest"
)

// TestAgentOverUDP runs the whole pipeline: StatsD lines over real UDP into
// an agent whose only backend posts to the fake; what the fake stores equals
// the statistics of the agent's snapshot, for two flushes (the gauge is
// carried into the second).
func TestAgentOverUDP(t *testing.T) {
	srv := netuitivetest.NewServer(testKey)
	defer srv.Close()
	b, err := New(Config{URL: srv.URL(), APIKey: NewSecret(testKey), ElementID: "web-01", PostsPerMinute: -1}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{UDP: "127.0.0.1:0", Aggregate: aggregate.Config{Interval: time.Hour}}, []flush.Backend{b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("agent did not stop")
		}
	}()

	conn, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lines := []string{
		"orders:1|c|#shop:eu",
		"orders:2|c|@0.5|#shop:eu",
		"queue.depth:10|g",
		"queue.depth:+4|g",
		"checkout.latency:12|ms",
		"checkout.latency:40|ms",
		"checkout.latency:95|ms",
		"payload:2048|h|#route:upload",
		"users:alice|s",
		"users:bob|s",
		"_e{6,9}:deploy|v2 rolled|#team:web",
		"_sc|db.ping|2|m:timeout",
	}
	for _, l := range lines {
		if _, err := conn.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.LinesReceived() < uint64(len(lines)) {
		if time.Now().After(deadline) {
			t.Fatalf("agent received %d of %d lines", a.LinesReceived(), len(lines))
		}
		time.Sleep(time.Millisecond)
	}

	t0 := time.Unix(1763769600, 0)
	fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer fcancel()
	snap1 := a.Flush(fctx, t0)
	snap2 := a.Flush(fctx, t0.Add(10*time.Second))
	if len(snap1.Series) != 5 || len(snap1.Events) != 1 || len(snap1.ServiceChecks) != 1 {
		t.Fatalf("snapshot has %d series, %d events, %d checks; want 5, 1, 1", len(snap1.Series), len(snap1.Events), len(snap1.ServiceChecks))
	}
	want := wantSamples(t, "web-01", snap1)
	for k, v := range wantSamples(t, "web-01", snap2) {
		want[k] = append(want[k], v...)
	}
	if diff := cmp.Diff(want, storedSamples(srv.Elements())); diff != "" {
		t.Errorf("stored samples (-want +got):\n%s", diff)
	}
	// Spot-check the statistics themselves: the sampled counter is divided
	// by its rate, the gauge applied its delta and is carried.
	got := storedSamples(srv.Elements())
	if s := got["web-01/statsd.orders.shop_eu"]; len(s) < 1 || s[0].Val != 5 {
		t.Errorf("orders = %+v, want 1 + 2/0.5 = 5", s)
	}
	if s := got["web-01/statsd.queue.depth"]; len(s) != 2 || s[0].Val != 14 || s[1].Val != 14 {
		t.Errorf("queue.depth = %+v, want 14 in both flushes", s)
	}
	var evs []string
	for _, e := range srv.Events() {
		evs = append(evs, e.Title+"/"+e.Data.Level+"/"+e.Data.Message)
	}
	if diff := cmp.Diff([]string{"deploy/INFO/v2 rolled", "db.ping - CRITICAL/CRITICAL/timeout"}, evs); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if c := srv.Checks(); len(c) != 2 || c[0].TTL != 3*time.Hour {
		t.Errorf("check-ins = %+v, want 2 with ttl 3h", c)
	}
}
