package otlp

import "github.com/prometheus/client_golang/prometheus"

// metrics are the backend's own counters, exported on /metrics with the
// prefix statsd_agent_otlp_.
type metrics struct {
	exports    *prometheus.CounterVec // result
	retries    prometheus.Counter
	sent       prometheus.Counter
	dropped    *prometheus.CounterVec // reason
	queued     prometheus.Gauge
	queuedReqs prometheus.Gauge
	noSketch   prometheus.Counter
}

func newMetrics() *metrics {
	const ns = "statsd_agent_otlp_"
	return &metrics{
		exports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "exports_total",
			Help: "OTLP export requests, by result (ok, partial: accepted with rejected data points, retryable, rejected).",
		}, []string{"result"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "retries_total",
			Help: "OTLP exports scheduled for another attempt after a retryable failure.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "data_points_sent_total",
			Help: "Data points accepted by the OTLP endpoint.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "data_points_dropped_total",
			Help: "Data points given up, by reason (overflow: queue full, rejected: non-retryable answer or partial success, closed: undelivered at shutdown, encode).",
		}, []string{"reason"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ns + "queued_data_points",
			Help: "Data points waiting for delivery.",
		}),
		queuedReqs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ns + "queued_exports",
			Help: "Export requests waiting for delivery.",
		}),
		noSketch: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "distributions_without_sketch_total",
			Help: "Distributions not exported because they carried no sketch (turn on aggregate sketches).",
		}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.exports, m.retries, m.sent, m.dropped, m.queued, m.queuedReqs, m.noSketch} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
