package clientlib_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/statsd-agent/statsd-agent/clientlib"
	"github.com/statsd-agent/statsd-agent/clientlib/clientlibtest"
)

// The zero Config sends to the agent on 127.0.0.1:8125, buffered. Here a
// Recorder stands in for the network so the example can print what would
// be sent.
func Example() {
	rec := clientlibtest.NewRecorder()
	c, err := clientlib.New(clientlib.Config{
		Prefix: "shop",
		Tags:   []clientlib.Tag{{"env", "prod"}},
		Sender: rec, // leave out to send over UDP
	})
	if err != nil {
		log.Fatal(err)
	}
	c.Incr("orders", clientlib.Tag{"country", "nl"})
	c.Gauge("cart.items", 3)
	c.Timing("checkout", 1250*time.Microsecond)
	c.Histogram("order.value", 79.5)
	c.Distribution("order.lines", 4)
	c.Set("customers", "c-1042")
	c.Close() // sends what is buffered: here one datagram

	for _, p := range rec.Packets() {
		fmt.Printf("%s\n", p)
	}
	// Output:
	// shop.orders:1|c|#env:prod,country:nl
	// shop.cart.items:3|g|#env:prod
	// shop.checkout:1.25|ms|#env:prod
	// shop.order.value:79.5|h|#env:prod
	// shop.order.lines:4|d|#env:prod
	// shop.customers:c-1042|s|#env:prod
}

// A nil *Client does nothing, so code can be instrumented unconditionally.
func Example_nilClient() {
	var c *clientlib.Client // e.g. metrics disabled in config
	c.Incr("jobs")
	defer c.Time("work")()
	fmt.Println(c.Errors())
	// Output: 0
}

// StatsD reads a leading '-' as "subtract", so Gauge sends a negative value
// as 0 followed by the change, in one datagram.
func ExampleClient_Gauge() {
	c, rec := newExampleClient(clientlib.Config{})
	c.Gauge("balance", -42.5)
	c.GaugeDelta("balance", 2.5)
	for _, p := range rec.Packets() {
		fmt.Printf("%q\n", p)
	}
	// Output:
	// "balance:0|g\nbalance:-42.5|g"
	// "balance:+2.5|g"
}

func ExampleClient_Time() {
	c, rec := newExampleClient(clientlib.Config{})
	query := func() {
		defer c.Time("db.query", clientlib.Tag{"table", "users"})()
		// ... the work being timed ...
	}
	query()
	s, _ := clientlibtest.Parse(rec.Packets())
	fmt.Println(s[0].Name, s[0].Type, s[0].Tags)
	// Output: db.query timer [{table users}]
}

func ExampleConfig_tagFormats() {
	for _, f := range []clientlib.TagFormat{clientlib.DogStatsD, clientlib.InfluxDB, clientlib.Graphite} {
		c, rec := newExampleClient(clientlib.Config{TagFormat: f})
		c.Incr("hits", clientlib.Tag{"route", "/a"})
		fmt.Println(rec.Lines()[0])
	}
	// Output:
	// hits:1|c|#route:/a
	// hits,route=/a:1|c
	// hits;route=/a:1|c
}

// Middleware tags requests by the ServeMux pattern that matched, never by
// the raw path.
func ExampleClient_Middleware() {
	c, rec := newExampleClient(clientlib.Config{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user %s", r.PathValue("id"))
	})
	h := c.Middleware(mux) // http.ListenAndServe(":8080", h)

	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/1042", nil))
	s, _ := clientlibtest.Parse(rec.Packets())
	for _, x := range s {
		if x.Name == clientlib.HTTPRequests {
			fmt.Println(x.Name, x.Tags)
		}
	}
	// Output: http.requests [{method GET} {route /users/{id}} {status 2xx}]
}

// OpenDB instruments any registered database/sql driver; here SQLite from
// modernc.org/sqlite. Run the collectors in their own goroutines.
func ExampleClient_OpenDB() {
	c, rec := newExampleClient(clientlib.Config{})
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	db, err := c.OpenDB("main", "sqlite", filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go clientlib.NewDBStatsCollector(c, db, "main", 10*time.Second).Run(ctx)
	go clientlib.NewRuntimeCollector(c, 10*time.Second).Run(ctx)

	rec.Reset()
	db.Exec(`CREATE TABLE t (x INTEGER)`)
	s, _ := clientlibtest.Parse(rec.Packets())
	for _, x := range s {
		if x.Name == clientlib.DBCalls {
			fmt.Println(x.Name, x.Tags)
		}
	}
	// Output:
	// db.calls [{db main} {op connect}]
	// db.calls [{db main} {op exec}]
}

func newExampleClient(cfg clientlib.Config) (*clientlib.Client, *clientlibtest.Recorder) {
	rec := clientlibtest.NewRecorder()
	cfg.Sender, cfg.Unbuffered = rec, true
	c, err := clientlib.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	return c, rec
}

// With derives a Client for one part of the program.
func ExampleClient_With() {
	c, rec := newExampleClient(clientlib.Config{Prefix: "shop"})
	payments := c.With("payments", clientlib.Tag{"provider", "acme"})
	payments.Incr("charged")
	fmt.Println(rec.Lines()[0])
	// Output: shop.payments.charged:1|c|#provider:acme
}
