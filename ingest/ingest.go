// Package ingest joins the parse and aggregate steps for every input.
//
// Listeners (server/udp, server/tcp, server/unixgram) read bytes and hand
// them to a Worker: packet -> parse -> aggregate. Each input goroutine owns
// one Worker (a parser and an aggregation shard), so a Worker is not safe for
// concurrent use; a Pipeline is, and hands out Workers.
//
// A Worker counts packets, lines and rejected lines locally and publishes
// the counts to the shared Metrics once per batch (End), so the hot path
// touches no shared cache line per line.
package ingest

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
	"golang.org/x/time/rate"
)

// Pipeline creates Workers feeding one Aggregator.
type Pipeline struct {
	agg     *aggregate.Aggregator
	opts    protocol.Options
	logger  *slog.Logger
	badLog  *rate.Limiter
	metrics *Metrics
}

// Metrics are the ingest counters, shared by every Worker of a Pipeline.
type Metrics struct {
	Packets atomic.Uint64
	Lines   atomic.Uint64
	Invalid atomic.Uint64
	Events  atomic.Uint64

	reasons   []string
	invalidBy []atomic.Uint64 // by index in reasons
}

// NewMetrics returns zeroed metrics.
func NewMetrics() *Metrics {
	r := protocol.Reasons()
	return &Metrics{reasons: r, invalidBy: make([]atomic.Uint64, len(r))}
}

// InvalidByReason returns the rejected-line counts by reason label.
func (m *Metrics) InvalidByReason() map[string]uint64 {
	out := make(map[string]uint64, len(m.reasons))
	for i, r := range m.reasons {
		out[r] = m.invalidBy[i].Load()
	}
	return out
}

// Register exports the metrics as statsd_agent_packets_received_total,
// statsd_agent_lines_received_total, statsd_agent_lines_invalid_total{reason}
// and statsd_agent_events_received_total.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statsd_agent_packets_received_total",
			Help: "Datagrams (or stream reads) received."}, func() float64 { return float64(m.Packets.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statsd_agent_lines_received_total",
			Help: "Non-empty lines received, valid or not."}, func() float64 { return float64(m.Lines.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "statsd_agent_events_received_total",
			Help: "DogStatsD events and service checks received."}, func() float64 { return float64(m.Events.Load()) }),
		invalidCollector{m},
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

var invalidDesc = prometheus.NewDesc("statsd_agent_lines_invalid_total",
	"Lines rejected by the parser, by reason.", []string{"reason"}, nil)

type invalidCollector struct{ m *Metrics }

func (c invalidCollector) Describe(ch chan<- *prometheus.Desc) { ch <- invalidDesc }
func (c invalidCollector) Collect(ch chan<- prometheus.Metric) {
	for i, r := range c.m.reasons {
		ch <- prometheus.MustNewConstMetric(invalidDesc, prometheus.CounterValue, float64(c.m.invalidBy[i].Load()), r)
	}
}

// New returns a Pipeline. logger may be nil; bad lines are logged at Warn
// level at most a few times a second.
func New(agg *aggregate.Aggregator, opts protocol.Options, m *Metrics, logger *slog.Logger) *Pipeline {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics()
	}
	return &Pipeline{agg: agg, opts: opts, logger: logger, metrics: m,
		badLog: rate.NewLimiter(rate.Every(time.Second), 5)}
}

// Metrics returns the pipeline's counters.
func (p *Pipeline) Metrics() *Metrics { return p.metrics }

// NewWorker returns a Worker for one input goroutine.
func (p *Pipeline) NewWorker() *Worker {
	return &Worker{p: p, parser: protocol.NewParser(p.opts), shard: p.agg.NewShard(),
		invalid: make([]uint64, len(p.metrics.reasons))}
}

// Worker parses and aggregates for one goroutine.
type Worker struct {
	p       *Pipeline
	parser  *protocol.Parser
	shard   *aggregate.Shard
	packets uint64
	lines   uint64
	events  uint64
	invalid []uint64
	anyBad  bool
}

// Begin starts a batch: it locks the worker's shard.
func (w *Worker) Begin() { w.shard.Lock() }

// End ends a batch: it unlocks the shard and publishes the counts.
func (w *Worker) End() {
	w.shard.Unlock()
	m := w.p.metrics
	if w.packets > 0 {
		m.Packets.Add(w.packets)
		w.packets = 0
	}
	if w.lines > 0 {
		m.Lines.Add(w.lines)
		w.lines = 0
	}
	if w.events > 0 {
		m.Events.Add(w.events)
		w.events = 0
	}
	if w.anyBad {
		var total uint64
		for i, n := range w.invalid {
			if n > 0 {
				m.invalidBy[i].Add(n)
				total += n
				w.invalid[i] = 0
			}
		}
		m.Invalid.Add(total)
		w.anyBad = false
	}
}

// CountPacket counts one datagram or stream read without processing it;
// stream listeners call it per read and then call Line per line.
func (w *Worker) CountPacket() { w.packets++ }

// Packet processes every line of one datagram. Call it between Begin and End.
func (w *Worker) Packet(b []byte) {
	w.packets++
	for len(b) > 0 {
		var line []byte
		line, b = protocol.NextLine(b)
		w.Line(line)
	}
}

// Line processes one line (without its terminator). Call it between Begin
// and End. Empty lines are skipped and not counted.
func (w *Worker) Line(line []byte) {
	if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
		return
	}
	w.lines++
	res, err := w.parser.Parse(line)
	for i := range res.Samples {
		w.shard.Add(&res.Samples[i])
	}
	if res.Event != nil {
		w.events++
		w.shard.AddEvent(res.Event)
	}
	if res.ServiceCheck != nil {
		w.events++
		w.shard.AddServiceCheck(res.ServiceCheck)
	}
	if err != nil {
		w.Reject(err, line)
	}
}

// RejectLine counts a line as received and rejected without parsing it;
// listeners call it for lines they refuse, e.g. overlong TCP lines.
func (w *Worker) RejectLine(err error, line []byte) {
	w.lines++
	w.Reject(err, line)
}

// Reject counts a rejected line by reason (and logs it, rate-limited).
func (w *Worker) Reject(err error, line []byte) {
	reason := protocol.Reason(err)
	for i, r := range w.p.metrics.reasons {
		if r == reason {
			w.invalid[i]++
			break
		}
	}
	w.anyBad = true
	if w.p.badLog.Allow() {
		if len(line) > 200 {
			line = line[:200]
		}
		w.p.logger.Warn("bad line", "reason", reason, "err", err, "line", string(line))
	}
}
