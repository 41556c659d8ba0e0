// Package flush fans each interval's aggregate.Snapshot out to the backends.
//
// It is the last step of the pipeline: packet -> parse -> aggregate ->
// snapshot -> flush. Every backend runs in its own goroutine with its own
// bounded queue and a per-flush deadline, so a slow or failing backend never
// delays ingest, another backend or the next interval.
package flush

import (
	"context"

	"github.com/statsd-agent/statsd-agent/aggregate"
)

// Backend sends one flush worth of series somewhere.
//
// Flush is never called concurrently for the same Backend. The snapshot is
// shared with other backends and must not be modified. ctx carries the
// per-flush deadline; a Backend returns promptly when it is done. An error
// is counted and logged by the caller (rate-limited); a backend that keeps
// its own retry queue returns nil once the snapshot is safely queued.
type Backend interface {
	Flush(ctx context.Context, s *aggregate.Snapshot) error
}

// Closer is implemented by backends that hold resources or queues: Close is
// called once after the final Flush, with a deadline for draining queued data.
type Closer interface {
	Close(ctx context.Context) error
}

// Named is implemented by backends that have a name for logs and metrics
// (e.g. "stdout", "monitis"); others are named by their position.
type Named interface {
	Name() string
}

// Processor inspects or amends a snapshot before it is shared with the
// backends, e.g. to add events (anomaly detection) or derived series.
// Process is called from the flusher goroutine only, once per snapshot, in
// the order the processors were configured; the snapshot is not yet shared,
// so Process may append to its Series and Events. It must be fast: it
// delays every backend.
type Processor interface {
	Process(s *aggregate.Snapshot)
}
