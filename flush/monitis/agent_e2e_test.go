package monitis_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/monitis"
	"github.com/statsd-agent/statsd-agent/flush/monitis/monitistest"
	"github.com/statsd-agent/statsd-agent/netstat"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// The whole path: StatsD lines over real UDP -> agent -> Monitis backend ->
// fake service; what getMonitorResults returns equals the flushed
// statistics. The netstat probe's readings feed the netstat monitor in the
// same flush, without any CLI call.
func TestAgentUDPToMonitis(t *testing.T) {
	srv := monitistest.NewServer(monitistest.Options{})
	defer srv.Close()
	b, err := monitis.New(monitis.Config{
		URL: srv.URL, APIKey: monitis.NewSecret(monitistest.DefaultAPIKey), SecretKey: monitis.NewSecret(monitistest.DefaultSecretKey), Rate: 1000,
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{UDP: "127.0.0.1:0", UDPReaders: 1, Aggregate: aggregate.Config{Interval: 10 * time.Second}},
		[]flush.Backend{b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// The netstat probe, on the agent's shard, with a scripted source.
	readings := []map[string]uint64{
		{netstat.TCPSegmentsIn: 1000, netstat.TCPSegmentsOut: 800, netstat.UDPDatagramsIn: 50, netstat.UDPDatagramsOut: 40},
		{netstat.TCPSegmentsIn: 2000, netstat.TCPSegmentsOut: 1300, netstat.UDPDatagramsIn: 150, netstat.UDPDatagramsOut: 45},
	}
	i := 0
	src := netstat.SourceFunc(func(context.Context) (*netstat.Reading, error) {
		r := &netstat.Reading{Counters: readings[i], Gauges: map[string]float64{}, Raw: map[string]uint64{}, Format: netstat.FormatLinuxProc, Width: 64}
		i++
		return r, nil
	})
	shard := a.NewShard()
	in := netstat.NewInput(netstat.Config{Enabled: true}.Resolve(10*time.Second), src, shard.AddSamples, nil, nil)
	for range readings {
		if err := in.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	conn, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	lines := []string{"shop.orders:1|c", "shop.orders:2|c", "shop.orders:3|c|@0.5", "shop.temp:21.5|g",
		"shop.checkout:100|ms", "shop.checkout:200|ms", "shop.checkout:300|ms|#env:prod", "shop.visitors:alice|s", "shop.visitors:bob|s"}
	if _, err := conn.Write([]byte(strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.LinesReceived() < uint64(len(lines)) {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d lines", a.LinesReceived(), len(lines))
		}
		time.Sleep(time.Millisecond)
	}
	at := time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	snap := a.Flush(fctx, at)
	if snap == nil {
		t.Fatal("no snapshot")
	}

	// Read back through the API.
	c, err := monitis.NewClient(monitis.ClientConfig{BaseURL: srv.URL, APIKey: monitis.NewSecret(monitistest.DefaultAPIKey), SecretKey: monitis.NewSecret(monitistest.DefaultSecretKey)})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := c.Monitors(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, m := range ms {
		rs, err := c.MonitorResults(context.Background(), m.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 || !rs[0].CheckTime.Equal(at) {
			t.Fatalf("monitor %s: results %+v, want one at %v", m.Name, rs, at)
		}
		got[m.Name] = rs[0].Values
	}
	// Expected from the snapshot's own statistics.
	want := map[string]map[string]string{}
	defaults := monitis.DefaultStats
	for _, s := range snap.Series {
		if strings.HasPrefix(s.Name, "netstat.") {
			continue
		}
		name := s.Name
		for _, tg := range s.Tags {
			name += "," + tg.Key + "=" + tg.Value
		}
		vals := map[string]string{}
		for _, v := range s.Values() {
			for _, p := range defaults[s.Type.String()] {
				if ok, _ := path.Match(p, v.Key); ok {
					vals[v.Key] = fmt.Sprint(v.Value)
				}
			}
		}
		want[name] = vals
	}
	want["netstat"] = map[string]string{"tcp_packets_in": "100", "tcp_packets_out": "50", "udp_packets_in": "10", "udp_packets_out": "1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	// Spot checks against the lines themselves.
	if got["shop.orders"]["count"] != "9" || got["shop.temp"]["value"] != "21.5" || got["shop.visitors"]["count"] != "2" ||
		got["shop.checkout"]["upper"] != "200" || got["shop.checkout,env=prod"]["mean"] != "300" {
		t.Errorf("unexpected values: %v", got)
	}
}

// recorder is a backend that records the snapshots it gets.
type recorder struct {
	mu    sync.Mutex
	snaps []*aggregate.Snapshot
}

func (r *recorder) Flush(_ context.Context, s *aggregate.Snapshot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snaps = append(r.snaps, s)
	return nil
}

// Wrong Monitis keys: one clear error, and the other backends keep
// getting every flush.
func TestAgentWrongKeysOtherBackendsWork(t *testing.T) {
	srv := monitistest.NewServer(monitistest.Options{})
	defer srv.Close()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	b, err := monitis.New(monitis.Config{URL: srv.URL, APIKey: monitis.NewSecret(monitistest.DefaultAPIKey), SecretKey: monitis.NewSecret("WRONGSECRETKEY0000000000AB"), Rate: 1000}, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	a, err := agent.New(agent.Config{UDP: "none"}, []flush.Backend{b, rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	shard := a.NewShard()
	at := time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
	for i := range 3 {
		shard.AddSamples([]protocol.Sample{{Name: []byte("jobs.done"), Type: protocol.Counter, Value: 1, SampleRate: 1}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a.Flush(ctx, at.Add(time.Duration(i)*10*time.Second))
		cancel()
	}
	rec.mu.Lock()
	n := len(rec.snaps)
	rec.mu.Unlock()
	if n != 3 {
		t.Errorf("the other backend got %d flushes, want 3", n)
	}
	if c := strings.Count(logs.String(), "level=ERROR"); c != 1 || !strings.Contains(logs.String(), "authentication failed") {
		t.Errorf("%d errors logged, want 1:\n%s", c, logs.String())
	}
	if strings.Contains(logs.String(), "WRONGSECRETKEY") || strings.Contains(logs.String(), monitistest.DefaultAPIKey) {
		t.Errorf("log shows a key:\n%s", logs.String())
	}
	if b.Queued() != 3 {
		t.Errorf("queued = %d, want 3", b.Queued())
	}
}

// Restart with state, through the agent: Monitis is down for three
// flushes, the agent is closed (the backend keeps the results in its
// spool), a new agent starts on the same state directory, Monitis
// returns, and every flush arrives with its original checktime.
func TestAgentRestartKeepsUndelivered(t *testing.T) {
	srv := monitistest.NewServer(monitistest.Options{})
	defer srv.Close()
	srv.Fail(monitistest.FaultDrop, "", -1)
	dir := t.TempDir()
	start := func() (*agent.Agent, *monitis.Backend) {
		t.Helper()
		b, err := monitis.New(monitis.Config{URL: srv.URL, APIKey: monitis.NewSecret(monitistest.DefaultAPIKey), SecretKey: monitis.NewSecret(monitistest.DefaultSecretKey),
			Rate: 1000, Retries: -1, SpoolDir: dir}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(agent.Config{UDP: "none"}, []flush.Backend{b}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	at := time.Date(2024, 5, 6, 7, 8, 10, 0, time.UTC)
	flushAt := func(a *agent.Agent, i int) {
		shard := a.NewShard()
		shard.AddSamples([]protocol.Sample{{Name: []byte("jobs.done"), Type: protocol.Counter, Value: float64(i + 1), SampleRate: 1}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Flush(ctx, at.Add(time.Duration(i)*10*time.Second))
	}
	a, b := start()
	for i := range 3 {
		flushAt(a, i)
	}
	if q := b.Queued(); q != 3 {
		t.Fatalf("queued during the outage = %d, want 3", q)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v (nothing should be lost)", err)
	}

	srv.ClearFaults()
	a, b = start()
	defer a.Close()
	if q := b.Queued(); q != 3 {
		t.Errorf("queued after the restart = %d, want 3", q)
	}
	flushAt(a, 3)
	if q := b.Queued(); q != 0 {
		t.Errorf("queued after delivery = %d", q)
	}
	c, err := monitis.NewClient(monitis.ClientConfig{BaseURL: srv.URL, APIKey: monitis.NewSecret(monitistest.DefaultAPIKey), SecretKey: monitis.NewSecret(monitistest.DefaultSecretKey)})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := c.Monitors(context.Background(), "")
	if err != nil || len(ms) != 1 {
		t.Fatalf("monitors %+v, %v; want one", ms, err)
	}
	rs, err := c.MonitorResults(context.Background(), ms[0].ID, at)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, fmt.Sprintf("%s count=%s", r.CheckTime.Format(time.TimeOnly), r.Values["count"]))
	}
	want := []string{"07:08:10 count=1", "07:08:20 count=2", "07:08:30 count=3", "07:08:40 count=4"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
