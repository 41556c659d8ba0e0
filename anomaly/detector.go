package anomaly

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// SourceType is the SourceType of the events a Detector adds.
const SourceType = "anomaly"

// maxMatchCache bounds the cache of pattern matches by name and type.
const maxMatchCache = 100000

// Key names one learned series statistic.
type Key struct {
	Name string
	Type protocol.Type
	Tags string // canonical "k:v,k2" form, aggregate.Series.TagString
	Stat string // statistic key, e.g. "mean"
}

// Series returns the key's series as one label value: the name, then the
// tags in braces when there are any ("api.latency{env:prod}").
func (k Key) Series() string {
	if k.Tags == "" {
		return k.Name
	}
	return k.Name + "{" + k.Tags + "}"
}

// String returns "TYPE:SERIES:STAT", e.g. "timer:api.latency:mean".
func (k Key) String() string { return k.Type.String() + ":" + k.Series() + ":" + k.Stat }

// Verdict is the judgement on one series statistic at one flush.
type Verdict struct {
	Key       Key
	Time      time.Time
	Value     float64
	Band      Band
	Outside   bool // the value is outside the band
	Deviating bool // the series is deviating (outside for the configured duration)
	Sudden    bool // the sudden-change test fired on this value
}

type tracked struct {
	key Key
	b   baseline
}

// Detector learns a band per selected series statistic from every
// snapshot and adds deviation, recovery and sudden-change events to it. It
// implements flush.Processor; run it before any processor that reads its
// verdicts (status.Page).
//
// Process is called from one goroutine (the flusher); Verdicts, Save,
// Load and the Prometheus collector may be called concurrently with it.
type Detector struct {
	cfg    Config
	pats   []pattern
	logger *slog.Logger

	mu       sync.Mutex
	series   map[string]*tracked // by key bytes, see appendKey
	match    map[string][]int    // pattern indexes by type byte + name
	last     []Verdict
	rejected uint64
	events   map[string]uint64 // by kind
	flushes  uint64
	interval time.Duration
	buf      []byte
	vals     []aggregate.Value
	logged   int // events logged in this flush
}

// New returns a Detector for cfg (resolved with Config.Resolve). logger
// nil discards; reg nil registers no metrics. With reg, the Detector
// exports statsd_agent_anomaly_band_upper, _band_lower,
// _baseline_mean, _baseline_stddev and _deviating (labels series, type,
// stat) for every learned statistic past its warm-up, and its counters.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Detector, error) {
	cfg = cfg.Resolve()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Detector{cfg: cfg, logger: logger, series: map[string]*tracked{}, match: map[string][]int{},
		events: map[string]uint64{}}
	for _, s := range cfg.Patterns {
		p, _ := parsePattern(s)
		d.pats = append(d.pats, p)
	}
	if reg != nil {
		if err := reg.Register(collector{d}); err != nil {
			return nil, fmt.Errorf("anomaly: metrics: %w", err)
		}
	}
	return d, nil
}

// Config returns the resolved configuration.
func (d *Detector) Config() Config { return d.cfg }

// appendKey appends the map key of a series statistic: type byte, name,
// NUL, tags, NUL, stat.
func appendKey(b []byte, s *aggregate.Series, stat string) []byte {
	b = append(b, byte(s.Type))
	b = append(b, s.Name...)
	b = append(b, 0)
	for i, t := range s.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, t.Key...)
		if t.Value != "" {
			b = append(b, ':')
			b = append(b, t.Value...)
		}
	}
	b = append(b, 0)
	return append(b, stat...)
}

// patterns returns the indexes of the patterns whose type and name match
// s, cached by type and name.
func (d *Detector) patterns(s *aggregate.Series) []int {
	d.buf = append(append(d.buf[:0], byte(s.Type)), s.Name...)
	if m, ok := d.match[string(d.buf)]; ok {
		return m
	}
	var m []int
	for i, p := range d.pats {
		if (p.typ == 0 || p.typ == s.Type) && glob(p.name, s.Name) {
			m = append(m, i)
		}
	}
	if len(d.match) >= maxMatchCache {
		clear(d.match)
	}
	d.match[string(d.buf)] = m
	return m
}

