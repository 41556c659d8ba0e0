package clientlib_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cactus/go-statsd-client/v5/statsd"
	"github.com/google/go-cmp/cmp"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/clientlib"
	"github.com/statsd-agent/statsd-agent/clientlib/clientlibtest"
)

// startAgent runs a real agent on 127.0.0.1:0 with one reader and an
// hour-long interval, so only the test's Flush calls flush. It is stopped
// when the test ends.
func startAgent(t *testing.T) *agent.Agent {
	t.Helper()
	a, err := agent.New(agent.Config{
		UDP:        "127.0.0.1:0",
		UDPReaders: 1,
		Aggregate:  aggregate.Config{Interval: time.Hour, Percentiles: []float64{90}},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("agent did not stop")
		}
	})
	return a
}

// teeSender sends over UDP and records what it sends, so a test knows how
// many lines the agent must receive (sampling decides some of them).
type teeSender struct {
	udp statsd.Sender
	rec *clientlibtest.Recorder
}

func (s teeSender) Send(b []byte) (int, error) {
	s.rec.Send(b)
	return s.udp.Send(b)
}

func (s teeSender) Close() error { s.rec.Close(); return s.udp.Close() }

// agentClient returns a buffered client that sends to a over UDP, and the
// recorder of what it sent.
func agentClient(t *testing.T, a *agent.Agent, cfg clientlib.Config) (*clientlib.Client, *clientlibtest.Recorder) {
	t.Helper()
	udp, err := statsd.NewSimpleSender(a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	rec := clientlibtest.NewRecorder()
	cfg.Sender = teeSender{udp, rec}
	c, err := clientlib.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

// flushAgent closes c (sending its buffer), waits (bounded) until the agent
// has received every line c sent, flushes it and returns the series by
// "type name tags".
func flushAgent(t *testing.T, a *agent.Agent, c *clientlib.Client, rec *clientlibtest.Recorder) map[string]map[string]float64 {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := uint64(len(rec.Lines()))
	deadline := time.Now().Add(10 * time.Second)
	for a.LinesReceived() < want {
		if time.Now().After(deadline) {
			t.Fatalf("agent received %d lines, want %d", a.LinesReceived(), want)
		}
		time.Sleep(time.Millisecond)
	}
	if c.Errors() != 0 {
		t.Errorf("client counted %d errors", c.Errors())
	}
	snap := a.Flush(context.Background(), time.Unix(1763769600, 0))
	got := map[string]map[string]float64{}
	for _, s := range snap.Series {
		m := map[string]float64{}
		for _, v := range s.Values() {
			m[v.Key] = v.Value
		}
		got[s.Type.String()+" "+s.Name+" "+s.TagString()] = m
	}
	return got
}

// TestAgentEveryMethod sends every method through a real agent over
// loopback UDP, in each tag format, and checks the aggregated values.
func TestAgentEveryMethod(t *testing.T) {
	const hour = 3600.0
	for _, f := range []clientlib.TagFormat{clientlib.DogStatsD, clientlib.InfluxDB, clientlib.Graphite} {
		t.Run(f.String(), func(t *testing.T) {
			a := startAgent(t)
			c, rec := agentClient(t, a, clientlib.Config{Prefix: "app", TagFormat: f, Tags: []clientlib.Tag{{"env", "test"}}})
			route := clientlib.Tag{"route", "/a"}

			c.Incr("hits", route)
			c.Incr("hits", route)
			c.Count("hits", 5, route)
			c.Decr("hits", route)
			c.Incr("hits") // another series: no route tag
			c.Gauge("temp", -7.5)
			c.Gauge("level", 10)
			c.GaugeDelta("level", -3)
			c.GaugeDelta("level", 0.5)
			c.Gauge("below", 4)
			c.Gauge("below", -2) // replaces 4: 0, then -2
			for _, ms := range []int{10, 20, 30, 40} {
				c.Timing("db", time.Duration(ms)*time.Millisecond, route)
			}
			c.Time("work")()
			for _, v := range []float64{1, 2, 3, 4, 5} {
				c.Histogram("size", v)
			}
			c.Distribution("lat", 0.5)
			c.Distribution("lat", 1.5)
			c.Set("users", "alice")
			c.Set("users", "bob")
			c.Set("users", "alice")

			got := flushAgent(t, a, c, rec)
			work := got["timer app.work env:test"]
			if work["count"] != 1 || work["sum"] < 0 {
				t.Errorf("timer app.work = %v, want one non-negative value", work)
			}
			delete(got, "timer app.work env:test")
			want := map[string]map[string]float64{
				"counter app.hits env:test,route:/a": {"count": 6, "rate": 6 / hour},
				"counter app.hits env:test":          {"count": 1, "rate": 1 / hour},
				"gauge app.temp env:test":            {"value": -7.5},
				"gauge app.level env:test":           {"value": 7.5},
				"gauge app.below env:test":           {"value": -2},
				"timer app.db env:test,route:/a": {"count": 4, "count_ps": 4 / hour, "sum": 100, "sum_squares": 3000,
					"mean": 25, "median": 25, "lower": 10, "upper": 40, "std": 11.180339887498949,
					"count_90": 4, "mean_90": 25, "sum_90": 100, "sum_squares_90": 3000, "upper_90": 40},
				"histogram app.size env:test": {"count": 5, "count_ps": 5 / hour, "sum": 15, "sum_squares": 55,
					"mean": 3, "median": 3, "lower": 1, "upper": 5, "std": 1.4142135623730951,
					"count_90": 5, "mean_90": 3, "sum_90": 15, "sum_squares_90": 55, "upper_90": 5},
				"distribution app.lat env:test": {"count": 2, "count_ps": 2 / hour, "sum": 2, "sum_squares": 2.5,
					"mean": 1, "median": 1, "lower": 0.5, "upper": 1.5, "std": 0.5,
					"count_90": 2, "mean_90": 1, "sum_90": 2, "sum_squares_90": 2.5, "upper_90": 1.5},
				"set app.users env:test": {"count": 2},
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("flushed series (-want +got):\n%s", d)
			}
		})
	}
}

// TestAgentSampled checks that a sampled client's counts are scaled back up
// by the agent: each line sent at rate 0.25 counts 4.
func TestAgentSampled(t *testing.T) {
	a := startAgent(t)
	c, rec := agentClient(t, a, clientlib.Config{SampleRate: 0.25})
	for range 400 {
		c.Incr("sampled")
		c.Timing("sampled.t", time.Millisecond)
		c.Gauge("never.sampled", 1)
	}
	c.Close()
	sent := 0
	for _, s := range rec.Samples(t) {
		if s.Name == "sampled" {
			sent++
		}
	}
	got := flushAgent(t, a, c, rec)
	if sent == 0 || sent == 400 {
		t.Fatalf("%d of 400 sampled increments sent; want about 100", sent)
	}
	if v := got["counter sampled "]["count"]; v != float64(4*sent) {
		t.Errorf("sampled counter count = %v, want %d (4 per line sent)", v, 4*sent)
	}
	if v := got["timer sampled.t "]["count"]; v < 4 || v > 4*400 {
		t.Errorf("sampled timer count = %v", v)
	}
	if v := got["gauge never.sampled "]["value"]; v != 1 {
		t.Errorf("gauge = %v, want 1", v)
	}
}

// TestAgentConcurrent sends from many goroutines through one buffered
// client: nothing is lost on loopback and the totals add up.
func TestAgentConcurrent(t *testing.T) {
	a := startAgent(t)
	c, rec := agentClient(t, a, clientlib.Config{FlushBytes: 8192})
	const workers, per = 4, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				c.Incr("ops")
				c.Histogram("v", float64(i))
				c.Set("members", string(rune('a'+w)))
			}
		})
	}
	wg.Wait()
	got := flushAgent(t, a, c, rec)
	if v := got["counter ops "]["count"]; v != workers*per {
		t.Errorf("ops = %v, want %d", v, workers*per)
	}
	if v := got["histogram v "]["count"]; v != workers*per {
		t.Errorf("histogram count = %v, want %d", v, workers*per)
	}
	if v := got["set members "]["count"]; v != workers {
		t.Errorf("set = %v, want %d", v, workers)
	}
}
