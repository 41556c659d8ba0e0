// Package monitis sends the agent's flushes to Monitis custom monitors, and
// holds the Monitis REST API client the `statsd-agent monitis` command uses.
//
// It is one of the backends at the end of the pipeline: packet -> parse ->
// aggregate -> snapshot -> flush -> monitis. The protocol is described in
// specs/monitis-api.md; monitistest is a faithful in-memory fake of it.
//
// # Client
//
// Client calls the custom monitor actions (addMonitor, editMonitor,
// deleteMonitor, getMonitors, getMonitorInfo, addResult, getMonitorResults)
// on /customMonitorApi and authToken on /api. POSTs are form-encoded with
// action, apikey, version=2 and a UTC timestamp, and are signed with the
// HMAC-SHA1 checksum (the default) or carry validation=token and an auth
// token, fetched with the secret key and replaced after 23 hours (tokens
// live 24 hours; a token the service refuses earlier is replaced once).
// GETs carry apikey, version=2 and output=JSON. Inside resultParams,
// monitorParams and results every field is percent-encoded on its own, then
// joined with ':' and ';' (spec §4.5), so any name survives. Every response
// body is parsed whatever the HTTP status; service failures are *APIError
// values carrying the service's message, and errors.Is matches ErrAuth,
// ErrNameExists and ErrMalformed. Keys are Secret values: they never appear
// in errors, logs or the -v trace. A Client is safe for concurrent use.
//
// # Backend
//
// Backend implements flush.Backend. On each Flush it encodes the snapshot
// into one result per monitor (the pure encode step, golden-tested), appends
// them to a bounded queue, and delivers the queue in flush order until it is
// empty or the flush deadline passes. Each result is an addResult whose
// checktime is the flush time in milliseconds, so results delayed by an
// outage keep their original time.
//
// The default mapping, one monitor per series:
//
//   - monitor name: the series name, then ",key=value" per tag (",key" for a
//     bare tag), e.g. "api.requests,env=prod"; characters other than letters,
//     digits, '_', '.' and '-' become '_' in names, keys and values; names
//     longer than 200 bytes are cut and end in "~" and a hash;
//   - tag: "statsd" (Config.Tag), type: "statsd";
//   - result params, by series type (Config.Stats, path.Match patterns over
//     the keys of aggregate.Series.Values): counter count, rate; gauge value;
//     set count; timer, histogram and distribution count, mean, lower,
//     upper, median and every upper_P percentile. Params are floats (data
//     type 4), named after the statistic with characters other than letters,
//     digits and '_' replaced by '_'; units are "ms" for timer values, "/s"
//     for rates and "N/A" otherwise. NaN and infinite values are skipped.
//
// Grouping (Config.Groups, -monitis-group): the series under a prefix go to
// one monitor named after the prefix; each series and statistic is one param,
// named after the rest of the series name, its tags and the statistic:
// with group "api", "api.requests" tagged env:prod becomes param
// "requests_env_prod_count" of monitor "api". The longest matching prefix
// wins.
//
// Selection: a series is sent when its name matches one of Config.Include
// (or Include is empty) and none of Config.Exclude. Patterns are path.Match
// globs, where '*' matches any run of characters except '/'.
//
// The netstat monitor: the netstat probe's series (names under the probe's
// prefix, Config.NetstatPrefix, default "netstat."; untagged) all feed one
// monitor named "netstat" (Config.NetstatMonitor; "-" turns this off and
// maps them like any series) with tag "netstat". Its params are those of the
// Monitis SDK's netstat example, tcp_packets_in, tcp_packets_out,
// udp_packets_in and udp_packets_out (from tcp.segments_in,
// tcp.segments_out, udp.datagrams_in, udp.datagrams_out), plus one param per
// other probe counter named after it ("tcp.retransmits" ->
// "tcp_retransmits"), all as integer rates per second over the interval,
// and one per probe gauge ("tcp_established") as its value. Include and
// Exclude apply to these series too (Exclude "netstat.ip*" keeps the IP
// counters out). So running the agent with the netstat probe and this
// backend feeds that monitor every interval, and it reuses (and extends) a
// monitor created by `statsd-agent monitis create-netstat netstat`.
//
// Provisioning is idempotent: the first delivery lists the existing
// monitors with getMonitors (by tag) and reuses those with the same name, so
// a restart creates no duplicates; a monitor whose name is taken under
// another tag is found by listing all monitors. A monitor that lacks a param
// a result uses (a series gained a statistic, a group gained a series) is
// extended with editMonitor, never duplicated; after a restart its params are
// read once with getMonitorInfo. A monitor deleted behind the backend's back
// is created again.
//
// Delivery: requests are paced by golang.org/x/time/rate (Config.Rate,
// default 10 per second, so at most Rate x interval monitors per flush;
// grouping helps). Network errors, 5xx and malformed responses are retried
// (Config.Retries, default 3) with exponential backoff and full jitter; when
// retries run out Monitis is deemed unreachable: the results stay queued, a
// warning is logged once, and the next Flush tries again. When the flush
// deadline comes first (many monitors, a low rate), the rest stays queued
// for the next Flush and a warning says so once. Authentication
// failures are not retried: they are logged once at Error level, naming the
// environment variables to check, and the results stay queued; the other
// backends are unaffected. The queue holds Config.QueueSize results
// (default 10000); past that the oldest are dropped, logged with the count
// and counted. A result the service refuses for its content is dropped,
// logged and counted. Close makes a last delivery attempt and reports what
// is left.
//
// Spool (Config.SpoolDir, which the agent sets to <-state-dir>/monitis):
// the queue lives on disk in a spool.Queue instead of memory, one record
// per result holding the monitor's name, tag, params, values and
// checktime, bounded by Config.SpoolMaxBytes (-spool-max-bytes, default
// 64 MiB) instead of QueueSize. Every flush's results are written (and
// fsynced once) before delivery starts, and each is acknowledged once
// Monitis has it, so an outage, a restart or a kill -9 loses nothing:
// New reopens the spool and the next Flush delivers what the previous run
// left first, in order, with the original checktime; Close keeps what is
// left (counted in statsd_agent_monitis_spooled_total, not as dropped). A
// record torn by a kill is detected and skipped, the rest kept. Delivery
// is at least once: a result sent just before a kill may be sent again.
// Past the bound the oldest results are dropped (in spool-segment steps),
// logged with the count and counted with reason "spool_full".
//
// Metrics (registered on the Registerer given to New):
// statsd_agent_monitis_requests_total{action},
// statsd_agent_monitis_failures_total{action},
// statsd_agent_monitis_retries_total, statsd_agent_monitis_queued,
// statsd_agent_monitis_delivered_total,
// statsd_agent_monitis_dropped_total{reason="queue_full"|"spool_full"|
// "rejected"|"shutdown"|"spool_error"|"corrupt"},
// statsd_agent_monitis_spooled_total (left in the spool at Close),
// statsd_agent_monitis_spool_bytes,
// statsd_agent_monitis_conflicts_total (two series mapped to one param).
//
// # Configuration
//
// Flags (Config.RegisterFlags): -monitis-url, -monitis-sandbox,
// -monitis-rate, -monitis-queue, -monitis-tag, -monitis-validation,
// -monitis-include, -monitis-exclude, -monitis-group (the last three
// repeatable). Config file keys ([monitis] table): url, sandbox, api_key,
// secret_key, validation, rate, retries, queue_size, spool_max_bytes, tag,
// include, exclude, groups, stats (a table: counter = ["count", "rate"],
// ...), netstat_monitor, netstat_prefix.
//
// Keys: MONITIS_APIKEY and MONITIS_SECRETKEY, or with -monitis-sandbox
// MONITIS_SANDBOX_APIKEY and MONITIS_SANDBOX_SECRETKEY, unless the config
// file sets api_key and secret_key. There are no key flags. The base URL is
// http://monitis.com, or http://sandbox.monitis.com with -monitis-sandbox.
//
// # Trying it without an account
//
// Start the fake service, then point the agent (or the CLI) at it with the
// spec's made-up keys:
//
//	go run ./cmd/statsd-agent monitis fake-server -addr 127.0.0.1:8080
//	# or: go run ./flush/monitis/monitistest/cmd/fake-monitis -addr 127.0.0.1:8080
//	export MONITIS_APIKEY=TESTAPIKEY1234567890ABCDEF MONITIS_SECRETKEY=TESTSECRETKEY1234567890ABC
//	go run ./cmd/statsd-agent -backend monitis -monitis-url http://127.0.0.1:8080
//	go run ./cmd/statsd-agent monitis -url http://127.0.0.1:8080 list
//	go run ./cmd/statsd-agent monitis -url http://127.0.0.1:8080 results ID
//
// (The fake accepts the keys in MONITIS_APIKEY/MONITIS_SECRETKEY when they
// are set at its start, the made-up ones otherwise.)
package monitis