func nonNegative(t protocol.Type) bool {
	return t == protocol.Counter || t == protocol.Set || t == protocol.Timer
}

// Process judges and learns every selected statistic of s and appends an
// event to s.Events for each deviation raised, each recovery and each
// sudden change.
func (d *Detector) Process(s *aggregate.Snapshot) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.flushes++
	d.logged = 0
	d.interval = s.Interval
	p := newParams(d.cfg, s.Interval)
	t := s.Time.Unix()
	d.last = d.last[:0]
	for i := range s.Series {
		sr := &s.Series[i]
		pi := d.patterns(sr)
		if len(pi) == 0 {
			continue
		}
		d.vals = sr.AppendValues(d.vals[:0])
		for _, v := range d.vals {
			if !d.statMatches(pi, v.Key) {
				continue
			}
			d.buf = appendKey(d.buf[:0], sr, v.Key)
			tr := d.series[string(d.buf)]
			if tr == nil {
				if len(d.series) >= d.cfg.MaxSeries {
					d.rejected++
					if d.rejected == 1 || d.rejected%1000 == 0 {
						d.logger.Warn("anomaly: max_series reached; statistic not learned",
							"max_series", d.cfg.MaxSeries, "rejected", d.rejected, "series", sr.Name, "stat", v.Key)
					}
					continue
				}
				tr = &tracked{key: Key{Name: sr.Name, Type: sr.Type, Tags: sr.TagString(), Stat: v.Key}}
				d.series[string(d.buf)] = tr
			}
			q := p
			if nonNegative(sr.Type) && !tr.b.Neg {
				q.validMin = 0
			}
			r := tr.b.observe(&q, t, v.Value)
			d.last = append(d.last, Verdict{Key: tr.key, Time: s.Time, Value: v.Value, Band: r.Band,
				Outside: r.Outside, Deviating: r.Deviating, Sudden: r.Sudden})
			d.addEvents(s, tr, v.Value, r)
		}
	}
	if d.logged > maxLoggedPerFlush {
		d.logger.Warn("anomaly: more events this flush than logged", "events", d.logged, "logged", maxLoggedPerFlush)
	}
	if d.flushes%100 == 0 {
		d.evictIdle(t)
	}
}

func (d *Detector) statMatches(pi []int, stat string) bool {
	for _, i := range pi {
		if glob(d.pats[i].stat, stat) {
			return true
		}
	}
	return false
}

func (d *Detector) evictIdle(now int64) {
	limit := int64(time.Duration(d.cfg.MaxIdle) / time.Second)
	for k, tr := range d.series {
		if now-tr.b.Last > limit {
			delete(d.series, k)
		}
	}
}

func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func (d *Detector) addEvents(s *aggregate.Snapshot, tr *tracked, v float64, r result) {
	ev := func(kind, alert, title, text string) {
		d.events[kind]++
		d.logEvent(kind, alert, title, text)
		tags := append(make([]protocol.Tag, 0, 4), protocol.Tag{Key: "anomaly", Value: kind},
			protocol.Tag{Key: "metric", Value: tr.key.Name}, protocol.Tag{Key: "stat", Value: tr.key.Stat})
		if tr.key.Tags != "" {
			tags = append(tags, protocol.Tag{Key: "series_tags", Value: tr.key.Tags})
		}
		s.Events = append(s.Events, protocol.Event{
			Title: title, Text: text, Timestamp: s.Time.Unix(), AggregationKey: "anomaly:" + tr.key.String(),
			Priority: "normal", SourceType: SourceType, AlertType: alert, Tags: tags,
		})
	}
	b := r.Band
	name := tr.key.Series() + " " + tr.key.Stat
	switch {
	case r.Raised:
		dir := "above"
		if v < b.Lower {
			dir = "below"
		}
		ev("deviation", "warning", "Deviation: "+name,
			fmt.Sprintf("%s is %s its band of normal values: %s outside [%s, %s] (baseline mean %s, stddev %s, k %s) for %s.",
				name, dir, fmtNum(v), fmtNum(b.Lower), fmtNum(b.Upper), fmtNum(b.Mean), fmtNum(b.Std), fmtNum(d.cfg.K),
				d.durationText(s.Interval)))
	case r.Recovered:
		since := time.Unix(tr.b.Since, 0).UTC().Format(time.RFC3339)
		ev("recovery", "success", "Recovered: "+name,
			fmt.Sprintf("%s is back inside its band: %s within [%s, %s]; deviating since %s.",
				name, fmtNum(v), fmtNum(b.Lower), fmtNum(b.Upper), since))
	}
	if r.Sudden {
		change := "inf"
		if !math.IsInf(r.Change, 0) {
			change = strconv.FormatFloat(100*r.Change, 'f', 0, 64) + "%"
		}
		ev("sudden_change", "warning", "Sudden change: "+name,
			fmt.Sprintf("%s changed suddenly: its %s average was %s where the trend of the previous %d projected %s (%s change).",
				name, d.rollupText(s.Interval), fmtNum(r.Value), d.cfg.SuddenPoints, fmtNum(r.Projected), change))
	}
}

