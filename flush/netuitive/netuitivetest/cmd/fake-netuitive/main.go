// Command fake-netuitive runs the fake Netuitive ingest service of package
// netuitivetest on its own, for trying the netuitive backend by hand:
//
//	fake-netuitive -addr 127.0.0.1:8000 -key demo
//
// Point a client at http://127.0.0.1:8000/ingest (optionally with a
// datasource type, .../ingest/infrastructure). Every answered request is
// logged to stderr (the key redacted) and every accepted element, event and
// check-in is printed to stdout as one JSON line. -fail makes ingest posts
// answer a status (e.g. 503, 403, 410) to watch the client's handling.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/statsd-agent/statsd-agent/flush/netuitive/netuitivetest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "listen `address`")
	keys := flag.String("key", "", "comma-separated accepted API `keys` (default: any key)")
	offset := flag.Duration("clock-offset", 0, "skew the server clock (HEAD /time) by this `duration`")
	fail := flag.Int("fail", 0, "answer every ingest post with this HTTP `status` (synthetic fault)")
	flag.Parse()
	if err := run(*addr, *keys, *offset, *fail); err != nil {
		fmt.Fprintln(os.Stderr, "fake-netuitive:", err)
		os.Exit(1)
	}
}

func run(addr, keys string, offset time.Duration, fail int) error {
	var list []string
	if keys != "" {
		list = strings.Split(keys, ",")
	}
	f := netuitivetest.New(list...)
	f.ClockOffset = offset
	f.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	enc := json.NewEncoder(os.Stdout)
	f.OnPost = func(p netuitivetest.Post) {
		for _, e := range p.Elements {
			enc.Encode(map[string]any{"element": e})
		}
		for _, e := range p.Events {
			enc.Encode(map[string]any{"event": e})
		}
		if c := p.Check; c != nil {
			enc.Encode(map[string]any{"check": map[string]any{"name": c.Name, "element": c.ElementFQN, "ttl": c.TTL.String()}})
		}
	}
	if fail != 0 {
		f.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: fail})
	}
	srv := &http.Server{Addr: addr, Handler: f, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "fake-netuitive: ingest URL http://%s/ingest\n", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
