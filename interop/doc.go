// Package interop checks statsd-agent against real StatsD client libraries.
//
// For each of five widely used clients (Go: cactus/go-statsd-client v5,
// once unbuffered and once with its buffered sender packing lines into
// multi-metric datagrams; Python: jsocol/pystatsd; Ruby: statsd-ruby;
// Node: hot-shots; Perl: Net::Statsd) a small program under clients/ sends
// one fixed workload through that client's public API: counters (increment, add, decrement and
// one call at sample rate 0.1), gauges (set, positive and negative delta,
// and the client's way of setting a negative value), timers (1..10 ms and
// one value at rate 0.1), sets, and tags where the client has them. Every
// client samples randomly, so each program forces its sampler to "send"
// (documented in the program): the rate-0.1 lines carry "|@0.1" and nothing
// is dropped on the client.
//
// The tests run each program twice, bounded by a timeout:
//
//   - against a plain UDP socket, recording the datagrams the client sends;
//     they must equal testdata/<client>.golden, so the clients' wire formats
//     (float timers, "|@0.100000", multi-metric datagrams, tag styles) are
//     visible and changes in a client are noticed. Run
//     `go test ./interop -update` to rewrite the golden files;
//   - against a fresh in-process agent (one UDP reader, so lines are applied
//     in arrival order as the single-threaded reference server applies
//     them), which then flushes once. Every line must parse (no invalid
//     line of any reason) and every series must equal, value for value,
//     what the reference server (statsd/statsd) computes for the same
//     packets: counter count and rate, timer count, count_ps, sum,
//     sum_squares, mean, median, lower, upper, std and the 90th percentile's
//     count, mean, sum, sum_squares and upper, gauge values with delta
//     semantics, set cardinality. The expected values are written from the
//     reference algorithm (specs/statsd-protocol.md R3.x), not from our
//     output. Where the agent deliberately differs from the reference
//     (canonical tags, name-embedded tag styles) the test asserts the
//     documented behaviour and says so.
//
// TestReferenceServer checks the expectations themselves: opt-in (set
// STATSD_REFERENCE to the reference server's stats.js, e.g. from
// `npm install statsd`), it replays every golden file into the real
// reference server and compares its graphite output with the same expected
// values, rewritten only where the agent diverges on purpose.
// TestReferenceLines, opt-in the same way, sends edge-case lines on which
// the agent promises parity to both servers and compares the flushes.
//
// A test skips, saying what is missing, when its language runtime or client
// library is not installed, so `go test ./...` passes anywhere. CI installs:
//
//	apt-get install -y python3-statsd libnet-statsd-perl ruby ruby-statsd
//	(cd interop/clients/node && npm ci --omit=optional --no-audit --no-fund)
//
// (node and npm come with the nodejs package; the Go client needs only the
// module's own dependencies.)
//
// The package has no non-test code besides this comment.
package interop
