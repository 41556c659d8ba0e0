package promexport_test

import (
	"testing"

	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/flushtest"
	"github.com/statsd-agent/statsd-agent/flush/promexport"
)

func TestConformance(t *testing.T) {
	flushtest.Run(t, flushtest.Options{New: func(t *testing.T) flush.Backend {
		e, err := promexport.New(promexport.Config{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}})
}
