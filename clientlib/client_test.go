package clientlib_test

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/statsd-agent/statsd-agent/clientlib"
	"github.com/statsd-agent/statsd-agent/clientlib/clientlibtest"
)

// TestWireFormat checks the exact datagrams every method sends, in every tag
// format, with default and per-call tags.
func TestWireFormat(t *testing.T) {
	type call func(c *clientlib.Client)
	tags := []clientlib.Tag{{"env", "prod"}}
	cases := []struct {
		name string
		cfg  clientlib.Config
		call call
		want []string // one entry per datagram
	}{
		{"incr", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("hits") }, []string{"hits:1|c"}},
		{"decr", clientlib.Config{}, func(c *clientlib.Client) { c.Decr("hits") }, []string{"hits:-1|c"}},
		{"count", clientlib.Config{}, func(c *clientlib.Client) { c.Count("bytes", 1500) }, []string{"bytes:1500|c"}},
		{"count tags", clientlib.Config{}, func(c *clientlib.Client) { c.Count("n", 2, clientlib.Tag{"a", "1"}, clientlib.Tag{"b", "x:y"}) }, []string{"n:2|c|#a:1,b:x:y"}},
		{"prefix", clientlib.Config{Prefix: "app"}, func(c *clientlib.Client) { c.Incr("hits") }, []string{"app.hits:1|c"}},
		{"prefix with dot", clientlib.Config{Prefix: "app."}, func(c *clientlib.Client) { c.Incr("hits") }, []string{"app.hits:1|c"}},
		{"gauge", clientlib.Config{}, func(c *clientlib.Client) { c.Gauge("temp", 21.5) }, []string{"temp:21.5|g"}},
		{"gauge zero", clientlib.Config{}, func(c *clientlib.Client) { c.Gauge("temp", 0) }, []string{"temp:0|g"}},
		{"gauge minus zero", clientlib.Config{}, func(c *clientlib.Client) { c.Gauge("temp", math.Copysign(0, -1)) }, []string{"temp:0|g"}},
		{"gauge negative", clientlib.Config{}, func(c *clientlib.Client) { c.Gauge("temp", -7) }, []string{"temp:0|g\ntemp:-7|g"}},
		{"gauge negative tags", clientlib.Config{Tags: tags}, func(c *clientlib.Client) { c.Gauge("temp", -7.25, clientlib.Tag{"room", "a"}) },
			[]string{"temp:0|g|#env:prod,room:a\ntemp:-7.25|g|#env:prod,room:a"}},
		{"gauge negative influx", clientlib.Config{TagFormat: clientlib.InfluxDB}, func(c *clientlib.Client) { c.Gauge("temp", -7, clientlib.Tag{"room", "a"}) },
			[]string{"temp,room=a:0|g\ntemp,room=a:-7|g"}},
		{"gauge delta up", clientlib.Config{}, func(c *clientlib.Client) { c.GaugeDelta("q", 3) }, []string{"q:+3|g"}},
		{"gauge delta down", clientlib.Config{}, func(c *clientlib.Client) { c.GaugeDelta("q", -3.5) }, []string{"q:-3.5|g"}},
		{"gauge delta zero", clientlib.Config{}, func(c *clientlib.Client) { c.GaugeDelta("q", math.Copysign(0, -1)) }, []string{"q:+0|g"}},
		{"timing", clientlib.Config{}, func(c *clientlib.Client) { c.Timing("db", 1500*time.Microsecond) }, []string{"db:1.5|ms"}},
		{"timing zero", clientlib.Config{}, func(c *clientlib.Client) { c.Timing("db", 0) }, []string{"db:0|ms"}},
		{"histogram", clientlib.Config{}, func(c *clientlib.Client) { c.Histogram("size", 512) }, []string{"size:512|h"}},
		{"distribution", clientlib.Config{}, func(c *clientlib.Client) { c.Distribution("lat", 0.25) }, []string{"lat:0.25|d"}},
		{"set", clientlib.Config{}, func(c *clientlib.Client) { c.Set("users", "alice") }, []string{"users:alice|s"}},
		{"default tags", clientlib.Config{Tags: tags}, func(c *clientlib.Client) { c.Incr("hits") }, []string{"hits:1|c|#env:prod"}},
		{"default and call tags", clientlib.Config{Tags: tags}, func(c *clientlib.Client) { c.Incr("hits", clientlib.Tag{"code", "200"}) }, []string{"hits:1|c|#env:prod,code:200"}},
		{"influx", clientlib.Config{TagFormat: clientlib.InfluxDB, Tags: tags}, func(c *clientlib.Client) { c.Incr("hits", clientlib.Tag{"code", "200"}) }, []string{"hits,env=prod,code=200:1|c"}},
		{"graphite", clientlib.Config{TagFormat: clientlib.Graphite, Tags: tags}, func(c *clientlib.Client) { c.Incr("hits", clientlib.Tag{"code", "200"}) }, []string{"hits;env=prod;code=200:1|c"}},
		{"with", clientlib.Config{Prefix: "app", Tags: tags}, func(c *clientlib.Client) {
			c.With("db", clientlib.Tag{"db", "main"}).Incr("calls", clientlib.Tag{"op", "exec"})
		}, []string{"app.db.calls:1|c|#env:prod,db:main,op:exec"}},
		{"with nested", clientlib.Config{TagFormat: clientlib.Graphite}, func(c *clientlib.Client) {
			c.With("a").With(".b.", clientlib.Tag{"k", "v"}).Gauge("g", -1)
		}, []string{"a.b.g;k=v:0|g\na.b.g;k=v:-1|g"}},
		{"with no prefix", clientlib.Config{}, func(c *clientlib.Client) {
			c.With("", clientlib.Tag{"k", "v"}).Set("s", "m")
		}, []string{"s:m|s|#k:v"}},
		{"sampled", clientlib.Config{SampleRate: 1 - 1e-12}, func(c *clientlib.Client) {
			// At this rate a drop has probability 1e-12 per call.
			c.Incr("hits", clientlib.Tag{"a", "b"})
			c.Timing("t", time.Millisecond)
			c.Histogram("h", 1)
			c.Distribution("d", 1)
			c.Gauge("g", 1)
			c.Set("s", "m")
		}, []string{"hits:1|c|@0.999999999999|#a:b", "t:1|ms|@0.999999999999", "h:1|h|@0.999999999999", "d:1|d|@0.999999999999", "g:1|g", "s:m|s"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := clientlibtest.New(t, tc.cfg)
			tc.call(c)
			var got []string
			for _, p := range rec.Packets() {
				got = append(got, string(p))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("datagrams (-want +got):\n%s", diff)
			}
			if n := c.Errors(); n != 0 {
				t.Errorf("Errors() = %d, want 0", n)
			}
		})
	}
}

