package monitis

import (
	"fmt"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// BenchmarkEncode measures the pure encode step for a flush of 10,000
// series (counters, gauges and timers, a third tagged).
func BenchmarkEncode(b *testing.B) {
	s := &aggregate.Snapshot{Time: time.Unix(1714979280, 0), Interval: 10 * time.Second}
	for i := range 10000 {
		sr := aggregate.Series{Name: fmt.Sprintf("app.service%d.metric%d", i%50, i)}
		if i%3 == 0 {
			sr.Tags = []protocol.Tag{{Key: "env", Value: "prod"}, {Key: "host", Value: fmt.Sprintf("web%d", i%7)}}
		}
		switch i % 3 {
		case 0:
			sr.Type, sr.Value, sr.Rate = protocol.Counter, float64(i), float64(i)/10
		case 1:
			sr.Type, sr.Value = protocol.Gauge, float64(i)/3
		default:
			sr.Type = protocol.Timer
			sr.Dist = &aggregate.DistStats{Count: 10, CountPS: 1, Sum: 100, Mean: 10, Median: 9, Lower: 1, Upper: 30, N: 10,
				Percentiles: []aggregate.PercentileStats{{Threshold: 90, Count: 9, Mean: 8, Bound: 25}}}
		}
		s.Series = append(s.Series, sr)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"per-series", Config{}}, {"grouped", Config{Groups: []string{"app"}}}} {
		b.Run(tc.name, func(b *testing.B) {
			m, err := newMapper(&tc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				res, _ := m.encode(s)
				if len(res) == 0 {
					b.Fatal("no results")
				}
			}
		})
	}
}
