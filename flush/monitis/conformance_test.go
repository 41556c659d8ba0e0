package monitis_test

import (
	"testing"

	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/flushtest"
	"github.com/statsd-agent/statsd-agent/flush/monitis"
	"github.com/statsd-agent/statsd-agent/flush/monitis/monitistest"
)

func TestConformance(t *testing.T) {
	newBackend := func(t *testing.T, url string) flush.Backend {
		b, err := monitis.New(monitis.Config{URL: url, Rate: 1000, Retries: -1,
			APIKey: monitis.NewSecret(monitistest.DefaultAPIKey), SecretKey: monitis.NewSecret(monitistest.DefaultSecretKey)}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flushtest.Run(t, flushtest.Options{
		New: func(t *testing.T) flush.Backend {
			srv := monitistest.NewServer(monitistest.Options{})
			t.Cleanup(srv.Close)
			return newBackend(t, srv.URL)
		},
		NewStuck: func(t *testing.T) flush.Backend { return newBackend(t, flushtest.HangingServer(t)) },
	})
}
