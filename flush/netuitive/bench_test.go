package netuitive

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// bigSnapshot has n series: per 10, 4 counters, 3 gauges, 2 timers with a
// 90th percentile and 1 set, each with two tags.
func bigSnapshot(n int) *aggregate.Snapshot {
	snap := &aggregate.Snapshot{Time: flushTime, Interval: 10 * time.Second}
	for i := range n {
		s := aggregate.Series{
			Name: fmt.Sprintf("service.component%d.metric%d", i%50, i),
			Tags: []protocol.Tag{{Key: "env", Value: "prod"}, {Key: "host", Value: fmt.Sprintf("web-%02d", i%20)}},
		}
		switch i % 10 {
		case 0, 1, 2, 3:
			s.Type, s.Value, s.Rate = protocol.Counter, float64(i), float64(i)/10
		case 4, 5, 6:
			s.Type, s.Value = protocol.Gauge, float64(i)/3
		case 7, 8:
			s.Type = protocol.Timer
			s.Dist = &aggregate.DistStats{Count: 10, N: 10, Sum: 123.4, Mean: 12.34, Median: 11, Lower: 1, Upper: 40,
				Percentiles: []aggregate.PercentileStats{{Threshold: 90, Count: 9, Bound: 33}}}
		case 9:
			s.Type, s.Value = protocol.Set, 17
		}
		snap.Series = append(snap.Series, s)
	}
	return snap
}

// BenchmarkEncode measures encoding a 100,000-series flush (the design's
// "a flush of 100,000 series completes well inside the interval").
func BenchmarkEncode(b *testing.B) {
	for _, mapping := range []string{MappingDefault, MappingNetuitiveStatsd} {
		b.Run(mapping, func(b *testing.B) {
			cfg := Config{APIKey: NewSecret("k"), ElementID: "web-01", Mapping: mapping}
			r, err := cfg.resolve(noEnv, noHost)
			if err != nil {
				b.Fatal(err)
			}
			snap := bigSnapshot(100000)
			b.ReportAllocs()
			var bytes, samples int
			for b.Loop() {
				posts, _ := encode(snap, &r)
				bytes, samples = 0, 0
				for _, p := range posts {
					bytes += len(p.body)
					samples += p.items
				}
			}
			b.ReportMetric(float64(bytes)/float64(samples), "bytes/sample")
			b.ReportMetric(float64(samples), "samples/flush")
		})
	}
}

// BenchmarkFlushSpool measures a 10,000-series flush delivered to a
// server that accepts everything, with the memory queue and with the disk
// spool (push, one fsync, peek and ack of every post), to show what the
// spool costs per flush.
func BenchmarkFlushSpool(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	snap := bigSnapshot(10000)
	for _, mode := range []string{"memory", "spool"} {
		b.Run(mode, func(b *testing.B) {
			cfg := Config{URL: srv.URL + "/ingest", APIKey: NewSecret("k"), ElementID: "web-01", PostsPerMinute: -1, NoCheckIn: true, MaxMetricsPerPost: 1000}
			if mode == "spool" {
				cfg.SpoolDir = b.TempDir()
			}
			be, err := New(cfg, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close(context.Background())
			be.clockDone = true
			posts, _ := encode(snap, &be.cfg)
			var size, samples int
			for _, p := range posts {
				size, samples = size+len(p.body), samples+p.items
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := be.Flush(context.Background(), snap); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size), "post_bytes/flush")
			b.ReportMetric(float64(samples), "samples/flush")
		})
	}
}
