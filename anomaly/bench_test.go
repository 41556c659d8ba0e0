package anomaly

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// BenchmarkProcess measures one flush of 1000 timers (mean and upper_90
// learned: 2000 statistics) and 10000 counters of which none is selected.
func BenchmarkProcess(b *testing.B) {
	d, err := New(Config{MaxSeries: 10000, Patterns: []string{"timer:*:mean", "timer:*:upper_90"}}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := &aggregate.Snapshot{Interval: 10 * time.Second}
	for i := range 1000 {
		s.Series = append(s.Series, aggregate.Series{Name: fmt.Sprintf("svc.t%d", i), Type: protocol.Timer,
			Dist: &aggregate.DistStats{N: 5, Count: 5, Mean: float64(i % 17), Percentiles: []aggregate.PercentileStats{{Threshold: 90, Bound: 20}}}})
	}
	for i := range 10000 {
		s.Series = append(s.Series, aggregate.Series{Name: fmt.Sprintf("svc.c%d", i), Type: protocol.Counter, Rate: 1})
	}
	ts := monday
	b.ReportAllocs()
	for b.Loop() {
		s.Time = ts
		s.Events = s.Events[:0]
		d.Process(s)
		ts = ts.Add(10 * time.Second)
	}
}

// TestMemoryPerSeries checks the documented bound: under 7.5 KiB per
// learned statistic with the default 24-point sudden-change window.
func TestMemoryPerSeries(t *testing.T) {
	var before, after runtime.MemStats
	d, _ := New(Config{MaxSeries: 2000, Patterns: []string{"gauge:*:value"}}, nil, nil)
	s := &aggregate.Snapshot{Interval: 10 * time.Second, Time: monday}
	for i := range 1000 {
		s.Series = append(s.Series, aggregate.Series{Name: fmt.Sprintf("g%04d", i), Type: protocol.Gauge, Value: 1})
	}
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 30 {
		d.Process(s)
		s.Time = s.Time.Add(10 * time.Second)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / 1000
	t.Logf("heap per learned statistic: %.0f B (baseline struct %d B)", per, unsafe.Sizeof(baseline{}))
	if per > 7.5*1024 {
		t.Errorf("%.0f B per statistic, documented under 7.5 KiB", per)
	}
	runtime.KeepAlive(d)
}
