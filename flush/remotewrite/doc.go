// Package remotewrite is the Prometheus remote-write backend: every flush
// becomes remote-write 1.0 requests (protobuf, snappy-compressed) to
// Prometheus (--web.enable-remote-write-receiver), Grafana Mimir, Cortex,
// Thanos Receive, VictoriaMetrics or any other receiver, so that every
// host's series end up in one place with percentiles that stay correct
// across hosts.
//
// See flush/promseries for the mapping of StatsD series to Prometheus
// series and docs/fleet.md for setting up the receivers.
package remotewrite
