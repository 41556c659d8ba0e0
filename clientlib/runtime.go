package clientlib

import (
	"bytes"
	"context"
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// Metric names sent by RuntimeCollector (after the Client's prefix).
const (
	RuntimeGoroutines   = "runtime.goroutines"       // gauge
	RuntimeHeapInuse    = "runtime.mem.heap_inuse"   // gauge, bytes in in-use heap spans
	RuntimeHeapObjects  = "runtime.mem.heap_objects" // gauge, live and unswept objects
	RuntimeHeapGoal     = "runtime.mem.heap_goal"    // gauge, bytes
	RuntimeMemTotal     = "runtime.mem.total"        // gauge, bytes mapped by the runtime
	RuntimeRSS          = "runtime.mem.rss"          // gauge, resident set bytes (Linux)
	RuntimeAlloc        = "runtime.mem.alloc"        // counter, bytes allocated: its rate is the allocation rate
	RuntimeMallocs      = "runtime.mem.mallocs"      // counter, objects allocated
	RuntimeGCCount      = "runtime.gc.count"         // counter, completed GC cycles
	RuntimeGCPause      = "runtime.gc.pause"         // timer, one value per stop-the-world GC pause
	maxPausesPerCollect = 256
)

// The runtime/metrics keys read by RuntimeCollector.
const (
	keyGoroutines  = "/sched/goroutines:goroutines"
	keyHeapObjects = "/memory/classes/heap/objects:bytes"
	keyHeapUnused  = "/memory/classes/heap/unused:bytes"
	keyObjects     = "/gc/heap/objects:objects"
	keyGoal        = "/gc/heap/goal:bytes"
	keyTotal       = "/memory/classes/total:bytes"
	keyAllocBytes  = "/gc/heap/allocs:bytes"
	keyAllocObjs   = "/gc/heap/allocs:objects"
	keyGCCycles    = "/gc/cycles/total:gc-cycles"
	keyPauses      = "/sched/pauses/total/gc:seconds"
)

// RuntimeCollector sends the Go runtime's memory, GC and goroutine metrics,
// read with runtime/metrics, as the Runtime* metrics. Gauges carry the
// current value; counters carry the change since the previous collection
// (the first, since NewRuntimeCollector), so the agent's counter rate is a
// per-second rate; each GC pause is one timer value (the middle of its
// runtime/metrics histogram bucket, at most 256 per collection). Its
// metrics are never sampled. Collect and Run may be called from any
// goroutine.
type RuntimeCollector struct {
	c        *Client
	interval time.Duration

	mu      sync.Mutex
	samples []metrics.Sample
	idx     map[string]int
	prev    map[string]uint64 // previous cumulative counters
	pauses  []uint64          // previous pause histogram counts
}

// NewRuntimeCollector returns a collector that Run sends every interval
// (0 means 10s). It reads the runtime's counters once now, as the baseline
// of the first collection.
func NewRuntimeCollector(c *Client, interval time.Duration) *RuntimeCollector {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	keys := []string{keyGoroutines, keyHeapObjects, keyHeapUnused, keyObjects, keyGoal,
		keyTotal, keyAllocBytes, keyAllocObjs, keyGCCycles, keyPauses}
	r := &RuntimeCollector{c: c, interval: interval, idx: map[string]int{}, prev: map[string]uint64{}}
	for i, k := range keys {
		r.samples = append(r.samples, metrics.Sample{Name: k})
		r.idx[k] = i
	}
	r.mu.Lock()
	r.read()
	r.mu.Unlock()
	return r
}

// read refreshes the samples and returns the counters' deltas since the
// previous read, and the new pause durations. r.mu must be held.
func (r *RuntimeCollector) read() (deltas map[string]uint64, pauses []time.Duration) {
	metrics.Read(r.samples)
	deltas = map[string]uint64{}
	for _, k := range []string{keyAllocBytes, keyAllocObjs, keyGCCycles} {
		if v, ok := r.u64(k); ok {
			deltas[k] = v - r.prev[k]
			r.prev[k] = v
		}
	}
	s := r.samples[r.idx[keyPauses]]
	if s.Value.Kind() != metrics.KindFloat64Histogram {
		return deltas, nil
	}
	h := s.Value.Float64Histogram()
	for i, n := range h.Counts {
		var old uint64
		if i < len(r.pauses) {
			old = r.pauses[i]
		}
		for d := n - old; d > 0 && len(pauses) < maxPausesPerCollect; d-- {
			pauses = append(pauses, bucketMiddle(h.Buckets[i], h.Buckets[i+1]))
		}
	}
	r.pauses = append(r.pauses[:0], h.Counts...)
	return deltas, pauses
}

// bucketMiddle is a representative duration for a histogram bucket of
// seconds [lo, hi), either of which may be infinite.
func bucketMiddle(lo, hi float64) time.Duration {
	switch {
	case math.IsInf(lo, -1) || lo < 0:
		lo = 0
	case math.IsInf(hi, 1):
		hi = lo
	}
	return time.Duration((lo + hi) / 2 * float64(time.Second))
}

func (r *RuntimeCollector) u64(key string) (uint64, bool) {
	s := r.samples[r.idx[key]]
	if s.Value.Kind() != metrics.KindUint64 {
		return 0, false
	}
	return s.Value.Uint64(), true
}

// Collect sends the metrics once.
func (r *RuntimeCollector) Collect() {
	if r.c == nil {
		return
	}
	r.mu.Lock()
	deltas, pauses := r.read()
	gauges := []struct {
		name string
		keys []string
	}{
		{RuntimeGoroutines, []string{keyGoroutines}},
		{RuntimeHeapInuse, []string{keyHeapObjects, keyHeapUnused}},
		{RuntimeHeapObjects, []string{keyObjects}},
		{RuntimeHeapGoal, []string{keyGoal}},
		{RuntimeMemTotal, []string{keyTotal}},
	}
	for _, g := range gauges {
		var sum uint64
		ok := true
		for _, k := range g.keys {
			v, found := r.u64(k)
			sum += v
			ok = ok && found
		}
		if ok {
			r.c.Gauge(g.name, float64(sum))
		}
	}
	r.mu.Unlock()

	if rss, ok := readRSS(); ok {
		r.c.Gauge(RuntimeRSS, float64(rss))
	}
	for _, ctr := range [...]struct{ key, name string }{
		{keyAllocBytes, RuntimeAlloc}, {keyAllocObjs, RuntimeMallocs}, {keyGCCycles, RuntimeGCCount},
	} {
		if d, ok := deltas[ctr.key]; ok {
			r.c.count(ctr.name, int64(d), false, nil)
		}
	}
	for _, p := range pauses {
		r.c.timing(RuntimeGCPause, p, false, nil)
	}
}

// Run collects every interval until ctx is done, then returns nil.
func (r *RuntimeCollector) Run(ctx context.Context) error {
	return every(ctx, r.interval, r.Collect)
}

// readRSS returns the resident set size from /proc/self/statm on Linux.
func readRSS() (uint64, bool) {
	if runtime.GOOS != "linux" {
		return 0, false
	}
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}