// TestRejected checks that invalid input is counted, reported and not sent.
func TestRejected(t *testing.T) {
	cases := []struct {
		name string
		cfg  clientlib.Config
		call func(c *clientlib.Client)
		want error
	}{
		{"empty name", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("") }, clientlib.ErrInvalidName},
		{"colon in name", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("a:b") }, clientlib.ErrInvalidName},
		{"pipe in name", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("a|b") }, clientlib.ErrInvalidName},
		{"newline in name", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("a\nb:1|c") }, clientlib.ErrInvalidName},
		{"space in name", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("a b") }, clientlib.ErrInvalidName},
		{"comma in tag", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("a", clientlib.Tag{"k", "x,y"}) }, clientlib.ErrInvalidTag},
		{"pipe in tag", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("a", clientlib.Tag{"k", "x|y"}) }, clientlib.ErrInvalidTag},
		{"colon in tag key", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("a", clientlib.Tag{"k:x", "y"}) }, clientlib.ErrInvalidTag},
		{"empty tag key", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("a", clientlib.Tag{"", "y"}) }, clientlib.ErrInvalidTag},
		{"colon in influx tag", clientlib.Config{TagFormat: clientlib.InfluxDB}, func(c *clientlib.Client) { c.Incr("a", clientlib.Tag{"k", "x:y"}) }, clientlib.ErrInvalidTag},
		{"equals in graphite tag", clientlib.Config{TagFormat: clientlib.Graphite}, func(c *clientlib.Client) { c.Incr("a", clientlib.Tag{"k", "x=y"}) }, clientlib.ErrInvalidTag},
		{"NaN gauge", clientlib.Config{}, func(c *clientlib.Client) { c.Gauge("g", math.NaN()) }, clientlib.ErrInvalidValue},
		{"Inf gauge delta", clientlib.Config{}, func(c *clientlib.Client) { c.GaugeDelta("g", math.Inf(-1)) }, clientlib.ErrInvalidValue},
		{"Inf histogram", clientlib.Config{}, func(c *clientlib.Client) { c.Histogram("h", math.Inf(1)) }, clientlib.ErrInvalidValue},
		{"NaN distribution", clientlib.Config{}, func(c *clientlib.Client) { c.Distribution("d", math.NaN()) }, clientlib.ErrInvalidValue},
		{"negative timing", clientlib.Config{}, func(c *clientlib.Client) { c.Timing("t", -time.Second) }, clientlib.ErrInvalidValue},
		{"set member with pipe", clientlib.Config{}, func(c *clientlib.Client) { c.Set("s", "a|b") }, clientlib.ErrInvalidValue},
		{"empty set member", clientlib.Config{}, func(c *clientlib.Client) { c.Set("s", "") }, clientlib.ErrInvalidValue},
		{"brackets in name", clientlib.Config{}, func(c *clientlib.Client) { c.Incr("a[k=v]") }, clientlib.ErrInvalidName},
		{"after close", clientlib.Config{}, func(c *clientlib.Client) { c.Close(); c.Incr("a") }, clientlib.ErrClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var reported []error
			tc.cfg.OnError = func(err error) { reported = append(reported, err) }
			c, rec := clientlibtest.New(t, tc.cfg)
			tc.call(c)
			if got := rec.Packets(); len(got) != 0 {
				t.Errorf("sent %q, want nothing", got)
			}
			if c.Errors() != 1 || len(reported) != 1 {
				t.Fatalf("Errors() = %d, reported %v; want 1 error", c.Errors(), reported)
			}
			if !errors.Is(reported[0], tc.want) {
				t.Errorf("reported %v, want %v", reported[0], tc.want)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  clientlib.Config
	}{
		{"rate above 1", clientlib.Config{SampleRate: 1.5}},
		{"negative rate", clientlib.Config{SampleRate: -0.1}},
		{"NaN rate", clientlib.Config{SampleRate: math.NaN()}},
		{"tag format", clientlib.Config{TagFormat: 9}},
		{"negative flush interval", clientlib.Config{FlushInterval: -time.Second}},
		{"negative flush bytes", clientlib.Config{FlushBytes: -1}},
		{"bad prefix", clientlib.Config{Prefix: "a:b"}},
		{"bad default tag", clientlib.Config{Tags: []clientlib.Tag{{"a", "b|c"}}}},
		{"bad address", clientlib.Config{Address: "no-port"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := clientlib.New(tc.cfg)
			if err == nil {
				c.Close()
				t.Fatalf("New(%+v) succeeded, want an error", tc.cfg)
			}
		})
	}
}

