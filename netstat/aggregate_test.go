package netstat

import (
	"context"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
)

// TestInputIntoAggregator feeds two readings through an Input into a real
// aggregator shard and checks what a backend would see: the increase as the
// counter's count, per second as its rate, and the gauge.
func TestInputIntoAggregator(t *testing.T) {
	agg := aggregate.New(aggregate.Config{Interval: 10 * time.Second})
	shard := agg.NewShard()
	src := &seqSource{readings: []*Reading{
		withGauge(reading(64, map[string]uint64{TCPSegmentsIn: 1000, UDPDatagramsOut: 7}), TCPEstablished, 5),
		withGauge(reading(64, map[string]uint64{TCPSegmentsIn: 1250, UDPDatagramsOut: 7}), TCPEstablished, 6),
	}}
	in := NewInput(Config{}, src, shard.AddSamples, nil, nil)
	for i := 0; i < 2; i++ {
		if err := in.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	snap := agg.Flush(time.Date(2026, 11, 22, 3, 0, 10, 0, time.UTC))
	got := map[string]map[string]float64{}
	for i := range snap.Series {
		s := &snap.Series[i]
		vals := map[string]float64{}
		for _, v := range s.Values() {
			vals[v.Key] = v.Value
		}
		got[s.Name] = vals
	}
	want := map[string]map[string]float64{
		"netstat.tcp.segments_in":   {"count": 250, "rate": 25},
		"netstat.udp.datagrams_out": {"count": 0, "rate": 0},
		"netstat.tcp.established":   {"value": 6},
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("series %s missing; got %v", name, got)
			continue
		}
		for k, v := range w {
			if g[k] != v {
				t.Errorf("%s %s = %v, want %v", name, k, g[k], v)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d series, want %d: %v", len(got), len(want), got)
	}
}
