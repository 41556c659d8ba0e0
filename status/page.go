package status

import (
	_ "embed"
	"encoding/json"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/anomaly"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/protocol"
)

//go:embed index.html
var indexHTML []byte

// Defaults a zero Config stands for.
const (
	DefaultPoints    = 180
	DefaultMaxSeries = 200
	DefaultTop       = 10
	DefaultEvents    = 20
	historyLen       = 120
)

// Verdicts gives the page the anomaly detector's verdicts of the last
// flush (*anomaly.Detector implements it). It is called from the flusher
// goroutine right after the detector's Process.
type Verdicts interface {
	Verdicts() []anomaly.Verdict
}

// Config configures a Page. The zero value means the defaults.
type Config struct {
	// Source gives the ingest counters and backends; nil shows none.
	Source Source
	// Anomaly gives the bands and deviations; nil charts values only.
	Anomaly Verdicts
	// Points is the number of recent values kept per charted series; 0
	// means 180 (30 minutes at the default 10 s interval).
	Points int
	// MaxSeries bounds the charted series kept (the learned ones and the
	// top ones by rate; the least recently updated go first); 0 means 200.
	MaxSeries int
	// Top is the number of series listed by rate; 0 means 10.
	Top int
	// Version is shown in the page's header.
	Version string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Page is the agent's live status page: it keeps, from every snapshot, the
// ingest and drop rates, the backends' state, the top series by rate and a
// bounded ring of recent values (with the anomaly band when there is one)
// per charted series, and serves them as HTML and JSON.
//
// Page implements flush.Processor: put it after the anomaly.Detector in
// agent.Config.Processors. Process is called from one goroutine; the HTTP
// handlers may run concurrently with it. Memory is bounded: MaxSeries
// rings of Points values (about 40 B each).
type Page struct {
	cfg     Config
	started time.Time

	mu        sync.Mutex
	source    Source
	prev      Reading
	prevTime  time.Time
	havePrev  bool
	status    Status
	history   []HistoryPoint
	rings     map[anomaly.Key]*ring
	verdicts  []anomaly.Verdict
	events    []Event
	processed uint64
}

// New returns a Page.
func New(cfg Config) *Page {
	if cfg.Points <= 0 {
		cfg.Points = DefaultPoints
	}
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = DefaultMaxSeries
	}
	if cfg.Top <= 0 {
		cfg.Top = DefaultTop
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if d, ok := cfg.Anomaly.(*anomaly.Detector); ok && d == nil {
		cfg.Anomaly = nil // a nil *Detector means detection is off
	}
	return &Page{cfg: cfg, source: cfg.Source, started: cfg.Now(), rings: map[anomaly.Key]*ring{}}
}

// SetSource sets the Source after New, for the usual order of
// construction: the Page is one of the agent's processors, and the agent's
// Source exists only once the agent does:
//
//	page := status.New(status.Config{Anomaly: detector})
//	a, err := agent.New(agent.Config{Processors: []flush.Processor{detector, page}, Registerer: reg, ...}, backends, logger)
//	page.SetSource(status.AgentSource(a, reg))
func (p *Page) SetSource(src Source) {
	p.mu.Lock()
	p.source = src
	p.mu.Unlock()
}

// Status is what GET /api/status returns.
type Status struct {
	Version         string            `json:"version,omitempty"`
	Now             time.Time         `json:"now"`
	Started         time.Time         `json:"started"`
	LastFlush       time.Time         `json:"last_flush"`
	IntervalSeconds float64           `json:"interval_seconds"`
	Flushes         uint64            `json:"flushes"`
	UDP             string            `json:"udp,omitempty"`
	Ingest          Ingest            `json:"ingest"`
	Drops           []Drop            `json:"drops"`
	Series          int               `json:"series"`
	History         []HistoryPoint    `json:"history"`
	Backends        []Backend         `json:"backends"`
	Top             []TopSeries       `json:"top"`
	Anomaly         *AnomalyStatus    `json:"anomaly,omitempty"`
	Events          []Event           `json:"events"`
	InvalidByReason map[string]uint64 `json:"invalid_by_reason,omitempty"`
}

// Ingest holds the ingest rates over the last interval and the totals.
type Ingest struct {
	LinesPerSec       float64 `json:"lines_per_sec"`
	PacketsPerSec     float64 `json:"packets_per_sec"`
	InvalidPerSec     float64 `json:"invalid_per_sec"`
	KernelDropsPerSec float64 `json:"kernel_drops_per_sec"`
	Lines             uint64  `json:"lines"`
	Packets           uint64  `json:"packets"`
	Invalid           uint64  `json:"invalid"`
	KernelDrops       float64 `json:"kernel_drops"`
}

// Drop is one cause of internal loss.
type Drop struct {
	Name   string  `json:"name"`
	Total  float64 `json:"total"`
	PerSec float64 `json:"per_sec"`
}

// HistoryPoint is one flush's ingest and drop rates.
type HistoryPoint struct {
	T             int64   `json:"t"` // Unix milliseconds
	LinesPerSec   float64 `json:"lines_per_sec"`
	DropsPerSec   float64 `json:"drops_per_sec"` // kernel and internal
	Series        int     `json:"series"`
	InvalidPerSec float64 `json:"invalid_per_sec"`
}

// Backend is one backend's state.
type Backend struct {
	Name       string    `json:"name"`
	Health     string    `json:"health"` // "ok", "failing", "waiting" (no flush yet) or "backlog"
	Queued     int       `json:"queued"`
	Flushes    uint64    `json:"flushes"`
	Errors     uint64    `json:"errors"`
	Dropped    uint64    `json:"dropped"`
	LastFlush  time.Time `json:"last_flush"`
	LastError  string    `json:"last_error,omitempty"`
	LastDurSec float64   `json:"last_duration_seconds"`
}

// TopSeries is one series in the top list by rate.
type TopSeries struct {
	ID     string  `json:"id"`
	Series string  `json:"series"`
	Type   string  `json:"type"`
	Stat   string  `json:"stat"` // the statistic charted: rate, count_ps, ...
	Rate   float64 `json:"rate"`
}

// AnomalyStatus summarises the detector's verdicts at the last flush.
type AnomalyStatus struct {
	Learned   int         `json:"learned"`
	Ready     int         `json:"ready"`
	Deviating []Deviation `json:"deviating"`
}

// Deviation is one statistic outside its band at the last flush.
type Deviation struct {
	ID        string  `json:"id"`
	Series    string  `json:"series"`
	Stat      string  `json:"stat"`
	Value     float64 `json:"value"`
	Lower     float64 `json:"lower"`
	Upper     float64 `json:"upper"`
	Deviating bool    `json:"deviating"` // for the configured duration (else only outside)
}

// Event is a recent event of any source (anomaly events included).
type Event struct {
	Time      time.Time `json:"time"`
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	AlertType string    `json:"alert_type"`
	Source    string    `json:"source,omitempty"`
}

// Point is one charted value.
type Point struct {
	T       int64   `json:"t"` // Unix milliseconds
	V       float64 `json:"v"`
	Lo      float64 `json:"lo,omitempty"`
	Hi      float64 `json:"hi,omitempty"`
	Band    bool    `json:"band,omitempty"`    // Lo and Hi hold a band
	Outside bool    `json:"outside,omitempty"` // the value is outside the band
	Dev     bool    `json:"dev,omitempty"`     // the series is deviating
}

// SeriesInfo lists one charted series.
type SeriesInfo struct {
	ID        string  `json:"id"`
	Series    string  `json:"series"`
	Type      string  `json:"type"`
	Stat      string  `json:"stat"`
	Last      float64 `json:"last"`
	Band      bool    `json:"band"`
	Deviating bool    `json:"deviating"`
}

// SeriesData is what GET /api/series?id=ID returns.
type SeriesData struct {
	SeriesInfo
	Points []Point `json:"points"`
}

type ring struct {
	key     anomaly.Key
	pts     []Point // circular once full
	next    int
	updated uint64 // Process count of the last value
}

func (r *ring) add(p Point, max int, now uint64) {
	r.updated = now
	if len(r.pts) < max {
		r.pts = append(r.pts, p)
		return
	}
	r.pts[r.next] = p
	r.next = (r.next + 1) % max
}

func (r *ring) points() []Point {
	out := make([]Point, 0, len(r.pts))
	out = append(out, r.pts[r.next:]...)
	return append(out, r.pts[:r.next]...)
}

// primary returns the statistic charted for a series of the top list and
// its value, and the series' rate (0 when it has none).
func primary(s *aggregate.Series) (stat string, v, rate float64) {
	switch s.Type {
	case protocol.Counter:
		return "rate", s.Rate, s.Rate
	case protocol.Gauge:
		return "value", s.Value, 0
	case protocol.Set:
		return "count", s.Value, 0
	}
	if s.Dist == nil {
		return "count_ps", 0, 0
	}
	return "count_ps", s.Dist.CountPS, s.Dist.CountPS
}

// Process records a snapshot. It reads the Source and, when configured,
// the detector's verdicts of the same snapshot.
func (p *Page) Process(s *aggregate.Snapshot) {
	p.mu.Lock()
	src := p.source
	p.mu.Unlock()
	var rd Reading
	if src != nil {
		rd = src.Read()
	}
	var vs []anomaly.Verdict
	if p.cfg.Anomaly != nil {
		vs = p.cfg.Anomaly.Verdicts()
	}
	top := topSeries(s, p.cfg.Top)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.processed++
	st := &p.status
	st.LastFlush = s.Time
	st.IntervalSeconds = s.Interval.Seconds()
	st.Flushes = p.processed
	st.Series = len(s.Series)
	st.UDP = rd.UDP
	st.InvalidByReason = nonZero(rd.InvalidByReason)

	// Rates over the time since the previous flush.
	var dt float64
	if p.havePrev {
		dt = s.Time.Sub(p.prevTime).Seconds()
	}
	rate := func(now, before float64) float64 {
		if dt <= 0 || now < before {
			return 0
		}
		return (now - before) / dt
	}
	st.Ingest = Ingest{
		LinesPerSec:       rate(float64(rd.Lines), float64(p.prev.Lines)),
		PacketsPerSec:     rate(float64(rd.Packets), float64(p.prev.Packets)),
		InvalidPerSec:     rate(float64(rd.Invalid), float64(p.prev.Invalid)),
		KernelDropsPerSec: rate(rd.KernelDrops, p.prev.KernelDrops),
		Lines:             rd.Lines, Packets: rd.Packets, Invalid: rd.Invalid, KernelDrops: rd.KernelDrops,
	}
	st.Drops = st.Drops[:0]
	dropRate := st.Ingest.KernelDropsPerSec
	for name, v := range rd.Drops {
		d := Drop{Name: name, Total: v, PerSec: rate(v, p.prev.Drops[name])}
		dropRate += d.PerSec
		st.Drops = append(st.Drops, d)
	}
	sort.Slice(st.Drops, func(i, j int) bool { return st.Drops[i].Name < st.Drops[j].Name })
	p.history = append(p.history, HistoryPoint{T: s.Time.UnixMilli(), LinesPerSec: st.Ingest.LinesPerSec,
		DropsPerSec: dropRate, Series: len(s.Series), InvalidPerSec: st.Ingest.InvalidPerSec})
	if len(p.history) > historyLen {
		p.history = append(p.history[:0], p.history[len(p.history)-historyLen:]...)
	}
	p.prev, p.prevTime, p.havePrev = rd, s.Time, true

	st.Backends = st.Backends[:0]
	for _, b := range rd.Backends {
		st.Backends = append(st.Backends, backend(b))
	}

	// Charted values: every verdict (with its band), then the top series.
	ms := s.Time.UnixMilli()
	seen := make(map[anomaly.Key]bool, len(vs))
	for _, v := range vs {
		pt := Point{T: ms, V: v.Value, Outside: v.Outside, Dev: v.Deviating}
		if v.Band.Ready {
			pt.Lo, pt.Hi, pt.Band = v.Band.Lower, v.Band.Upper, true
		}
		p.record(v.Key, pt)
		seen[v.Key] = true
	}
	st.Top = st.Top[:0]
	for _, t := range top {
		sr := &s.Series[t.i]
		stat, val, r := primary(sr)
		k := anomaly.Key{Name: sr.Name, Type: sr.Type, Tags: sr.TagString(), Stat: stat}
		if !seen[k] {
			p.record(k, Point{T: ms, V: val})
		}
		st.Top = append(st.Top, TopSeries{ID: k.String(), Series: k.Series(), Type: sr.Type.String(), Stat: stat, Rate: r})
	}
	p.verdicts = vs

	for _, e := range s.Events {
		ts := s.Time
		if e.Timestamp != 0 {
			ts = time.Unix(e.Timestamp, 0)
		}
		p.events = append(p.events, Event{Time: ts, Title: e.Title, Text: e.Text, AlertType: e.AlertType, Source: e.SourceType})
	}
	if n := len(p.events); n > DefaultEvents {
		p.events = append(p.events[:0], p.events[n-DefaultEvents:]...)
	}
}

func nonZero(m map[string]uint64) map[string]uint64 {
	var out map[string]uint64
	for k, v := range m {
		if v != 0 {
			if out == nil {
				out = map[string]uint64{}
			}
			out[k] = v
		}
	}
	return out
}

func backend(b flush.BackendStats) Backend {
	h := "ok"
	switch {
	case b.LastError != "":
		h = "failing"
	case b.Flushes == 0:
		h = "waiting"
	case b.Queued > 1:
		h = "backlog"
	}
	return Backend{Name: b.Name, Health: h, Queued: b.Queued, Flushes: b.Flushes, Errors: b.Errors, Dropped: b.Dropped,
		LastFlush: b.LastFlush, LastError: b.LastError, LastDurSec: b.LastDurSec}
}

// record adds a point to k's ring, making room by evicting the least
// recently updated ring when MaxSeries are kept.
func (p *Page) record(k anomaly.Key, pt Point) {
	if !finite(pt.V) || (pt.Band && !(finite(pt.Lo) && finite(pt.Hi))) {
		return // JSON has no NaN or Inf
	}
	r := p.rings[k]
	if r == nil {
		if len(p.rings) >= p.cfg.MaxSeries {
			var old *ring
			for _, c := range p.rings {
				if old == nil || c.updated < old.updated {
					old = c
				}
			}
			if old.updated == p.processed {
				return // every ring was updated in this flush: keep them
			}
			delete(p.rings, old.key)
		}
		r = &ring{key: k}
		p.rings[k] = r
	}
	r.add(pt, p.cfg.Points, p.processed)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

type ranked struct {
	i    int
	rate float64
}

// topSeries returns the indexes of the n series with the highest rate
// (counters' rate, distributions' count_ps), highest first.
func topSeries(s *aggregate.Snapshot, n int) []ranked {
	top := make([]ranked, 0, n+1)
	for i := range s.Series {
		_, _, r := primary(&s.Series[i])
		if !(r > 0) || math.IsInf(r, 0) || (len(top) == n && r <= top[n-1].rate) {
			continue
		}
		j := sort.Search(len(top), func(j int) bool { return top[j].rate < r })
		top = append(top, ranked{})
		copy(top[j+1:], top[j:])
		top[j] = ranked{i, r}
		if len(top) > n {
			top = top[:n]
		}
	}
	return top
}

// Status returns the page's state as of the last flush.
func (p *Page) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.status
	st.Version = p.cfg.Version
	st.Now = p.cfg.Now()
	st.Started = p.started
	st.Drops = append([]Drop{}, st.Drops...)
	st.Backends = append([]Backend{}, st.Backends...)
	st.Top = append([]TopSeries{}, st.Top...)
	st.History = append([]HistoryPoint{}, p.history...)
	st.Events = make([]Event, len(p.events))
	for i, e := range p.events { // newest first
		st.Events[len(p.events)-1-i] = e
	}
	if p.cfg.Anomaly != nil {
		a := &AnomalyStatus{Learned: len(p.verdicts), Deviating: []Deviation{}}
		for _, v := range p.verdicts {
			if v.Band.Ready {
				a.Ready++
			}
			if v.Outside || v.Deviating {
				a.Deviating = append(a.Deviating, Deviation{ID: v.Key.String(), Series: v.Key.Series(), Stat: v.Key.Stat,
					Value: v.Value, Lower: v.Band.Lower, Upper: v.Band.Upper, Deviating: v.Deviating})
			}
		}
		st.Anomaly = a
	}
	return st
}

// Series lists the charted series: deviating first, then those with a
// band, then by ID.
func (p *Page) Series() []SeriesInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]SeriesInfo, 0, len(p.rings))
	for _, r := range p.rings {
		out = append(out, r.info())
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Deviating != b.Deviating {
			return a.Deviating
		}
		if a.Band != b.Band {
			return a.Band
		}
		return a.ID < b.ID
	})
	return out
}