// TestNilClient checks that every method of a nil *Client is a no-op.
func TestNilClient(t *testing.T) {
	var c *clientlib.Client
	c.Incr("a")
	c.Decr("a")
	c.Count("a", 3)
	c.Gauge("a", -1)
	c.GaugeDelta("a", 1)
	c.Timing("a", time.Second)
	c.Time("a")()
	c.Histogram("a", 1)
	c.Distribution("a", 1)
	c.Set("a", "b")
	if c.Errors() != 0 {
		t.Error("nil client counted errors")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestTime(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{})
	before := time.Now()
	stop := c.Time("op", clientlib.Tag{"k", "v"})
	stop()
	max := time.Since(before)
	lines := rec.Lines()
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "op:") || !strings.HasSuffix(lines[0], "|ms|#k:v") {
		t.Fatalf("lines = %q, want one op timing tagged k:v", lines)
	}
	v := strings.TrimSuffix(strings.TrimPrefix(lines[0], "op:"), "|ms|#k:v")
	d, err := time.ParseDuration(v + "ms")
	if err != nil || d < 0 || d > max+time.Microsecond {
		t.Errorf("timing %q (%v, %v), want within [0, %v]", v, d, err, max)
	}
}

// TestBuffered checks that buffering packs lines into datagrams no larger
// than FlushBytes, keeps a negative gauge's two lines in one datagram, and
// that Close sends what is buffered.
func TestBuffered(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{FlushBytes: 64, FlushInterval: time.Hour})
	var want []string
	for i := range 20 {
		c.Incr("counter.number")
		want = append(want, "counter.number:1|c")
		if i%3 == 0 {
			c.Gauge("gauge.below.zero", -2)
			want = append(want, "gauge.below.zero:0|g", "gauge.below.zero:-2|g")
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, rec.Lines()); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	packets := rec.Packets()
	if len(packets) < 2 {
		t.Errorf("got %d datagrams, want the lines split over several", len(packets))
	}
	for _, p := range packets {
		s := string(p)
		if len(p) > 64 {
			t.Errorf("datagram of %d bytes > FlushBytes 64: %q", len(p), s)
		}
		if strings.Count(s, "gauge.below.zero:0|g") != strings.Count(s, "gauge.below.zero:-2|g") {
			t.Errorf("negative gauge split across datagrams: %q", s)
		}
	}
	if !rec.Closed() {
		t.Error("Close did not close the sender")
	}
	c.Incr("late")
	if c.Errors() != 1 {
		t.Errorf("Errors() after a call on a closed client = %d, want 1", c.Errors())
	}
}

