package otlp_test

import (
	"testing"

	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/flushtest"
	"github.com/statsd-agent/statsd-agent/flush/otlp"
	"github.com/statsd-agent/statsd-agent/flush/otlp/otlptest"
)

func TestConformance(t *testing.T) {
	newBackend := func(t *testing.T, cfg otlp.Config) flush.Backend {
		cfg.RequestsPerSecond = -1
		b, err := otlp.New(cfg, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	receiver := func(t *testing.T) *otlptest.Receiver {
		rcv, err := otlptest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rcv.Close)
		return rcv
	}
	t.Run("http", func(t *testing.T) {
		flushtest.Run(t, flushtest.Options{
			New: func(t *testing.T) flush.Backend { return newBackend(t, otlp.Config{Endpoint: receiver(t).HTTPURL()}) },
			NewStuck: func(t *testing.T) flush.Backend {
				return newBackend(t, otlp.Config{Endpoint: flushtest.HangingServer(t) + "/v1/metrics"})
			},
		})
	})
	t.Run("grpc", func(t *testing.T) {
		flushtest.Run(t, flushtest.Options{New: func(t *testing.T) flush.Backend {
			return newBackend(t, otlp.Config{Protocol: "grpc", Endpoint: receiver(t).GRPCAddr()})
		}})
	})
}
