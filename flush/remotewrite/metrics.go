package remotewrite

import "github.com/prometheus/client_golang/prometheus"

// metrics are the backend's own counters, exported on /metrics with the
// prefix statsd_agent_remotewrite_.
type metrics struct {
	requests   *prometheus.CounterVec // result
	retries    prometheus.Counter
	sent       prometheus.Counter
	dropped    *prometheus.CounterVec // reason
	queued     prometheus.Gauge
	queuedReqs prometheus.Gauge
	encodeSecs prometheus.Histogram
}

func newMetrics() *metrics {
	const ns = "statsd_agent_remotewrite_"
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "requests_total",
			Help: "Remote-write requests sent, by result (ok, network, server, rejected).",
		}, []string{"result"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "retries_total",
			Help: "Remote-write requests scheduled for another attempt after a network error, 5xx or 429.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "series_sent_total",
			Help: "Time series (one sample each) accepted by the remote-write endpoint.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "series_dropped_total",
			Help: "Time series given up, by reason (overflow: queue full, rejected: 4xx answer, closed: undelivered at shutdown, duplicate: two StatsD series mapped to one Prometheus series, encode).",
		}, []string{"reason"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ns + "queued_series",
			Help: "Time series waiting for delivery.",
		}),
		queuedReqs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ns + "queued_requests",
			Help: "Remote-write requests waiting for delivery.",
		}),
		encodeSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    ns + "encode_seconds",
			Help:    "Time to convert and encode one flush.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8),
		}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.requests, m.retries, m.sent, m.dropped, m.queued, m.queuedReqs, m.encodeSecs} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
