// Package clientlib is a StatsD client for Go applications that report to a
// statsd-agent (or any StatsD / DogStatsD server) running beside them.
//
// It sits in front of the pipeline: application -> clientlib -> UDP ->
// agent. It is built on github.com/cactus/go-statsd-client/v5: that library's
// Sender interface, its UDP and buffered senders and its tag formats are used
// as they are, and anything implementing statsd.Sender (for example the
// recorder in clientlibtest) can stand in for the network.
//
// The shape follows cactus' client: one concrete *Client made by New from a
// Config whose zero value means the documented defaults, and a nil *Client
// that is a valid no-op, so instrumented code never needs a guard:
//
//	var c *clientlib.Client // nil: every call does nothing
//	c.Incr("jobs.started")
//
// Client.With derives a Client that adds a name prefix and tags, sharing the
// parent's connection (cactus' NewSubStatter).
//
// Besides counters, gauges, timers, histograms, distributions and sets, the
// package instruments the usual places of a service:
//
//   - Middleware: net/http requests by route pattern, method and status class.
//   - WrapConnector and OpenDB: database/sql operations through any driver;
//     DBStatsCollector: the pool's sql.DBStats on an interval.
//   - RuntimeCollector: memory, GC and goroutines from runtime/metrics.
//
// # Concurrency
//
// A Client is safe for concurrent use by any number of goroutines. A metric
// call never waits for the agent and never panics: it formats one line into a
// pooled buffer (no allocation) and hands it to the sender. With the default
// buffered sender (cactus' BufferedSender) that is an append under a mutex;
// lines are packed into datagrams of at most FlushBytes and sent by a
// background goroutine at least every FlushInterval, and Close sends what is
// buffered. (The one wait left is cactus' own back-pressure: if 32 full
// datagrams are queued because the sending goroutine got no CPU, a call
// waits for the queue to move. Unbuffered, a call is one UDP write, which
// the kernel takes or drops.) StatsD is fire-and-forget UDP: with no agent
// listening, metrics are lost without an error.
//
// Errors (a call on a closed Client, a failed send, an invalid name, tag or
// value) are counted, see Client.Errors, and passed to Config.OnError if set;
// they are never printed. An invalid call sends nothing.
//
// # Wire format
//
// A call produces one line "name:value|type[|@rate][|#tags]" (DogStatsD tags,
// the default), "name,k=v:value|type" (InfluxDB) or "name;k=v:value|type"
// (Graphite), as cactus formats them. Gauge with a negative value sends "0"
// followed by the negative delta in the same datagram, the only way StatsD
// can set a gauge below zero.
package clientlib
