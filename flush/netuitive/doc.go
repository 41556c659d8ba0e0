// Package netuitive is the flush backend for the Netuitive ingest API
// (later named Metricly, then CloudWisdom; the wire protocol never
// changed), written from specs/netuitive-api.md.
//
// It sits at the end of the pipeline (packet -> parse -> aggregate ->
// snapshot -> flush): every aggregate.Snapshot becomes posts of one element
// (the host) carrying a metric and a sample per exported statistic, events
// for DogStatsD events and service checks, and a heartbeat check-in. Flush
// and Close must not be called concurrently (flush.Backend's contract); the
// backend keeps no goroutine of its own.
//
// # Delivery
//
// Flush encodes the snapshot (a pure step, golden-tested), appends the posts
// to a bounded queue and delivers the queue in order until it is empty or
// the flush deadline comes; what is left waits for the next Flush, so an
// outage loses nothing up to queue_limit and every sample keeps its
// original timestamp. Close makes a last attempt and, with queue_file set,
// saves what is left (JSON lines of encoded posts, no API key) for New to
// load on the next start. Per response:
//
//   - 202: delivered (the only success status, as in the vendor's Go client).
//   - network error, timeout, 5xx, 408, 429: the post stays at the head of
//     the queue (order is kept) and is retried with exponential backoff
//     (1 s doubling to 1 min, jittered between half and all of it, at least
//     a Retry-After of up to 1 min) while the deadline allows; every Flush
//     tries the head once at once. Flush returns an error saying how much is
//     queued.
//   - 400 and other 4xx: the post is dropped, not retried, and logged once
//     with the server's JSON detail and errors (they name the rejected field).
//   - 413 (undocumented; the service states no size limit): the post is
//     split in two and both halves are retried at once, down to one metric.
//   - 401, 403, 404: a configuration problem (bad API key, wrong URL): one
//     clear error message until posting works again; the data stays queued
//     and the head is tried once per flush. Other backends are unaffected.
//   - 410, 418: the vendor clients' kill switch: posting of metrics, events
//     and check-ins stops until restart, the queue is dropped, and this is
//     logged once and exported as statsd_agent_netuitive_stopped 1.
//
// # Spool
//
// With Config.SpoolDir (the agent sets <state-dir>/netuitive) the queue
// lives on disk in a spool.Queue instead of memory, bounded in bytes by
// spool_max_bytes (-spool-max-bytes, default 64 MiB) instead of
// queue_limit. Each post is one record: a version byte, the kind (ingest
// or events), the item count and the JSON body exactly as encoded, so a
// replayed post carries its original timestamps. Flush writes all of its
// posts to the spool and fsyncs once before sending any; delivery reads
// the oldest post (only it is held in memory, with the parts a 413 split
// it into) and acknowledges its record once it is resolved: accepted
// (202) or rejected (400 and other 4xx, counted as before). New reopens
// the spool (one Backend per directory; a second is refused) and the next
// Flush delivers what the previous run left before the new posts. Close
// makes a last attempt and leaves the rest in the spool, logged and
// counted in spooled_total (posts), not as dropped; the Backend cannot
// flush after that. A kill -9 at any moment loses nothing that Flush had
// spooled: a record torn by the kill is detected at the next start,
// logged, counted in spool_corrupt_bytes_total and skipped, and the
// intact posts around it are kept. Delivery is at least once: a post
// accepted just before a crash, not yet acknowledged, is sent again.
//
// When a new post would take the spool past its bound, the oldest posts
// are dropped (in spool segments of an eighth of the bound), logged with
// the count, counted in dropped_total{item="posts",reason="spool_full"},
// and Flush returns an error saying so. A post larger than a segment is
// split in halves (as for a 413) until it fits; one that still does not
// fit, or that cannot be written (disk full), is dropped and counted
// (reason spool_error, in samples or events). A record that passes the
// spool's checksum but does not decode (another version's) is dropped and
// counted (item posts, reason corrupt). The 410/418 kill switch empties the
// spool (item posts, reason stopped). If QueueFile is also set, SpoolDir
// wins: New moves an existing queue file into the spool (behind what is
// there) and removes it; nothing is written to QueueFile.
//
// Posts to the ingest and events endpoints are paced with a token bucket
// (golang.org/x/time/rate) at the vendor's recommended ceiling of 10
// payloads per element per minute (burst 10), configurable. Few large posts
// respect that better than many small ones, hence the large default
// max_metrics_per_post (10000 metrics, about 3.5 MB): the sustained capacity
// is posts_per_minute × max_metrics_per_post samples per minute (100,000 by
// default); beyond it the queue grows until queue_limit drops the oldest
// posts (Flush returns an error, dropped_total{reason="overflow"} counts
// them). Encoded posts take about 350 bytes per sample, so the default
// queue_limit of 500,000 holds at most about 175 MB. Bodies are not
// compressed: no vendor client compresses and the service does not document
// Content-Encoding. The first flush compares the local clock with the
// server's (HEAD /time) and warns when they differ by more than five
// minutes, since the service silently drops samples outside its time window.
//
// The API key is a path segment of every URL, so every URL in a log line or
// error is redacted ("/ingest/****"); the key's Secret type redacts itself;
// redirects are not followed (they would carry the key elsewhere).
//
// # Default mapping
//
// Metric ids are "<prefix>.<name>" followed, for each series tag in
// canonical order, by ".<key>_<value>" (".<key>" for a bare tag), with every
// character outside [a-zA-Z0-9._-] replaced by '_' (the reference client's
// rule); series that differ only by tags therefore stay distinct metrics.
// Should two series still sanitize to one id, the later gets "_2", "_3".
// Series tags also become metric tags ({name, value}, value null for a bare
// tag), after the tag statsdType = c, g, ms, h, d or s. Every sample is
// stamped with the flush time in epoch milliseconds.
//
//	StatsD type        metric id            sample                                   unit  sparseDataStrategy
//	counter c          <id>                 val = count (sum of value/rate)          ""    ReplaceWithZero
//	gauge g            <id>                 val = value (kept across intervals)      ""    None
//	set s              <id>                 val = unique members                     ""    ReplaceWithZero
//	timer ms           <id>                 min, max, avg, sum, cnt                  ms    None
//	                   <id>.median          val = median                             ms    None
//	                   <id>.upper_P         val = P-th percentile (P = 90, 99_9 ...) ms    None
//	                   <id>.lower_topN      val for a negative threshold -N          ms    None
//	histogram h,       as timer             as timer                                 ""    None
//	distribution d
//
// Every metric has Netuitive type GAUGE: each sample is a complete value for
// its interval. COUNTER would tell the service the value is a raw
// cumulative counter to differentiate, which a per-interval count is not.
// Counters and sets use ReplaceWithZero because an interval without a
// sample counted nothing; a gauge or distribution without a sample has no
// value to invent. For distributions, min/max/avg are the interval's
// lower/upper/mean and cnt the count scaled by the sample rate; sum is
// scaled too (mean × count) so that avg = sum/cnt holds in the service's
// rollups. val is not sent with them (the docs say: val alone, or all five).
// A distribution with no values in the interval sends nothing. A series with
// a NaN or infinite value is dropped and counted (JSON cannot carry it).
//
// Events: a DogStatsD event becomes an event of type INFO with its title,
// text (data.message), time (date_happened, else the flush time), element
// (its hostname, else the configured element), level from alert_type (error
// -> CRITICAL, warning -> WARNING, else INFO), source = source_type_name or
// "statsd-agent", and tags: its own tags, then priority, aggregation_key,
// source_type_name and alert_type when set. A service check becomes an
// event titled "<name> - <STATUS>" with level INFO (OK), WARNING (WARNING
// and UNKNOWN) or CRITICAL, message m:, tags check and status. Events are
// posted in batches of up to max_metrics_per_post.
//
// Heartbeat: every Flush posts the check-in
// /check/{key}/{check_name}/{element}/{ttl} with ttl = check_ttl, by
// default three flush intervals (the longest interval seen, so the short
// final flush on shutdown does not shorten it: a restart raises no alarm),
// so the service notices a dead agent after about three missed flushes. It is sent before the data (pacing
// never delays it) and is not queued: a late heartbeat means nothing.
//
// # How this differs from netuitive-statsd
//
// netuitive-statsd (spec section 8) multiplies counter values by the sample
// rate instead of dividing (x|c|@0.1 counts 0.1x); merges series with the
// same name and different tags into one metric whose tags are the first
// line's; sends no percentiles, median or rates; ignores sample rates of
// timers; reports timers with val = sum next to the five aggregates; sends
// nothing for an idle gauge (no carried value); rejects a whole datagram
// with a distribution or a non-numeric set member; derives the event level
// from the priority (normal/low), so every event is INFO; and posts each
// event on its own.
//
// # netuitive-statsd mapping (mapping = "netuitive-statsd")
//
// For users migrating from netuitive-statsd, this reproduces its payloads
// as far as the snapshot allows: metric id "<prefix>.<name>" (its name
// rule: whitespace runs and '/' to '_', one leading '.' dropped, other
// invalid characters removed), no tags in the id (same-name series merge:
// counts and set sizes add up, a gauge takes the later value, distributions
// combine; the first series' tags win), type GAUGE, tag statsdType first;
// counters, gauges and sets send val; timers, histograms and distributions
// send val = sum, min, max, avg, sum and cnt = the number of values
// received (unscaled), no percentiles; the reserved tags h (the metric's
// element, created with the configured type), ty (that element's type, tag
// dropped), un (unit), sds (sparseDataStrategy, default "None") and v
// (element tag app.version, tag dropped); events with source
// "netuitive-statsd", level from the priority, extra tags priority,
// date_happened, aggregation_key, source_type_name, alert_type, whole-second
// flush time, one event per post; service checks as events titled
// "<name> - <STATUS>" with tag priority = status. What it cannot reproduce:
// counters stay divided by the sample rate (the snapshot has only the
// correct count), gauges and counters carry no min/max/avg/cnt of the raw
// lines, idle gauges keep being sent (the aggregator carries them), and the
// statsd.netuitive-statsd.* internal metrics are not sent (the agent
// exports its own on /metrics).
//
// # Configuration
//
// TOML keys (Config fields) and flags; the zero value means the default:
//
//	url                   -netuitive-url                   https://api.app.netuitive.com/ingest
//	api_key               (NETUITIVE_API_KEY)              required; never logged
//	element_id            -netuitive-element-id            the host name
//	element_name          -netuitive-element-name          the element id
//	element_type          -netuitive-element-type          SERVER
//	location                                               none
//	tags, attributes      (tables of strings)              none
//	mapping               -netuitive-mapping               default (or netuitive-statsd)
//	prefix                -netuitive-prefix                statsd
//	no_prefix             -netuitive-no-prefix             false
//	max_metrics_per_post  -netuitive-max-metrics-per-post  10000
//	posts_per_minute      -netuitive-posts-per-minute      10 (negative: unpaced)
//	timeout               -netuitive-timeout               10s per request
//	queue_limit           -netuitive-queue-limit           500000 samples and events
//	queue_file            -netuitive-queue-file            none (undelivered posts kept across restarts)
//	spool_max_bytes       (-spool-max-bytes)               64 MiB, with the agent's -state-dir (see Spool)
//	check_name            -netuitive-check-name            statsd-agent
//	check_ttl             -netuitive-check-ttl             3 flush intervals
//	no_check_in           -netuitive-no-check-in           false
//
// The URL may carry a datasource-type segment (".../ingest/infrastructure",
// the Linux agent's); the events and check-in URLs are derived from it as the
// vendor clients do. Metricly accounts use https://api.app.metricly.com/ingest,
// CloudWisdom accounts https://api.us.cloudwisdom.virtana.com/ingest.
//
// # Metrics
//
// On the given prometheus.Registerer: statsd_agent_netuitive_posts_total
// {endpoint}, _post_failures_total{endpoint,reason}, _retries_total,
// _delivered_total{item}, _dropped_total{item,reason} (item samples or
// events, reason invalid, overflow, rejected, stopped, closed, spool_error;
// item posts, reason spool_full, corrupt, stopped), _queued{item} (in
// memory: with a spool, the post being delivered), _post_splits_total,
// _stopped, and for the spool _spool_posts, _spool_bytes (disk use),
// _spooled_total (posts left at Close) and _spool_corrupt_bytes_total.
//
// # Trying it
//
// Run the fake ingest service and point the agent at it:
//
//	go run ./flush/netuitive/netuitivetest/cmd/fake-netuitive -addr 127.0.0.1:8000 -key demo
//	NETUITIVE_API_KEY=demo statsd-agent -backend netuitive -netuitive-url http://127.0.0.1:8000/ingest
//
// The fake prints every post it accepts; see package netuitivetest.
package netuitive
