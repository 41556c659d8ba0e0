package anomaly

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	bandLabels = []string{"series", "type", "stat"}
	descUpper  = prometheus.NewDesc("statsd_agent_anomaly_band_upper",
		"Upper edge of the learned band of normal values (baseline mean + k stddev, clamped to the valid range).", bandLabels, nil)
	descLower = prometheus.NewDesc("statsd_agent_anomaly_band_lower",
		"Lower edge of the learned band of normal values (baseline mean - k stddev, clamped to the valid range).", bandLabels, nil)
	descMean = prometheus.NewDesc("statsd_agent_anomaly_baseline_mean",
		"Learned baseline mean at the current hour of the week.", bandLabels, nil)
	descStd = prometheus.NewDesc("statsd_agent_anomaly_baseline_stddev",
		"Learned baseline standard deviation at the current hour of the week.", bandLabels, nil)
	descDeviating = prometheus.NewDesc("statsd_agent_anomaly_deviating",
		"1 while the statistic is deviating from its band, else 0.", bandLabels, nil)
	descSeries = prometheus.NewDesc("statsd_agent_anomaly_series",
		"Series statistics learned (at most max_series).", nil, nil)
	descRejected = prometheus.NewDesc("statsd_agent_anomaly_series_rejected_total",
		"Selected series statistics not learned because max_series was reached.", nil, nil)
	descEvents = prometheus.NewDesc("statsd_agent_anomaly_events_total",
		"Anomaly events raised, by kind (deviation, recovery, sudden_change).", []string{"kind"}, nil)
)

// collector exports the bands at scrape time, so the label sets are
// exactly the learned statistics (at most max_series), with no stale ones.
type collector struct{ d *Detector }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUpper, descLower, descMean, descStd, descDeviating, descSeries, descRejected, descEvents} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descSeries, prometheus.GaugeValue, float64(len(d.series)))
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(d.rejected))
	for _, kind := range []string{"deviation", "recovery", "sudden_change"} {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(d.events[kind]), kind)
	}
	seen := make(map[[3]string]bool, len(d.series))
	for _, tr := range d.series {
		lv := []string{tr.key.Series(), tr.key.Type.String(), tr.key.Stat}
		if seen[[3]string(lv)] {
			continue // a name that looks like name{tags}: never export a label set twice
		}
		seen[[3]string(lv)] = true
		p := d.paramsFor(tr)
		b := tr.b.band(&p, tr.b.Last)
		if !b.Ready {
			continue
		}
		dev := 0.0
		if tr.b.Deviating {
			dev = 1
		}
		ch <- prometheus.MustNewConstMetric(descUpper, prometheus.GaugeValue, b.Upper, lv...)
		ch <- prometheus.MustNewConstMetric(descLower, prometheus.GaugeValue, b.Lower, lv...)
		ch <- prometheus.MustNewConstMetric(descMean, prometheus.GaugeValue, b.Mean, lv...)
		ch <- prometheus.MustNewConstMetric(descStd, prometheus.GaugeValue, b.Std, lv...)
		ch <- prometheus.MustNewConstMetric(descDeviating, prometheus.GaugeValue, dev, lv...)
	}
}