// failSender fails every send.
type failSender struct{}

func (failSender) Send([]byte) (int, error) { return 0, errors.New("network down") }
func (failSender) Close() error             { return nil }

// TestSendErrorsCounted checks that errors of the background (buffered) send
// are counted and reported, not lost.
func TestSendErrorsCounted(t *testing.T) {
	for _, unbuffered := range []bool{false, true} {
		var mu sync.Mutex
		var reported []error
		c, err := clientlib.New(clientlib.Config{Sender: failSender{}, Unbuffered: unbuffered, OnError: func(err error) {
			mu.Lock()
			reported = append(reported, err)
			mu.Unlock()
		}})
		if err != nil {
			t.Fatal(err)
		}
		c.Incr("a")
		c.Incr("b")
		c.Close()
		want := uint64(2)
		if !unbuffered {
			want = 1 // both lines in one datagram, sent on Close
		}
		mu.Lock()
		if c.Errors() != want || uint64(len(reported)) != want || !errors.Is(reported[0], clientlib.ErrSend) {
			t.Errorf("unbuffered=%v: Errors() = %d, reported %v; want %d ErrSend", unbuffered, c.Errors(), reported, want)
		}
		mu.Unlock()
	}
}

// TestConcurrent runs many goroutines against one buffered client (run it
// with -race) and checks that every line arrives intact.
func TestConcurrent(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{FlushBytes: 512, FlushInterval: time.Hour})
	const workers, per = 8, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range per {
				c.Incr("hits", clientlib.Tag{"k", "v"})
				c.Gauge("g", -1)
			}
		})
	}
	wg.Wait()
	c.Close()
	lines := rec.Lines()
	counts := map[string]int{}
	for _, l := range lines {
		counts[l]++
	}
	want := map[string]int{"hits:1|c|#k:v": workers * per, "g:0|g": workers * per, "g:-1|g": workers * per}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("line counts (-want +got):\n%s", diff)
	}
}

// TestWith checks that a Client made by With shares its parent's sender,
// error count and closing, and leaves out an invalid prefix or tag.
func TestWith(t *testing.T) {
	var reported []error
	c, rec := clientlibtest.New(t, clientlib.Config{OnError: func(err error) { reported = append(reported, err) }})
	sub := c.With("bad:prefix", clientlib.Tag{"ok", "1"}, clientlib.Tag{"bad", "a|b"})
	if len(reported) != 2 || !errors.Is(reported[0], clientlib.ErrInvalidName) || !errors.Is(reported[1], clientlib.ErrInvalidTag) {
		t.Fatalf("reported %v, want an invalid name and an invalid tag", reported)
	}
	sub.Incr("x")
	if got := rec.Lines(); !cmp.Equal(got, []string{"x:1|c|#ok:1"}) {
		t.Errorf("lines %q", got)
	}
	sub.Incr("")
	if c.Errors() != 3 || sub.Errors() != 3 {
		t.Errorf("Errors() = %d (parent), %d (sub); want 3 shared", c.Errors(), sub.Errors())
	}
	c.Close()
	sub.Incr("after")
	if !errors.Is(reported[len(reported)-1], clientlib.ErrClosed) {
		t.Errorf("a call on a sub-client of a closed client reported %v", reported[len(reported)-1])
	}
	var nilClient *clientlib.Client
	if nilClient.With("a") != nil {
		t.Error("With on a nil client returned a non-nil client")
	}
}
