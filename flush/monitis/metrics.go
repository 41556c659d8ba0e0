package monitis

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the backend's own counters, exported on the agent's /metrics.
type metrics struct {
	requests  *prometheus.CounterVec // by action
	failures  *prometheus.CounterVec // by action
	retries   prometheus.Counter
	queued    prometheus.Gauge
	delivered prometheus.Counter
	dropped   *prometheus.CounterVec // by reason
	spooled   prometheus.Counter
	spoolSize prometheus.Gauge
	conflicts prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "statsd_agent_monitis_requests_total",
			Help: "HTTP requests sent to Monitis, by API action.",
		}, []string{"action"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "statsd_agent_monitis_failures_total",
			Help: "Failed Monitis requests (network errors, HTTP or API errors), by API action.",
		}, []string{"action"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "statsd_agent_monitis_retries_total",
			Help: "Monitis requests retried after a network error, 5xx or malformed response.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "statsd_agent_monitis_queued",
			Help: "Results (one per monitor per flush) waiting for delivery to Monitis.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "statsd_agent_monitis_delivered_total",
			Help: "Results delivered to Monitis (addResult calls that succeeded).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "statsd_agent_monitis_dropped_total",
			Help: "Results dropped: queue_full (oldest dropped past the queue bound), spool_full (oldest dropped past the spool's byte bound), rejected (refused by the service), shutdown (undelivered at exit, no spool), spool_error (could not be written to the spool), corrupt (unreadable in the spool).",
		}, []string{"reason"}),
		spoolSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "statsd_agent_monitis_spool_bytes",
			Help: "Disk space used by the spool of undelivered results (0 without -state-dir).",
		}),
		spooled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "statsd_agent_monitis_spooled_total",
			Help: "Results left undelivered at shutdown and kept in the spool, for delivery after the next start.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "statsd_agent_monitis_conflicts_total",
			Help: "Statistics skipped because two series mapped to the same monitor param.",
		}),
	}
	for _, r := range []string{"queue_full", "spool_full", "rejected", "shutdown", "spool_error", "corrupt"} {
		m.dropped.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.failures, m.retries, m.queued, m.delivered, m.dropped, m.spooled, m.spoolSize, m.conflicts} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("monitis: metrics already registered (only one Monitis backend per registry): %w", err)
			}
			return nil, fmt.Errorf("monitis: registering metrics: %w", err)
		}
	}
	return m, nil
}
