package remotewrite

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// benchSnapshot returns a snapshot of n series: 60% counters, 20% gauges,
// 20% timers of 50 values each, two tags per series.
func benchSnapshot(b *testing.B, n int, at time.Time) *aggregate.Snapshot {
	b.Helper()
	s := &aggregate.Snapshot{Time: at, Interval: 10 * time.Second}
	for i := range n {
		ser := aggregate.Series{
			Name: fmt.Sprintf("app.service%d.metric%d", i%50, i),
			Tags: []protocol.Tag{{Key: "env", Value: "prod"}, {Key: "shard", Value: fmt.Sprint(i % 16)}},
		}
		switch i % 5 {
		case 0, 1, 2:
			ser.Type, ser.Value = protocol.Counter, float64(i%7+1)
		case 3:
			ser.Type, ser.Value = protocol.Gauge, float64(i)
		case 4:
			ser.Type = protocol.Timer
			sk, _ := ddsketch.LogUnboundedDenseDDSketch(aggregate.SketchAccuracy)
			d := &aggregate.DistStats{Sketch: sk, N: 50, Count: 50}
			for j := range 50 {
				v := float64(1 + (i+j*37)%500)
				_ = sk.Add(v)
				d.Sum += v
			}
			d.Percentiles = []aggregate.PercentileStats{{Threshold: 90, Bound: 450}}
			ser.Dist = d
		}
		s.Series = append(s.Series, ser)
	}
	return s
}

// BenchmarkEncode100k converts and encodes a flush of 100,000 series
// (running totals and cumulative histograms included), as Flush does
// before sending.
func BenchmarkEncode100k(b *testing.B) {
	be, err := New(Config{URL: "http://127.0.0.1:1/api/v1/write", Host: "bench"}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Unix(1763769600, 0)
	snap := benchSnapshot(b, 100000, t0)
	b.ReportAllocs()
	cpu0 := cpuTime()
	var bytes, reqs int
	for i := 0; b.Loop(); i++ {
		snap.Time = t0.Add(time.Duration(i) * 10 * time.Second)
		out, err := be.encode(snap)
		if err != nil {
			b.Fatal(err)
		}
		bytes, reqs = 0, len(out)
		for _, r := range out {
			bytes += len(r.Body)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(bytes), "bytes/flush")
	b.ReportMetric(float64(reqs), "requests/flush")
}

// cpuTime returns the process's user+system CPU time in nanoseconds: the
// benchmark reports it beside ns/op, which a loaded machine inflates.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
