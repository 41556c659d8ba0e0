// Package promexport is the pull-mode counterpart of flush/remotewrite: a
// flush.Backend that keeps the latest aggregated series and an
// http.Handler that serves them at /metrics/series for a Prometheus server
// to scrape.
//
// The series and their names and labels are those of flush/promseries
// (counters as running totals, gauges, sets as gauges, distributions as
// native histograms with _sum and _count, percentile gauges). The handler
// negotiates the format: Prometheus with native histograms enabled asks
// for the protobuf exposition format and gets the native histograms; the
// text format (curl, older servers) carries their count and sum (and a
// single le="+Inf" bucket). Series carry no timestamps: Prometheus stamps
// them at scrape time, so scrape at the flush interval or faster.
//
// Flush is called by the flush fan-out (never concurrently); ServeHTTP may
// be called concurrently with it and with itself: each Flush replaces an
// immutable set of metric families under a lock.
package promexport

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/duration"
	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/flush/promseries"
)

// Path is where the lead mounts Handler on the agent's HTTP endpoint.
const Path = "/metrics/series"

// Config configures the pull-mode exporter. The zero value means the
// documented defaults.
type Config struct {
	// Prefix is prepended to every metric name; "" means none.
	Prefix string `toml:"prefix"`
	// Host is the value of the host label; "" means the host name.
	// NoHostLabel leaves it out; HostLabel renames it ("" means "host").
	// Scraped series also get Prometheus' own instance and job labels.
	Host        string `toml:"host"`
	HostLabel   string `toml:"host_label"`
	NoHostLabel bool   `toml:"no_host_label"`
	// Labels are added to every series.
	Labels map[string]string `toml:"labels"`
	// Schema is the native histogram schema, -4..8; unset means 6.
	Schema *int32 `toml:"schema"`
	// NoPercentiles leaves out the <name>_quantile gauges.
	NoPercentiles bool `toml:"no_percentiles"`
	// TimersInSeconds converts timer values from milliseconds to seconds
	// (Prometheus' base unit, statsd_exporter's default); names stay.
	TimersInSeconds bool `toml:"timers_in_seconds"`
	// IdleTimeout: how long an absent counter or histogram stays exposed
	// with its last total; 0 means 10m.
	IdleTimeout Duration `toml:"idle_timeout"`
}

// Duration is a time.Duration written as a string ("10s", "2m") in TOML
// and on flags (package duration).
type Duration = duration.Duration

// RegisterFlags registers the settings as -promexport-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Prefix, "promexport-prefix", c.Prefix, "`prefix` of every metric name on "+Path)
	fs.StringVar(&c.Host, "promexport-host", c.Host, "host label value on "+Path+" (default: the host name)")
	fs.BoolVar(&c.NoHostLabel, "promexport-no-host-label", c.NoHostLabel, "no host label on "+Path)
	fs.Func("promexport-schema", "native histogram `schema` -4..8 on "+Path+" (default 6)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return err
		}
		s := int32(n)
		c.Schema = &s
		return nil
	})
	fs.BoolVar(&c.TimersInSeconds, "promexport-timers-in-seconds", c.TimersInSeconds, "convert timer values from milliseconds to seconds")
	fs.BoolVar(&c.NoPercentiles, "promexport-no-percentiles", c.NoPercentiles, "no <name>_quantile gauges on "+Path)
}

// Exporter keeps the latest series for scraping. It implements
// flush.Backend, flush.Named and http.Handler.
type Exporter struct {
	conv *promseries.Converter
	log  *slog.Logger

	mu       sync.RWMutex
	families []*dto.MetricFamily

	updates prometheus.Counter
	series  prometheus.Gauge
	dups    prometheus.Counter
	warned  bool
}

// New returns an Exporter. Metrics are registered on reg unless it is nil.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Exporter, error) {
	host := ""
	if !cfg.NoHostLabel {
		host = cfg.Host
		if host == "" {
			h, err := os.Hostname()
			if err != nil {
				return nil, fmt.Errorf("promexport: no host and no host name: %w", err)
			}
			host = h
		}
	}
	conv, err := promseries.New(promseries.Options{
		Prefix: cfg.Prefix, HostLabel: cfg.HostLabel, Host: host, Labels: cfg.Labels,
		Schema: cfg.Schema, IdleTimeout: time.Duration(cfg.IdleTimeout), NoPercentiles: cfg.NoPercentiles, TimersInSeconds: cfg.TimersInSeconds,
	})
	if err != nil {
		return nil, fmt.Errorf("promexport: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Exporter{
		conv: conv,
		log:  logger.With("backend", "promexport"),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "statsd_agent_promexport_updates_total", Help: "Flushes taken over by the " + Path + " endpoint.",
		}),
		series: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "statsd_agent_promexport_series", Help: "Series exposed on " + Path + ".",
		}),
		dups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "statsd_agent_promexport_duplicates_total", Help: "StatsD series left out because another one mapped to the same Prometheus series.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{e.updates, e.series, e.dups} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("promexport: register metrics: %w", err)
			}
		}
	}
	return e, nil
}

