// Command webapp is a small web application instrumented with clientlib, to
// run next to statsd-agent and watch its metrics arrive.
//
// It serves a page with a login form and a login endpoint backed by SQLite
// (modernc.org/sqlite, pure Go), and sends to the agent:
//
//   - http.requests, http.request.duration, http.requests.in_flight and
//     http.panics from clientlib's middleware, by route pattern;
//   - db.calls, db.errors and db.duration per SQL operation, and the pool's
//     db.pool.* gauges;
//   - runtime.* memory, GC and goroutine metrics;
//   - its own login.attempts counter (tagged result), login.users set and
//     login.check timer.
//
// Usage:
//
//	go run ./cmd/statsd-agent            # in one terminal
//	go run ./examples/webapp             # in another
//	open http://127.0.0.1:8080/ and log in as demo / demo
//
// Flags: -listen, -statsd, -prefix, -db, -interval. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/statsd-agent/statsd-agent/clientlib"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

// run parses args, serves until ctx ends and shuts down. ready, if not nil,
// receives the listen address once the server accepts connections.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- net.Addr) error {
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP listen address")
	statsdAddr := fs.String("statsd", clientlib.DefaultAddress, "StatsD agent UDP address")
	prefix := fs.String("prefix", "webapp", "metric name prefix")
	dbPath := fs.String("db", "", "SQLite database file (default: a new file in a temporary directory)")
	interval := fs.Duration("interval", 10*time.Second, "how often pool and runtime metrics are sent")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	c, err := clientlib.New(clientlib.Config{
		Address: *statsdAddr,
		Prefix:  *prefix,
		// Errors are counted; log the first few so a misconfiguration shows.
		OnError: firstErrors(log, 5),
	})
	if err != nil {
		return err
	}
	defer c.Close()

	if *dbPath == "" {
		dir, err := os.MkdirTemp("", "webapp")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*dbPath = filepath.Join(dir, "webapp.db")
	}
	a, err := newApp(ctx, c, *dbPath)
	if err != nil {
		return err
	}
	defer a.db.Close()

	collectCtx, stopCollect := context.WithCancel(ctx)
	defer stopCollect()
	go clientlib.NewRuntimeCollector(c, *interval).Run(collectCtx)
	go clientlib.NewDBStatsCollector(c, a.db, "users", *interval).Run(collectCtx)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("webapp serving", "url", "http://"+ln.Addr().String()+"/", "statsd", *statsdAddr, "prefix", *prefix, "login", "demo/demo")
	if ready != nil {
		ready <- ln.Addr()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("webapp stopped", "metric_errors", c.Errors())
	return nil
}

// firstErrors returns an OnError callback that logs the first n errors.
func firstErrors(log *slog.Logger, n int) func(error) {
	sem := make(chan struct{}, n)
	return func(err error) {
		select {
		case sem <- struct{}{}:
			log.Warn("metrics", "err", err)
		default:
		}
	}
}