// maxLoggedPerFlush bounds the events logged per flush; the rest are
// counted in one line (they all still reach the backends).
const maxLoggedPerFlush = 20

// logEvent logs an event: deviations and sudden changes at Warn,
// recoveries at Info, at most maxLoggedPerFlush per flush.
func (d *Detector) logEvent(kind, alert, title, text string) {
	d.logged++
	if d.logged > maxLoggedPerFlush {
		return
	}
	level := slog.LevelWarn
	if alert == "success" {
		level = slog.LevelInfo
	}
	d.logger.Log(context.Background(), level, "anomaly: "+title, "kind", kind, "text", text)
}

func (d *Detector) rollupText(interval time.Duration) string {
	return (time.Duration(newParams(d.cfg, interval).rollup) * time.Second).String()
}

func (d *Detector) durationText(interval time.Duration) string {
	n := newParams(d.cfg, interval).need
	if n == 1 {
		return "1 flush"
	}
	return strconv.Itoa(n) + " flushes (" + (time.Duration(n) * interval).String() + ")"
}

// Verdicts returns the verdicts of the last Process call, one per learned
// statistic present in that snapshot. The slice is the caller's.
func (d *Detector) Verdicts() []Verdict {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Verdict(nil), d.last...)
}

// Stats are a Detector's counters.
type Stats struct {
	Series    int               // statistics learned
	Ready     int               // of which past their warm-up
	Deviating int               // of which deviating now
	Rejected  uint64            // statistics not learned because of MaxSeries
	Events    map[string]uint64 // events raised by kind: deviation, recovery, sudden_change
}

// Stats returns the detector's counters.
func (d *Detector) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := Stats{Series: len(d.series), Rejected: d.rejected, Events: map[string]uint64{}}
	for k, v := range d.events {
		st.Events[k] = v
	}
	p := newParams(d.cfg, d.interval)
	for _, tr := range d.series {
		if tr.b.N >= p.warm {
			st.Ready++
		}
		if tr.b.Deviating {
			st.Deviating++
		}
	}
	return st
}

// Band returns the current band of the statistic k at time t (the
// seasonal profile makes it depend on the hour of the week).
func (d *Detector) Band(k Key, t time.Time) (Band, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	tr := d.lookup(k)
	if tr == nil {
		return Band{}, false
	}
	p := d.paramsFor(tr)
	return tr.b.band(&p, t.Unix()), true
}

func (d *Detector) paramsFor(tr *tracked) params {
	p := newParams(d.cfg, d.interval)
	if nonNegative(tr.key.Type) && !tr.b.Neg {
		p.validMin = 0
	}
	return p
}

func (d *Detector) lookup(k Key) *tracked { return d.series[keyBytes(k)] }

// keyBytes returns the map key of k (the same bytes appendKey builds).
func keyBytes(k Key) string {
	var b strings.Builder
	b.WriteByte(byte(k.Type))
	b.WriteString(k.Name)
	b.WriteByte(0)
	b.WriteString(k.Tags)
	b.WriteByte(0)
	b.WriteString(k.Stat)
	return b.String()
}
