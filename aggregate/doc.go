// Package aggregate turns parsed samples into per-interval statistics.
//
// It is the "aggregate" and "snapshot" steps of the pipeline: packet ->
// parse -> aggregate -> snapshot -> flush.
//
// # Concurrency
//
// Ingest is sharded: every input goroutine (a UDP reader, a TCP connection
// handler, the netstat probe) owns one Shard, obtained from
// Aggregator.NewShard, and adds samples to it with no lock or channel
// operation per line. A shard is locked once per batch of datagrams
// (Shard.Lock / Shard.Unlock around many Shard.Add calls); that lock is
// uncontended except for the instant Aggregator.Flush swaps the shard's maps
// for fresh ones. Flush then merges the swapped-out maps and computes the
// derived statistics outside the ingest path, so a flush never pauses ingest
// for longer than a map swap.
//
// Aggregator.Flush must not be called concurrently with itself; it is meant
// to be called by one flusher goroutine (or a test) with the flush time.
//
// # Semantics
//
// Statistics equal those of the reference StatsD server (statsd/statsd) for
// the same input, computed with the same floating-point operations in the
// same order:
//
//   - counter: count = Σ value × (1/rate); rate = count / interval seconds.
//   - gauge: a plain value replaces the gauge, a "+N"/"-N" delta is added to
//     it, in arrival order across all shards (every gauge sample takes a
//     sequence number from one atomic counter). Gauges keep their value
//     across intervals until GaugeTTL passes without an update.
//   - timer, histogram, distribution: count = Σ 1/rate, count_ps, sum,
//     sum_squares, mean, median, lower, upper, std (population), and per
//     percentile threshold count_P, mean_P, sum_P, sum_squares_P and upper_P
//     (lower_topN for a negative threshold). Up to MaxValues values per
//     series and interval are kept exactly; past that the median and the
//     percentile statistics come from a DDSketch with 1% relative accuracy,
//     and DistStats.Approximate is set. Count, sum, sum_squares, mean, lower,
//     upper and std stay exact (sum and sum_squares are then summed in
//     arrival order rather than sorted order).
//   - set: the number of unique members.
//
// # Memory
//
// Measured with 100,000 series named like "app.service.metric.N" with two
// tags, after two intervals (so both of a shard's double-buffered maps hold
// an entry): about 890 bytes per counter series, 900 per timer series
// holding one value, and 1,000 per gauge series (which also has carried
// state). A distribution series adds 8 bytes per value received in the
// interval, up to MaxValues (80 KiB at the default 10,000), and past that a
// DDSketch of a few KiB whatever the number of values. An idle series is
// evicted from the shards after two idle intervals.
//
// # Cardinality budgets
//
// With MaxSeries or MaxSeriesPerName set, a new series beyond a budget is
// folded into the OverflowName series of its type, so totals stay right;
// Overflow reports how many series and samples were folded and the metric
// names that caused it.
//
// # Client timestamps
//
// A sample carrying a DogStatsD v1.3 "|T" timestamp is aggregated into the
// open interval, unless the timestamp is older than that interval's start
// minus Config.Lateness (default: one interval): such a late sample is
// dropped and counted (Aggregator.Late), since its interval was already
// flushed. Timestamps in the future count for the open interval.
//
// # Idle series
//
// By default a counter, timer or set that received nothing in an interval is
// not emitted (IdleDelete). With IdleZero it is emitted with zero values (the
// reference server's default) until IdleTTL passes since its last sample.
// Gauges are emitted with their last value until GaugeTTL (default 5
// minutes) passes without an update; a negative GaugeTTL keeps them forever.
package aggregate
