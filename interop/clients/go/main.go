// Command go-client sends the statsd-agent interop workload through
// github.com/cactus/go-statsd-client/v5.
//
// Usage: go-client [-buffered] HOST PORT
//
// With -buffered the client's buffered sender packs lines into datagrams of
// at most 1432 bytes (its default), sent when full and on Close; the flush
// interval is set far beyond the run so the packing does not depend on
// timing. The client samples randomly (rand.Float32() < rate); SetSamplerFunc forces
// every call in, so the rate-0.1 calls are always sent, with their "|@0.1"
// field, and nothing is dropped client-side. Tags go out in the client's
// three formats, one client (and one metric name) per format.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/cactus/go-statsd-client/v5/statsd"
)

func main() {
	buffered := flag.Bool("buffered", false, "pack lines into datagrams with the buffered sender")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-client [-buffered] HOST PORT")
		os.Exit(2)
	}
	if err := run(net.JoinHostPort(flag.Arg(0), flag.Arg(1)), *buffered); err != nil {
		fmt.Fprintln(os.Stderr, "go-client:", err)
		os.Exit(1)
	}
}

func always(float32) bool { return true }

func newClient(addr string, tf statsd.TagFormat, buffered bool) (*statsd.Client, error) {
	s, err := statsd.NewClientWithConfig(&statsd.ClientConfig{
		Address:       addr,
		TagFormat:     tf,
		UseBuffered:   buffered,
		FlushInterval: time.Hour, // only size and Close flush
	})
	if err != nil {
		return nil, err
	}
	c := s.(*statsd.Client)
	c.SetSamplerFunc(always) // force sampling in: always send, keep |@rate
	return c, nil
}

func run(addr string, buffered bool) (err error) {
	c, err := newClient(addr, statsd.SuffixOctothorpe, buffered)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}()
	// The client returns send errors; keep the first.
	check := func(e error) {
		if err == nil {
			err = e
		}
	}

	// Counters: 1 + 5 - 1 = 5, then one sampled call (1 at rate 0.1 = 10).
	check(c.Inc("interop.counter", 1, 1))
	check(c.Inc("interop.counter", 5, 1))
	check(c.Dec("interop.counter", 1, 1))
	check(c.Inc("interop.sampled", 1, 0.1))

	// Gauges: set 333, +4, -10 (GaugeDelta) = 327.
	check(c.Gauge("interop.gauge", 333, 1))
	check(c.GaugeDelta("interop.gauge", 4, 1))
	check(c.GaugeDelta("interop.gauge", -10, 1))
	// A negative absolute value: Gauge(-7) sends "-7|g", a delta for the
	// reference server, so set 0 first, then the negative delta.
	check(c.Gauge("interop.negative", 0, 1))
	check(c.GaugeDelta("interop.negative", -7, 1))

	// Timers: 1..10 ms, then 320 ms at rate 0.1.
	for v := int64(1); v <= 10; v++ {
		check(c.Timing("interop.timer", v, 1))
	}
	check(c.Timing("interop.sampled_timer", 320, 0.1))
	// A fractional timer: TimingDuration sends milliseconds as a float.
	check(c.TimingDuration("interop.duration", 1500*time.Microsecond, 1))

	// Sets: 765, 765, 766 = 2 unique.
	check(c.SetInt("interop.set", 765, 1))
	check(c.SetInt("interop.set", 765, 1))
	check(c.SetInt("interop.set", 766, 1))

	// A name the server must sanitise (whitespace, '/', '+'), sent as is.
	check(c.Inc("interop.odd name/x+y", 1, 1))

	// Tags, the same tag set in two orders, in each of the client's formats:
	// DogStatsD suffix "|#k:v", Graphite infix ";k=v", InfluxDB infix ",k=v".
	tagged := func(c *statsd.Client, name string) {
		check(c.Inc(name, 1, 1, statsd.Tag{"env", "dev"}, statsd.Tag{"region", "eu"}))
		check(c.Inc(name, 2, 1, statsd.Tag{"region", "eu"}, statsd.Tag{"env", "dev"}))
	}
	tagged(c, "interop.tagged")
	for _, f := range []struct {
		name string
		tf   statsd.TagFormat
	}{
		{"interop.tagged_graphite", statsd.InfixSemicolon},
		{"interop.tagged_influx", statsd.InfixComma},
	} {
		ic, err := newClient(addr, f.tf, buffered)
		if err != nil {
			return err
		}
		tagged(ic, f.name)
		check(ic.Close())
	}
	return err
}
