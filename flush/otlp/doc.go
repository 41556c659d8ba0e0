// Package otlp is the OpenTelemetry backend (-backend otlp): every flush is
// exported as OTLP metrics, over HTTP/protobuf (-otlp-protocol http, the
// default, to http://localhost:4318/v1/metrics) or gRPC (-otlp-protocol
// grpc, to localhost:4317), built with the protocol's official generated
// types (go.opentelemetry.io/proto/otlp) and google.golang.org/grpc.
//
// It sits at the end of the pipeline (snapshot -> flush -> otlp). Flush and
// Close are called by the flush fan-out from one goroutine, never
// concurrently.
//
// # Mapping
//
//	StatsD                          OTLP
//	counter   api.req:1|c           Sum "api.req", monotonic, delta (the interval's count) or cumulative (running total, -otlp-temporality)
//	gauge     queue.depth:5|g       Gauge "queue.depth"
//	set       users:alice|s         Gauge "users": unique members in the interval
//	timer, histogram, distribution  ExponentialHistogram, delta or cumulative, scale 6 (-otlp-scale), from the sketch; min/max, sum, count; timers have unit "ms"
//	tag       #env:prod             data point attribute env="prod" (bare tag: ""; repeated keys joined with ',')
//	(agent)                         resource attributes host.name (-otlp-host), service.name ("statsd-agent"), resource_attributes
//
// Names are kept as they are (OpenTelemetry allows '.'), with the optional
// prefix. Data points are timestamped with the flush time; a delta point
// starts at the previous flush, a cumulative one when its series was first
// seen (a new start time after a restart or after -otlp-idle-timeout marks the
// reset). Sample rates weight the counts (rounded per bucket) and the sum.
// Distributions without a sketch (aggregate.Config.Sketches off) are not
// exported; they are counted and a warning is logged once.
//
// Exponential histograms are dense: each data point carries every bucket
// between its smallest and largest value, about 64 per factor of two at
// scale 6. The error bound of quantiles read from them is that of
// flush/expohist: (1+0.01)*2^(2^-scale) - 1, 2.1% at scale 6. Merging the
// histograms of many agents (a collector, or the backend's aggregation)
// adds buckets exactly.
//
// # Delivery
//
// Exports hold at most -otlp-max-data-points (2000) data points, are paced
// (-otlp-requests-per-second, 50) and delivered in order. As the OTLP
// specification says, HTTP 429, 502, 503, 504 and the gRPC codes
// Unavailable, ResourceExhausted, Aborted, OutOfRange, DataLoss,
// DeadlineExceeded and Canceled are retried with exponential backoff (0.5 s
// to 30 s, jittered, Retry-After honoured); every other failure drops the
// export and is logged once with the server's message (a google.rpc.Status
// body is decoded). A partial success is logged once and its rejected
// points counted. The queue is bounded (-otlp-queue-limit, 1,000,000 data
// points, oldest dropped first). With a spool directory (Config.SpoolDir,
// set by the agent to <state-dir>/otlp) it lives on disk instead, one
// record per export ([version 1][uvarint data points][protobuf body]),
// bounded by spool_max_bytes (64 MiB, drops counted as "spool_full"), and
// survives restarts: the next run sends it first.
//
// Metrics on /metrics: statsd_agent_otlp_exports_total{result},
// _retries_total, _data_points_sent_total, _data_points_dropped_total{reason},
// _queued_data_points, _queued_exports, _distributions_without_sketch_total.
//
// # Collector
//
// An OpenTelemetry Collector receiving from the agent and writing to
// Prometheus (native histograms) or anything else:
//
//	receivers:
//	  otlp:
//	    protocols:
//	      grpc: { endpoint: 0.0.0.0:4317 }
//	      http: { endpoint: 0.0.0.0:4318 }
//	exporters:
//	  prometheusremotewrite:
//	    endpoint: http://prometheus:9090/api/v1/write
//	service:
//	  pipelines:
//	    metrics: { receivers: [otlp], exporters: [prometheusremotewrite] }
//
//	statsd-agent -backend otlp -otlp-endpoint http://collector:4318
//	statsd-agent -backend otlp -otlp-protocol grpc -otlp-endpoint collector:4317
//
// Headers (e.g. a vendor's API key) are set in the config file,
// [otlp] headers = { "api-key" = "..." }, and never logged. The tests use
// an in-process receiver (otlptest) built from the same generated types.
package otlp
