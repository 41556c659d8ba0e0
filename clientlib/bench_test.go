package clientlib_test

import (
	"database/sql"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/clientlib"
)

// discard is a Sender that drops everything: it measures the client alone.
type discard struct{}

func (discard) Send(b []byte) (int, error) { return len(b), nil }
func (discard) Close() error               { return nil }

func benchClient(b *testing.B, cfg clientlib.Config) *clientlib.Client {
	b.Helper()
	c, err := clientlib.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// udpSink listens on loopback and discards what arrives, so the benchmark
// pays for real sends without filling an error path.
func udpSink(b *testing.B) string {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	b.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String()
}

func BenchmarkIncr(b *testing.B) {
	c := benchClient(b, clientlib.Config{Sender: discard{}, Unbuffered: true})
	b.ReportAllocs()
	for b.Loop() {
		c.Incr("http.requests")
	}
}

func BenchmarkIncrTags(b *testing.B) {
	c := benchClient(b, clientlib.Config{Sender: discard{}, Unbuffered: true, Tags: []clientlib.Tag{{"service", "web"}}})
	b.ReportAllocs()
	for b.Loop() {
		c.Incr("http.requests", clientlib.Tag{"route", "/users/{id}"}, clientlib.Tag{"status", "2xx"})
	}
}

func BenchmarkTiming(b *testing.B) {
	c := benchClient(b, clientlib.Config{Sender: discard{}, Unbuffered: true})
	b.ReportAllocs()
	for b.Loop() {
		c.Timing("db.query", 1234567*time.Nanosecond, clientlib.Tag{"op", "query"})
	}
}

func BenchmarkTimeDefer(b *testing.B) {
	c := benchClient(b, clientlib.Config{Sender: discard{}, Unbuffered: true})
	b.ReportAllocs()
	for b.Loop() {
		c.Time("db.query")()
	}
}

func BenchmarkGaugeNegative(b *testing.B) {
	c := benchClient(b, clientlib.Config{Sender: discard{}, Unbuffered: true})
	b.ReportAllocs()
	for b.Loop() {
		c.Gauge("temperature", -7.5)
	}
}

// BenchmarkIncrBufferedUDP is the default configuration end to end: the
// buffered sender packing lines and sending datagrams to a loopback socket.
func BenchmarkIncrBufferedUDP(b *testing.B) {
	c := benchClient(b, clientlib.Config{Address: udpSink(b)})
	b.ReportAllocs()
	for b.Loop() {
		c.Incr("http.requests", clientlib.Tag{"route", "/users/{id}"})
	}
}

func BenchmarkTimingBufferedUDP(b *testing.B) {
	c := benchClient(b, clientlib.Config{Address: udpSink(b)})
	b.ReportAllocs()
	for b.Loop() {
		c.Timing("db.query", 1234567*time.Nanosecond, clientlib.Tag{"op", "query"})
	}
}

// BenchmarkIncrUnbufferedUDP sends one datagram per call.
func BenchmarkIncrUnbufferedUDP(b *testing.B) {
	c := benchClient(b, clientlib.Config{Address: udpSink(b), Unbuffered: true})
	b.ReportAllocs()
	for b.Loop() {
		c.Incr("http.requests", clientlib.Tag{"route", "/users/{id}"})
	}
}

func BenchmarkIncrParallel(b *testing.B) {
	c := benchClient(b, clientlib.Config{Address: udpSink(b)})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Incr("http.requests", clientlib.Tag{"route", "/users/{id}"})
		}
	})
}

func BenchmarkNilClient(b *testing.B) {
	var c *clientlib.Client
	b.ReportAllocs()
	for b.Loop() {
		c.Incr("http.requests", clientlib.Tag{"route", "/users/{id}"})
	}
}

// nopWriter is a ResponseWriter that discards, so the benchmark measures the
// middleware, not a recorder.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

// BenchmarkMiddleware is the cost Middleware adds to one request (four
// lines: in-flight up, count, timing, in-flight down), against a bare mux.
func BenchmarkMiddleware(b *testing.B) {
	c := benchClient(b, clientlib.Config{Sender: discard{}, Unbuffered: true})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {})
	req := httptest.NewRequest("GET", "/users/42", nil)
	w := &nopWriter{h: http.Header{}}
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", mux}, {"instrumented", c.Middleware(mux)}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkSQLQuery is the cost the database/sql wrapper adds to a query
// (a counter and a timer per operation) against SQLite opened directly.
func BenchmarkSQLQuery(b *testing.B) {
	c := benchClient(b, clientlib.Config{Sender: discard{}, Unbuffered: true})
	dir := b.TempDir()
	plain, err := sql.Open("sqlite", filepath.Join(dir, "plain.db"))
	if err != nil {
		b.Fatal(err)
	}
	wrapped, err := c.OpenDB("bench", "sqlite", filepath.Join(dir, "wrapped.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { plain.Close(); wrapped.Close() })
	for _, bc := range []struct {
		name string
		db   *sql.DB
	}{{"bare", plain}, {"instrumented", wrapped}} {
		b.Run(bc.name, func(b *testing.B) {
			var x int
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.db.QueryRow(`SELECT 1`).Scan(&x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