// Name returns "promexport".
func (e *Exporter) Name() string { return "promexport" }

// Flush converts the snapshot and makes it the one served.
func (e *Exporter) Flush(_ context.Context, s *aggregate.Snapshot) error {
	res := e.conv.Convert(s)
	if res.NoSketch > 0 && !e.warned {
		e.warned = true
		e.log.Warn("distributions carry no sketch, so "+Path+" has no native histograms: turn on aggregate sketches", "series", res.NoSketch)
	}
	fams := Families(res.Series)
	e.mu.Lock()
	e.families = fams
	e.mu.Unlock()
	e.updates.Inc()
	e.series.Set(float64(len(res.Series)))
	e.dups.Add(float64(res.Duplicates))
	return nil
}

// ServeHTTP writes the latest series in the negotiated exposition format.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	e.mu.RLock()
	fams := e.families
	e.mu.RUnlock()
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			e.log.Debug("writing "+Path, "error", err)
			return
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close()
	}
}

// Families converts series (sorted by name, as promseries returns them)
// into metric families, one per name. The result shares nothing with the
// input.
func Families(series []promseries.Series) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for i := range series {
		s := &series[i]
		if len(out) == 0 || out[len(out)-1].GetName() != s.Name {
			typ := dto.MetricType_GAUGE
			switch s.Kind {
			case promseries.Counter:
				typ = dto.MetricType_COUNTER
			case promseries.Histogram:
				typ = dto.MetricType_HISTOGRAM
			}
			out = append(out, &dto.MetricFamily{Name: proto.String(s.Name), Help: proto.String(help(s.Kind)), Type: typ.Enum()})
		}
		m := &dto.Metric{}
		for _, l := range s.Labels {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(l.Name), Value: proto.String(l.Value)})
		}
		switch s.Kind {
		case promseries.Counter:
			m.Counter = &dto.Counter{Value: proto.Float64(s.Value)}
		case promseries.Gauge:
			m.Gauge = &dto.Gauge{Value: proto.Float64(s.Value)}
		case promseries.Histogram:
			m.Histogram = histogram(s)
		}
		f := out[len(out)-1]
		f.Metric = append(f.Metric, m)
	}
	return out
}

func help(k promseries.Kind) string {
	switch k {
	case promseries.Counter:
		return "StatsD counter: total since the agent started."
	case promseries.Histogram:
		return "StatsD distribution: cumulative native histogram from the agent's sketches."
	}
	return "StatsD gauge (or set: unique members per interval, or percentile of the interval)."
}

func histogram(s *promseries.Series) *dto.Histogram {
	h := &dto.Histogram{
		SampleCount: proto.Uint64(uint64(math.Round(s.Count))),
		SampleSum:   proto.Float64(s.Sum),
	}
	if s.Hist == nil {
		return h
	}
	h.SampleCount = proto.Uint64(expohist.IntCount(*s.Hist))
	h.Schema = proto.Int32(s.Hist.Schema)
	h.ZeroThreshold = proto.Float64(s.Hist.ZeroThreshold)
	h.ZeroCount = proto.Uint64(uint64(math.Round(s.Hist.ZeroCount)))
	h.PositiveSpan, h.PositiveDelta = spans(s.Hist.Positive)
	h.NegativeSpan, h.NegativeDelta = spans(s.Hist.Negative)
	if len(h.PositiveSpan)+len(h.NegativeSpan) == 0 && h.GetZeroCount() == 0 {
		// A native histogram with no buckets at all must still look
		// native to the scraper: one empty span, as client_golang does.
		h.PositiveSpan = []*dto.BucketSpan{{Offset: proto.Int32(0), Length: proto.Uint32(0)}}
	}
	return h
}

func spans(b expohist.Buckets) ([]*dto.BucketSpan, []int64) {
	sp, deltas := expohist.Spans(b)
	out := make([]*dto.BucketSpan, len(sp))
	for i, x := range sp {
		out[i] = &dto.BucketSpan{Offset: proto.Int32(x.Offset), Length: proto.Uint32(x.Length)}
	}
	return out, deltas
}

// Handler serves the Exporter set last, so that the route can be mounted
// once on the HTTP endpoint while configuration reloads replace the
// Exporter (or remove it: then it answers 404). The zero value is ready;
// Set and ServeHTTP may be called concurrently.
type Handler struct {
	e atomic.Pointer[Exporter]
}

// Set makes e the served Exporter; nil disables the route.
func (h *Handler) Set(e *Exporter) { h.e.Store(e) }

// ServeHTTP serves the current Exporter, or 404 when there is none.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := h.e.Load()
	if e == nil {
		http.Error(w, "pull mode is off: add the promexport backend (-backend promexport)", http.StatusNotFound)
		return
	}
	e.ServeHTTP(w, r)
}
