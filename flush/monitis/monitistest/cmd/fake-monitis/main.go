// Command fake-monitis serves the in-memory fake of the Monitis custom
// monitor API (package monitistest), to try statsd-agent's Monitis backend
// and CLI without an account:
//
//	go run ./flush/monitis/monitistest/cmd/fake-monitis -addr 127.0.0.1:8080
//
// It accepts the made-up keys of the API spec's worked example,
// TESTAPIKEY1234567890ABCDEF / TESTSECRETKEY1234567890ABC, unless
// MONITIS_APIKEY and MONITIS_SECRETKEY are set, in which case it accepts
// those. Point the agent at it with -monitis-url http://127.0.0.1:8080.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/statsd-agent/statsd-agent/flush/monitis/monitistest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	quiet := flag.Bool("q", false, "do not log requests")
	flag.Parse()
	opts := monitistest.Options{}
	if k, s := os.Getenv("MONITIS_APIKEY"), os.Getenv("MONITIS_SECRETKEY"); k != "" && s != "" {
		opts.Accounts = map[string]string{k: s}
	}
	if !*quiet {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := monitistest.Run(ctx, *addr, opts, func(a net.Addr) {
		fmt.Fprintf(os.Stderr, "fake-monitis: serving on http://%s (Ctrl-C to stop)\n", a)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake-monitis: %v\n", err)
		os.Exit(1)
	}
}
