package ingest

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// packet builds a realistic mixed datagram of 20 lines.
func packet(i int) []byte {
	var b strings.Builder
	for j := 0; j < 20; j++ {
		k := (i*20 + j) % 1000
		switch j % 10 {
		case 0, 1, 2, 3, 4, 5:
			fmt.Fprintf(&b, "app.http.requests.%d:1|c|#env:prod,route:/api/v%d\n", k, k%7)
		case 6, 7:
			fmt.Fprintf(&b, "app.db.query.time.%d:%d.5|ms|@0.5|#db:main\n", k, k%300)
		case 8:
			fmt.Fprintf(&b, "app.queue.depth.%d:%d|g\n", k, k)
		case 9:
			fmt.Fprintf(&b, "app.users.%d:user%d|s\n", k%10, k%50)
		}
	}
	return []byte(b.String())
}

func TestPacketCountsAndAggregates(t *testing.T) {
	agg := aggregate.New(aggregate.Config{Interval: time.Second})
	p := New(agg, protocol.Options{}, nil, nil)
	w := p.NewWorker()
	w.Begin()
	w.Packet([]byte("a:1|c\n\nb:x|c\r\na:2|c|@0.5\n_e{1,1}:t|x"))
	w.End()
	m := p.Metrics()
	if m.Packets.Load() != 1 || m.Lines.Load() != 4 || m.Invalid.Load() != 1 || m.Events.Load() != 1 {
		t.Errorf("packets %d lines %d invalid %d events %d", m.Packets.Load(), m.Lines.Load(), m.Invalid.Load(), m.Events.Load())
	}
	if got := m.InvalidByReason()["invalid_value"]; got != 1 {
		t.Errorf("invalid_value = %d", got)
	}
	snap := agg.Flush(time.Unix(0, 0))
	if len(snap.Series) != 1 || snap.Series[0].Value != 5 || len(snap.Events) != 1 {
		t.Errorf("snapshot %+v", snap)
	}
}

// The hot path, parse + aggregate, allocates nothing per line once the
// series exist. The one exception is a set member's first occurrence in an
// interval, whose string must be stored: the mixed packet has 50 distinct
// (set, member) pairs, so an interval may allocate at most that many times.
func TestWorkerAllocatesNothing(t *testing.T) {
	agg := aggregate.New(aggregate.Config{MaxValues: 1 << 30})
	w := New(agg, protocol.Options{}, nil, nil).NewWorker()
	pkts := make([][]byte, 100)
	for i := range pkts {
		pkts[i] = packet(i)
	}
	run := func() {
		w.Begin()
		for _, p := range pkts {
			w.Packet(p)
		}
		w.End()
	}
	// Two intervals create the series and size their value slices; entries
	// are reused across intervals.
	for i := 0; i < 3; i++ {
		run()
		agg.Flush(time.Unix(int64(i), 0))
	}
	if n := steadyMallocs(run); n > 50 {
		t.Errorf("%d allocations for 2000 lines in a steady-state interval, want at most 50 (new set members)", n)
	}

	// Without sets: nothing at all.
	noSets := make([][]byte, len(pkts))
	for i, p := range pkts {
		var keep []byte
		for len(p) > 0 {
			var line []byte
			line, p = protocol.NextLine(p)
			if !bytes.HasSuffix(line, []byte("|s")) {
				keep = append(append(keep, line...), '\n')
			}
		}
		noSets[i] = keep
	}
	pkts = noSets
	for i := 0; i < 3; i++ {
		run()
		agg.Flush(time.Unix(int64(10+i), 0))
	}
	if n := steadyMallocs(run); n != 0 {
		t.Errorf("%d allocations for 1800 lines of counters, timers and gauges, want 0", n)
	}
}

// steadyMallocs returns the fewest heap allocations of five calls of run,
// with a flush-free interval each time: the minimum discounts allocations
// made meanwhile by the runtime or the race detector on other goroutines.
// Each call adds the same lines again, so it measures steady state.
func steadyMallocs(run func()) uint64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	best := ^uint64(0)
	for i := 0; i < 5; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		run()
		runtime.ReadMemStats(&after)
		best = min(best, after.Mallocs-before.Mallocs)
	}
	return best
}

// BenchmarkParseAggregate measures the hot path per line: parse + aggregate
// of a realistic mixed workload (counters, timers with rates, gauges, sets,
// DogStatsD tags), 20 lines per datagram, 1,000 keys.
func BenchmarkParseAggregate(b *testing.B) {
	agg := aggregate.New(aggregate.Config{})
	w := New(agg, protocol.Options{}, nil, nil).NewWorker()
	pkts := make([][]byte, 500)
	for i := range pkts {
		pkts[i] = packet(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Begin()
		w.Packet(pkts[i%len(pkts)])
		w.End()
		if i%5000 == 4999 {
			b.StopTimer()
			agg.Flush(time.Unix(int64(i), 0)) // keep timer value lists bounded like a real interval
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20), "ns/line")
}

// BenchmarkCountersOnly is the throughput issue's workload: counters, 1,000
// keys, 20 lines per datagram.
func BenchmarkCountersOnly(b *testing.B) {
	agg := aggregate.New(aggregate.Config{})
	w := New(agg, protocol.Options{}, nil, nil).NewWorker()
	pkts := make([][]byte, 50)
	for i := range pkts {
		var sb strings.Builder
		for j := 0; j < 20; j++ {
			fmt.Fprintf(&sb, "bench.counter.%d:1|c\n", (i*20+j)%1000)
		}
		pkts[i] = []byte(sb.String())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.Begin()
		w.Packet(pkts[i%len(pkts)])
		w.End()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*20), "ns/line")
}
