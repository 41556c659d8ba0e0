package netuitive_test

import (
	"testing"

	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/flushtest"
	"github.com/statsd-agent/statsd-agent/flush/netuitive"
	"github.com/statsd-agent/statsd-agent/flush/netuitive/netuitivetest"
)

func TestConformance(t *testing.T) {
	newBackend := func(t *testing.T, url string) flush.Backend {
		b, err := netuitive.New(netuitive.Config{URL: url + "/ingest", APIKey: netuitive.NewSecret("KEY"),
			ElementID: "conformance", PostsPerMinute: -1}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flushtest.Run(t, flushtest.Options{
		New: func(t *testing.T) flush.Backend {
			srv := netuitivetest.NewServer("KEY")
			t.Cleanup(srv.Close)
			return newBackend(t, srv.HTTP.URL)
		},
		NewStuck: func(t *testing.T) flush.Backend { return newBackend(t, flushtest.HangingServer(t)) },
	})
}
