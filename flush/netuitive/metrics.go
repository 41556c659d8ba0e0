package netuitive

import "github.com/prometheus/client_golang/prometheus"

// metrics are the backend's own counters, exported on /metrics with the
// prefix statsd_agent_netuitive_.
type metrics struct {
	posts     *prometheus.CounterVec // endpoint
	failures  *prometheus.CounterVec // endpoint, reason
	retries   prometheus.Counter
	delivered *prometheus.CounterVec // item
	dropped   *prometheus.CounterVec // item, reason
	queued    *prometheus.GaugeVec   // item
	stopped   prometheus.Gauge
	splits    prometheus.Counter
	// The spool (Config.SpoolDir).
	spooled      prometheus.Counter
	spoolBytes   prometheus.Gauge
	spoolPosts   prometheus.Gauge
	spoolCorrupt prometheus.Counter
}

func newMetrics() *metrics {
	const ns = "statsd_agent_netuitive_"
	return &metrics{
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "posts_total",
			Help: "HTTP requests sent to Netuitive, by endpoint (ingest, events, check).",
		}, []string{"endpoint"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "post_failures_total",
			Help: "Netuitive requests that failed, by endpoint and reason (network, server, rejected, refused, stop).",
		}, []string{"endpoint", "reason"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "retries_total",
			Help: "Netuitive posts scheduled for another attempt after a network error, 5xx, 408 or 429.",
		}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "delivered_total",
			Help: "Samples and events accepted by Netuitive (202), by item (samples, events).",
		}, []string{"item"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: ns + "dropped_total",
			Help: "Samples, events and posts given up, by item (samples, events; posts for whole spooled posts) and reason (invalid, overflow, rejected, stopped, closed; with a spool: spool_full, spool_error, corrupt).",
		}, []string{"item", "reason"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: ns + "queued",
			Help: "Samples and events waiting for delivery in memory, by item (samples, events); with a spool, those of the post being delivered (see spool_posts).",
		}, []string{"item"}),
		splits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "post_splits_total",
			Help: "Posts split in two after Netuitive refused them as too large (413).",
		}),
		spooled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "spooled_total",
			Help: "Posts left undelivered at shutdown and kept in the spool for delivery after the next start.",
		}),
		spoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ns + "spool_bytes",
			Help: "Disk space used by the spool of undelivered posts (0 without a state directory).",
		}),
		spoolPosts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ns + "spool_posts",
			Help: "Posts waiting for delivery in the spool (0 without a state directory).",
		}),
		spoolCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: ns + "spool_corrupt_bytes_total",
			Help: "Bytes of the spool discarded as torn or corrupt (a write cut short by a crash); the intact posts around them are kept.",
		}),
		stopped: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: ns + "stopped",
			Help: "1 when Netuitive answered 410 or 418 (the vendor clients' kill switch) and posting stopped.",
		}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.posts, m.failures, m.retries, m.delivered, m.dropped, m.queued, m.stopped, m.splits,
		m.spooled, m.spoolBytes, m.spoolPosts, m.spoolCorrupt} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
