package clientlib_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/statsd-agent/statsd-agent/clientlib"
	"github.com/statsd-agent/statsd-agent/clientlib/clientlibtest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var sink [][]byte

func TestRuntimeCollector(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{SampleRate: 0.5})
	rc := clientlib.NewRuntimeCollector(c, 0)
	const allocated = 8 << 20
	for range allocated / 4096 {
		sink = append(sink, make([]byte, 4096))
	}
	sink = nil
	runtime.GC()
	runtime.GC()
	rc.Collect()

	samples := rec.Samples(t)
	one := func(name string, typ protocol.Type) float64 {
		t.Helper()
		s := clientlibtest.Find(samples, name, typ)
		if len(s) != 1 {
			t.Fatalf("%d %s %v samples, want 1", len(s), name, typ)
		}
		if s[0].SampleRate != 1 {
			t.Errorf("%s sampled at %v; runtime metrics are never sampled", name, s[0].SampleRate)
		}
		return s[0].Value
	}
	if v := one(clientlib.RuntimeAlloc, protocol.Counter); v < allocated {
		t.Errorf("alloc %v bytes, want >= %d", v, allocated)
	}
	if v := one(clientlib.RuntimeMallocs, protocol.Counter); v < allocated/4096 {
		t.Errorf("mallocs %v, want >= %d", v, allocated/4096)
	}
	gcs := one(clientlib.RuntimeGCCount, protocol.Counter)
	if gcs < 2 {
		t.Errorf("gc count %v, want >= 2", gcs)
	}
	pauses := clientlibtest.Find(samples, clientlib.RuntimeGCPause, protocol.Timer)
	if len(pauses) < 2 { // at least one stop-the-world pause per cycle
		t.Errorf("%d gc pauses, want >= 2", len(pauses))
	}
	for _, p := range pauses {
		if p.Value < 0 || p.Value > 10000 {
			t.Errorf("gc pause %v ms", p.Value)
		}
	}
	if v := one(clientlib.RuntimeGoroutines, protocol.Gauge); v < 2 {
		t.Errorf("goroutines %v, want >= 2 (the test and its runner)", v)
	}
	for _, name := range []string{clientlib.RuntimeHeapInuse, clientlib.RuntimeHeapObjects, clientlib.RuntimeHeapGoal, clientlib.RuntimeMemTotal} {
		if v := one(name, protocol.Gauge); v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
	if runtime.GOOS == "linux" {
		if v := one(clientlib.RuntimeRSS, protocol.Gauge); v < 1<<20 {
			t.Errorf("rss %v, want >= 1 MiB", v)
		}
	}

	// A second collection reports only what happened since the first.
	rec.Reset()
	rc.Collect()
	samples = rec.Samples(t)
	if v := one(clientlib.RuntimeGCCount, protocol.Counter); v > 1 {
		t.Errorf("gc count on the second collection %v, want the change since the first", v)
	}
	if v := one(clientlib.RuntimeAlloc, protocol.Counter); v >= allocated {
		t.Errorf("alloc on the second collection %v, want the change since the first", v)
	}
}

func TestRuntimeCollectorNilClient(t *testing.T) {
	clientlib.NewRuntimeCollector(nil, 0).Collect()
}

// TestCollectorsRunStop checks that Run collects at once and returns when
// its context is done.
func TestCollectorsRunStop(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := clientlib.NewRuntimeCollector(c, 0).Run(ctx); err != nil {
		t.Errorf("Run: %v", err)
	}
	if len(clientlibtest.Find(rec.Samples(t), clientlib.RuntimeGoroutines, protocol.Gauge)) != 1 {
		t.Error("Run did not collect before returning")
	}
}