func (r *ring) info() SeriesInfo {
	last := r.pts[(r.next+len(r.pts)-1)%len(r.pts)]
	return SeriesInfo{ID: r.key.String(), Series: r.key.Series(), Type: r.key.Type.String(), Stat: r.key.Stat,
		Last: last.V, Band: last.Band, Deviating: last.Dev}
}

// SeriesData returns the recent values of the series with the given ID
// (SeriesInfo.ID), oldest first.
func (p *Page) SeriesData(id string) (SeriesData, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, r := range p.rings {
		if k.String() == id {
			return SeriesData{SeriesInfo: r.info(), Points: r.points()}, true
		}
	}
	return SeriesData{}, false
}

// Routes returns the page's handlers by http.ServeMux pattern, for
// admin.Config.Routes: "GET /{$}" (the page), "GET /api/status" and
// "GET /api/series" (the list, or ?id=ID for one series' values).
func (p *Page) Routes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET /{$}": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:")
			_, _ = w.Write(indexHTML)
		}),
		"GET /api/status": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, p.Status())
		}),
		"GET /api/series": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.URL.Query().Get("id")
			if id == "" {
				writeJSON(w, p.Series())
				return
			}
			d, ok := p.SeriesData(id)
			if !ok {
				http.Error(w, "no such series: "+strings.ReplaceAll(id, "\n", " "), http.StatusNotFound)
				return
			}
			writeJSON(w, d)
		}),
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
