package jsonl_test

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/flushtest"
	"github.com/statsd-agent/statsd-agent/flush/jsonl"
)

func TestConformance(t *testing.T) {
	t.Run("stdout", func(t *testing.T) {
		flushtest.Run(t, flushtest.Options{New: func(t *testing.T) flush.Backend { return jsonl.New(io.Discard) }})
	})
	t.Run("file", func(t *testing.T) {
		flushtest.Run(t, flushtest.Options{New: func(t *testing.T) flush.Backend {
			b, err := jsonl.Open(filepath.Join(t.TempDir(), "out.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}})
	})
	t.Run("discard", func(t *testing.T) {
		flushtest.Run(t, flushtest.Options{New: func(t *testing.T) flush.Backend { return flush.Discard{} }})
	})
}
