// Package remotewrite is the Prometheus remote-write backend
// (-backend remotewrite -remotewrite-url URL): every flush becomes
// remote-write 1.0 requests (protobuf from github.com/prometheus/prometheus/prompb,
// snappy-compressed) to Prometheus (--web.enable-remote-write-receiver),
// Grafana Mimir, Cortex, Thanos Receive, VictoriaMetrics or any other
// receiver, so that every host's series end up in one place with
// percentiles that stay correct across hosts.
//
// It sits at the end of the pipeline (snapshot -> flush -> remotewrite).
// Flush and Close are called by the flush fan-out from one goroutine, never
// concurrently.
//
// # Mapping
//
// The snapshot is turned into Prometheus series by flush/promseries:
//
//	StatsD                          Prometheus (remote-write)
//	counter   api.req:1|c           api_req_total                  running total since the agent started (rate() works; a restart is a counter reset)
//	gauge     queue.depth:5|g       queue_depth                    gauge
//	set       users:alice|s         users                          gauge: unique members in the interval
//	timer     lat:12|ms             lat                            native histogram, cumulative, schema 6 (from the distribution's sketch)
//	histogram, distribution         lat_count, lat_sum             classic counters (for servers without native histograms)
//	                                lat_quantile{quantile="0.9"}   gauge per configured positive percentile threshold (-percentiles), of the interval
//	tag       #env:prod             env="prod"                     label; bare tag #canary: canary="true"
//	(agent)                         host="<host name>"             -remotewrite-host, -remotewrite-host-label, -remotewrite-no-host-label
//
// Names and label names: characters outside [a-zA-Z0-9_] become '_', a
// leading digit gets a '_' in front (9lives.x -> _9lives_x); a label name
// starting with "__" gets the prefix "tag"; repeated tag keys are joined
// (env:a,env:b -> env="a,b"); a tag named like one of the agent's labels
// (host, quantile, the configured constant labels) becomes exported_<name>.
// Two StatsD series that map onto one Prometheus series are sent once and
// the other counted in statsd_agent_remotewrite_series_dropped_total{reason="duplicate"}.
// Timer values keep their unit (milliseconds) unless
// -remotewrite-timers-in-seconds converts them to seconds, Prometheus' base
// unit and statsd_exporter's default (the names stay).
//
// Metric metadata (type and help of every family: counter, gauge,
// histogram) is sent in requests of its own at the first flush and then
// every -remotewrite-metadata-interval (1m), as Prometheus does; Mimir and
// Cortex keep it for their metadata API.
//
// Counters and histograms are sent every flush with their running totals
// while they are idle, for -remotewrite-idle-timeout (default 10m), then
// forgotten. Timestamps are the flush time.
//
// # Native histograms and their error bound
//
// Each distribution's DDSketch (relative accuracy 1%, aggregate.Config.Sketches
// must be on) is converted to the native histogram buckets of the schema
// (default 6, bucket growth 2^(1/64)) by flush/expohist. A quantile that
// Prometheus' histogram_quantile reads from them is within
// (1+0.01)*2^(2^-schema) - 1 of the true value: 2.1% at schema 6, 3.2% at
// 5, 1.3% at 8. Because bucket counts add exactly, the histograms of many
// agents summed in PromQL,
//
//	histogram_quantile(0.99, sum(rate(lat[5m])))
//
// give the same buckets one agent would have built from all the samples,
// with the same bound: never the average of per-host percentiles. Without
// sketches only the classic series are sent (and a warning is logged once).
//
// # Delivery
//
// Requests hold at most -remotewrite-max-series-per-request (2000) series,
// are paced by -remotewrite-requests-per-second (50, token bucket) and
// delivered in order. Network errors, 5xx and 429 are retried with
// exponential backoff (0.5 s doubling to 30 s, jittered, Retry-After
// honoured) while the flush deadline allows and at every later flush; any
// other answer (400 out-of-order or bad data, 401, 404...) drops the request
// and is logged once with the server's message until a request succeeds.
// The queue is bounded (-remotewrite-queue-limit, 1,000,000 series): the
// oldest requests go first and are counted. Close makes a last attempt.
//
// With a spool directory (Config.SpoolDir, set by the agent to
// <state-dir>/remotewrite) the queue lives on disk (package spool), one
// record per request: [version 1][uvarint series][snappy body]. It survives
// an outage of any length up to SpoolMaxBytes (spool_max_bytes, 64 MiB), a
// restart and a kill -9; New reopens it and the next Flush delivers what
// the previous run left, in order and with its original timestamps (the
// new run's counter totals start from zero after those: a reset). Past the
// bound the oldest requests are dropped in segment steps and counted
// (reason "spool_full"). Close keeps what is left for the next start.
//
// Metrics on /metrics: statsd_agent_remotewrite_requests_total{result},
// _retries_total, _series_sent_total, _series_dropped_total{reason},
// _queued_series, _queued_requests, _encode_seconds.
//
// # Receivers
//
// Prometheus 2.40 or later (Debian 12 ships 2.42):
//
//	prometheus --web.enable-remote-write-receiver --enable-feature=native-histograms
//	statsd-agent -backend remotewrite -remotewrite-url http://prometheus:9090/api/v1/write
//
// A Prometheus 2.x without --enable-feature=native-histograms answers 500
// "native histograms are disabled" to a native histogram sample: the
// backend recognises that answer, drops the request, logs the hint once and
// sends only the classic series from then on (-remotewrite-no-native-histograms
// does so from the start).
//
// Grafana Mimir (native histograms on per tenant: native_histograms_ingestion_enabled: true):
//
//	[remotewrite]
//	url = "http://mimir:8080/api/v1/push"
//	headers = { "X-Scope-OrgID" = "team-a" }
//
// Thanos Receive:
//
//	thanos receive --remote-write.address=0.0.0.0:19291 ...
//	statsd-agent -backend remotewrite -remotewrite-url http://thanos-receive:19291/api/v1/receive
//
// Credentials: bearer_token (or $REMOTEWRITE_BEARER_TOKEN), or username and
// password (or $REMOTEWRITE_PASSWORD); they are never logged.
//
// The tests start Debian's prometheus package on loopback
// (remotewritetest.Start) and skip when it is not installed.
package remotewrite
