package bench

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/ingest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// The pipeline benchmarks run on the workloads of the issue: counters only
// (the throughput target's), the mixed workload (DESIGN.md §3), and the mixed
// workload with DogStatsD tags; 1,000 keys and 20 lines per datagram.
// One op is one datagram; ns/line and lines/s are reported beside it.
var benchWorkloads = []struct {
	name string
	w    Workload
}{
	{"counters", Workload{Keys: 1000, Mix: Mix{Counter: 1}, LinesPerPacket: 20}},
	{"mixed", Workload{Keys: 1000, Mix: Mix{Counter: 60, Timer: 20, Gauge: 10, Set: 5, Distribution: 5}, LinesPerPacket: 20}},
	{"mixed-tags", Workload{Keys: 1000, Mix: Mix{Counter: 60, Timer: 20, Gauge: 10, Set: 5, Distribution: 5}, Tags: 3, LinesPerPacket: 20}},
}

func buildPool(b *testing.B, w Workload) *Pool {
	b.Helper()
	p, err := w.Build()
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// reportLines reports per-line figures for a benchmark whose op is one
// datagram of the pool.
func reportLines(b *testing.B, p *Pool, ops int) {
	lines := float64(ops) * p.LinesPerDatagram()
	if lines == 0 {
		return
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/lines, "ns/line")
	b.ReportMetric(lines/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParse parses every line of a datagram with protocol.Parser.
func BenchmarkParse(b *testing.B) {
	for _, wl := range benchWorkloads {
		b.Run(wl.name, func(b *testing.B) {
			p := buildPool(b, wl.w)
			parser := protocol.NewParser(protocol.Options{})
			b.ReportAllocs()
			ops := 0
			for b.Loop() {
				rest := p.Datagrams[ops%len(p.Datagrams)].Payload
				for len(rest) > 0 {
					var line []byte
					line, rest = protocol.NextLine(rest)
					if _, err := parser.Parse(line); err != nil {
						b.Fatalf("%q: %v", line, err)
					}
				}
				ops++
			}
			reportLines(b, p, ops)
		})
	}
}

// BenchmarkParseAggregate runs datagrams through an ingest.Worker (parse
// into the worker's aggregation shard), 64 datagrams per Begin/End batch
// as a UDP reader does.
func BenchmarkParseAggregate(b *testing.B) {
	for _, wl := range benchWorkloads {
		b.Run(wl.name, func(b *testing.B) {
			p := buildPool(b, wl.w)
			agg := aggregate.New(aggregate.Config{})
			m := ingest.NewMetrics()
			w := ingest.New(agg, protocol.Options{}, m, nil).NewWorker()
			b.ReportAllocs()
			ops := 0
			w.Begin()
			for b.Loop() {
				w.Packet(p.Datagrams[ops%len(p.Datagrams)].Payload)
				ops++
				if ops%64 == 0 {
					w.End()
					w.Begin()
				}
			}
			w.End()
			reportLines(b, p, ops)
			if m.Invalid.Load() != 0 {
				b.Fatalf("%d invalid lines", m.Invalid.Load())
			}
		})
	}
}

// BenchmarkFlush100kSeries measures Aggregator.Flush of 100,000 series that
// each received samples in the interval (filled outside the timer).
func BenchmarkFlush100kSeries(b *testing.B) {
	const series = 100_000
	for _, kind := range []string{"counters", "mixed"} {
		b.Run(kind, func(b *testing.B) {
			// Lines for every series, built once: counters, or 70 %
			// counters, 20 % timers with 5 values, 10 % gauges.
			var lines [][]byte
			for i := range series {
				name := metricName(i)
				switch {
				case kind == "counters" || i%10 < 7:
					lines = append(lines, []byte(name+":1|c"))
				case i%10 < 9:
					for v := range 5 {
						lines = append(lines, []byte(name+":"+strconv.Itoa(10*v+i%7)+"|ms"))
					}
				default:
					lines = append(lines, []byte(name+":42|g"))
				}
			}
			agg := aggregate.New(aggregate.Config{})
			m := ingest.NewMetrics()
			w := ingest.New(agg, protocol.Options{}, m, nil).NewWorker()
			fill := func() {
				w.Begin()
				for _, l := range lines {
					w.Line(l)
				}
				w.End()
			}
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			// One flush first, so the steady state (reused entries) is measured.
			fill()
			agg.Flush(now)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				fill()
				now = now.Add(10 * time.Second)
				b.StartTimer()
				s := agg.Flush(now)
				if len(s.Series) != series {
					b.Fatalf("flush has %d series, want %d", len(s.Series), series)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/series, "ns/series")
		})
	}
}

// BenchmarkEndToEnd sends datagrams over loopback UDP (sendmmsg, 64 per
// call) to an in-process agent (server/udp readers, aggregation, a discard
// backend) and waits for every line to be counted. Sender and agent share
// the machine's CPUs; the in-flight lines are bounded so that the socket
// buffer never overflows, and any loss fails the benchmark.
func BenchmarkEndToEnd(b *testing.B) {
	for _, wl := range benchWorkloads {
		b.Run(wl.name, func(b *testing.B) {
			p := buildPool(b, wl.w)
			a, err := agent.New(agent.Config{UDP: "127.0.0.1:0"}, []flush.Backend{flush.Discard{}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() {
				if err := a.Run(ctx); err != nil {
					b.Errorf("agent Run: %v", err)
				}
			})
			defer func() {
				cancel()
				wg.Wait()
			}()
			conn, err := net.DialUDP("udp", nil, a.UDPAddr().(*net.UDPAddr))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			pc := ipv4.NewPacketConn(conn)
			const batch = 64
			ms := make([]ipv4.Message, batch)
			bufs := make([][]byte, batch)
			for i := range ms {
				ms[i].Buffers = bufs[i : i+1 : i+1]
			}
			const maxInFlight = 40_000 // lines; well inside an 8 MiB socket buffer
			base := a.LinesReceived()
			var sent uint64
			next := 0
			b.ReportAllocs()
			ops := 0
			for b.Loop() {
				// One op is one datagram; send them 64 at a time.
				bufs[ops%batch] = p.Datagrams[next].Payload
				sent += uint64(p.Datagrams[next].Lines)
				next = (next + 1) % len(p.Datagrams)
				ops++
				if ops%batch == 0 {
					if err := writeAll(pc, ms); err != nil {
						b.Fatal(err)
					}
					for sent-(a.LinesReceived()-base) > maxInFlight {
						time.Sleep(20 * time.Microsecond)
					}
				}
			}
			if n := ops % batch; n > 0 {
				if err := writeAll(pc, ms[:n]); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for a.LinesReceived()-base < sent && time.Now().Before(deadline) {
				time.Sleep(50 * time.Microsecond)
			}
			if got := a.LinesReceived() - base; got != sent {
				b.Fatalf("agent counted %d of %d lines", got, sent)
			}
			reportLines(b, p, ops)
		})
	}
}

func writeAll(pc *ipv4.PacketConn, ms []ipv4.Message) error {
	for len(ms) > 0 {
		n, err := pc.WriteBatch(ms, 0)
		if err != nil {
			return err
		}
		ms = ms[n:]
	}
	return nil
}
