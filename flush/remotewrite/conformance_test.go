package remotewrite_test

import (
	"testing"

	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/flushtest"
	"github.com/statsd-agent/statsd-agent/flush/remotewrite"
	"github.com/statsd-agent/statsd-agent/flush/remotewrite/remotewritetest"
)

func TestConformance(t *testing.T) {
	newBackend := func(t *testing.T, url string) flush.Backend {
		b, err := remotewrite.New(remotewrite.Config{URL: url, RequestsPerSecond: -1}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flushtest.Run(t, flushtest.Options{
		New: func(t *testing.T) flush.Backend {
			rcv := remotewritetest.NewReceiver()
			t.Cleanup(rcv.Close)
			return newBackend(t, rcv.URL())
		},
		NewStuck: func(t *testing.T) flush.Backend { return newBackend(t, flushtest.HangingServer(t)+"/api/v1/write") },
	})
}
