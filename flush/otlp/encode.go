package otlp

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/protobuf/proto"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// scopeName is the instrumentation scope of every metric.
const scopeName = "github.com/statsd-agent/statsd-agent"

// converter turns snapshots into OTLP metrics and keeps the running state
// of cumulative temporality.
type converter struct {
	cumulative bool
	scale      int32
	prefix     string
	idle       time.Duration
	resource   *resourcepb.Resource
	lastFlush  time.Time
	state      map[string]*series
	seen       map[string]bool
	noSketch   int
}

// series is the running state of one counter or distribution.
type series struct {
	name     string
	typ      protocol.Type
	attrs    []*commonpb.KeyValue
	start    time.Time
	lastSeen time.Time
	total    float64
	acc      expohist.Accumulator
	min, max float64
	hasMinMx bool
}

func newConverter(r resolved) *converter {
	attrs := []*commonpb.KeyValue{
		strAttr("host.name", r.Host),
		strAttr("service.name", r.ServiceName),
	}
	for k, v := range r.ResourceAttributes {
		if k == "host.name" || k == "service.name" {
			continue
		}
		attrs = append(attrs, strAttr(k, v))
	}
	slices.SortFunc(attrs, func(a, b *commonpb.KeyValue) int { return cmp.Compare(a.Key, b.Key) })
	return &converter{
		cumulative: r.cumulative, scale: r.scale, prefix: r.Prefix, idle: time.Duration(r.IdleTimeout),
		resource: &resourcepb.Resource{Attributes: attrs},
		state:    map[string]*series{}, seen: map[string]bool{},
	}
}

func strAttr(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: strings.ToValidUTF8(v, "\uFFFD")}}}
}

// attributes maps tags to data point attributes: a bare tag has the value
// "", values of a repeated key are joined with ','.
func attributes(tags []protocol.Tag) []*commonpb.KeyValue {
	var out []*commonpb.KeyValue
	for _, t := range tags {
		if n := len(out); n > 0 && out[n-1].Key == t.Key {
			sv := out[n-1].Value.Value.(*commonpb.AnyValue_StringValue)
			sv.StringValue += "," + strings.ToValidUTF8(t.Value, "\uFFFD")
			continue
		}
		out = append(out, strAttr(t.Key, t.Value))
	}
	return out
}

func nanos(t time.Time) uint64 { return uint64(t.UnixNano()) }

// metricKey identifies a metric: name and data point kind.
type metricKey struct {
	name string
	kind uint8 // 1 sum, 2 gauge, 3 exponential histogram
}

// convert returns the metrics of one flush, sorted by name and kind, and
// updates the running state.
func (c *converter) convert(s *aggregate.Snapshot) []*metricspb.Metric {
	end := s.Time
	start := c.lastFlush
	if start.IsZero() || !start.Before(end) {
		start = end.Add(-s.Interval)
	}
	c.lastFlush = end
	metrics := map[metricKey]*metricspb.Metric{}
	get := func(name string, kind uint8) *metricspb.Metric {
		k := metricKey{name, kind}
		m := metrics[k]
		if m != nil {
			return m
		}
		m = &metricspb.Metric{Name: name}
		temp := metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
		if c.cumulative {
			temp = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
		}
		switch kind {
		case 1:
			m.Data = &metricspb.Metric_Sum{Sum: &metricspb.Sum{AggregationTemporality: temp, IsMonotonic: true}}
		case 2:
			m.Data = &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{}}
		case 3:
			m.Data = &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{AggregationTemporality: temp}}
		}
		metrics[k] = m
		return m
	}
	clear(c.seen)
	for i := range s.Series {
		in := &s.Series[i]
		name := c.prefix + in.Name
		switch in.Type {
		case protocol.Counter:
			v := in.Value
			st := start
			if c.cumulative {
				ss := c.stateFor(name, in, start)
				ss.total += in.Value
				ss.lastSeen = end
				v, st = ss.total, ss.start
			}
			m := get(name, 1).GetSum()
			m.DataPoints = append(m.DataPoints, &metricspb.NumberDataPoint{
				Attributes: attributes(in.Tags), StartTimeUnixNano: nanos(st), TimeUnixNano: nanos(end),
				Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: v},
			})
		case protocol.Gauge, protocol.Set:
			m := get(name, 2).GetGauge()
			m.DataPoints = append(m.DataPoints, &metricspb.NumberDataPoint{
				Attributes: attributes(in.Tags), TimeUnixNano: nanos(end),
				Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: in.Value},
			})
		case protocol.Timer, protocol.Histogram, protocol.Distribution:
			d := in.Dist
			if d == nil {
				continue
			}
			if d.Sketch == nil && d.N > 0 {
				c.noSketch++
				continue
			}
			w := 1.0
			if d.N > 0 {
				w = d.Count / float64(d.N)
			}
			dp := &metricspb.ExponentialHistogramDataPoint{Attributes: attributes(in.Tags), StartTimeUnixNano: nanos(start), TimeUnixNano: nanos(end)}
			if d.N > 0 {
				dp.Min, dp.Max = proto.Float64(d.Lower), proto.Float64(d.Upper)
			}
			var h expohist.Histogram
			if !c.cumulative {
				var err error
				if h, err = expohist.FromSketch(d.Sketch, c.scale, w, d.Sum*w); err != nil {
					continue // the scale was checked by New
				}
			} else {
				ss := c.stateFor(name, in, start)
				_ = ss.acc.AddSketch(d.Sketch, c.scale, w, d.Sum*w) // one scale per backend: cannot fail
				ss.lastSeen = end
				if d.N > 0 {
					if !ss.hasMinMx {
						ss.min, ss.max, ss.hasMinMx = d.Lower, d.Upper, true
					}
					ss.min, ss.max = min(ss.min, d.Lower), max(ss.max, d.Upper)
				}
				h = ss.acc.Histogram()
				dp.StartTimeUnixNano = nanos(ss.start)
				dp.Min, dp.Max = nil, nil
				if ss.hasMinMx {
					dp.Min, dp.Max = proto.Float64(ss.min), proto.Float64(ss.max)
				}
			}
			fillHistogram(dp, h)
			metric := get(name, 3)
			if in.Type == protocol.Timer {
				metric.Unit = "ms" // StatsD timers are milliseconds (UCUM "ms")
			}
			m := metric.GetExponentialHistogram()
			m.DataPoints = append(m.DataPoints, dp)
		}
	}
	if c.cumulative {
		for k, ss := range c.state {
			if c.seen[k] {
				continue
			}
			if end.Sub(ss.lastSeen) >= c.idle {
				delete(c.state, k)
				continue
			}
			c.repeat(ss, end, get)
		}
	}
	keys := make([]metricKey, 0, len(metrics))
	for k := range metrics {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b metricKey) int {
		if c := cmp.Compare(a.name, b.name); c != 0 {
			return c
		}
		return cmp.Compare(a.kind, b.kind)
	})
	out := make([]*metricspb.Metric, len(keys))
	for i, k := range keys {
		out[i] = metrics[k]
		sortPoints(out[i])
	}
	return out
}

// repeat appends the last cumulative value of an idle series.
func (c *converter) repeat(ss *series, end time.Time, get func(string, uint8) *metricspb.Metric) {
	if ss.typ == protocol.Counter {
		m := get(ss.name, 1).GetSum()
		m.DataPoints = append(m.DataPoints, &metricspb.NumberDataPoint{
			Attributes: ss.attrs, StartTimeUnixNano: nanos(ss.start), TimeUnixNano: nanos(end),
			Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: ss.total},
		})
		return
	}
	dp := &metricspb.ExponentialHistogramDataPoint{Attributes: ss.attrs, StartTimeUnixNano: nanos(ss.start), TimeUnixNano: nanos(end)}
	if ss.hasMinMx {
		dp.Min, dp.Max = proto.Float64(ss.min), proto.Float64(ss.max)
	}
	fillHistogram(dp, ss.acc.Histogram())
	metric := get(ss.name, 3)
	if ss.typ == protocol.Timer {
		metric.Unit = "ms"
	}
	m := metric.GetExponentialHistogram()
	m.DataPoints = append(m.DataPoints, dp)
}

func (c *converter) stateFor(name string, in *aggregate.Series, start time.Time) *series {
	k := name + "\x00" + in.Type.Code() + "\x00" + in.TagString()
	c.seen[k] = true
	ss := c.state[k]
	if ss == nil {
		ss = &series{name: name, typ: in.Type, attrs: attributes(in.Tags), start: start}
		c.state[k] = ss
	}
	return ss
}

// fillHistogram copies an exponential histogram into a data point with
// integer counts (OTLP numbers buckets one lower than Prometheus).
func fillHistogram(dp *metricspb.ExponentialHistogramDataPoint, h expohist.Histogram) {
	dp.Count = expohist.IntCount(h)
	dp.Sum = proto.Float64(h.Sum)
	dp.Scale = h.Schema
	dp.ZeroCount = uint64(math.Round(h.ZeroCount))
	dp.ZeroThreshold = h.ZeroThreshold
	if len(h.Positive.Counts) > 0 {
		dp.Positive = &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: h.Positive.OTLPOffset(), BucketCounts: expohist.RoundCounts(h.Positive.Counts)}
	}
	if len(h.Negative.Counts) > 0 {
		dp.Negative = &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: h.Negative.OTLPOffset(), BucketCounts: expohist.RoundCounts(h.Negative.Counts)}
	}
}

// sortPoints orders data points by attributes (idle cumulative series are
// appended after the snapshot's).
func sortPoints(m *metricspb.Metric) {
	key := func(attrs []*commonpb.KeyValue) string {
		var b strings.Builder
		for _, a := range attrs {
			b.WriteString(a.Key + "\x00" + a.GetValue().GetStringValue() + "\x00")
		}
		return b.String()
	}
	switch d := m.Data.(type) {
	case *metricspb.Metric_Sum:
		slices.SortStableFunc(d.Sum.DataPoints, func(a, b *metricspb.NumberDataPoint) int { return cmp.Compare(key(a.Attributes), key(b.Attributes)) })
	case *metricspb.Metric_ExponentialHistogram:
		slices.SortStableFunc(d.ExponentialHistogram.DataPoints, func(a, b *metricspb.ExponentialHistogramDataPoint) int {
			return cmp.Compare(key(a.Attributes), key(b.Attributes))
		})
	}
}

func points(m *metricspb.Metric) int {
	switch d := m.Data.(type) {
	case *metricspb.Metric_Sum:
		return len(d.Sum.DataPoints)
	case *metricspb.Metric_Gauge:
		return len(d.Gauge.DataPoints)
	case *metricspb.Metric_ExponentialHistogram:
		return len(d.ExponentialHistogram.DataPoints)
	}
	return 0
}

// slice returns a copy of m's shell holding data points [i, j).
func slice(m *metricspb.Metric, i, j int) *metricspb.Metric {
	out := &metricspb.Metric{Name: m.Name, Description: m.Description, Unit: m.Unit}
	switch d := m.Data.(type) {
	case *metricspb.Metric_Sum:
		out.Data = &metricspb.Metric_Sum{Sum: &metricspb.Sum{AggregationTemporality: d.Sum.AggregationTemporality, IsMonotonic: d.Sum.IsMonotonic, DataPoints: d.Sum.DataPoints[i:j]}}
	case *metricspb.Metric_Gauge:
		out.Data = &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: d.Gauge.DataPoints[i:j]}}
	case *metricspb.Metric_ExponentialHistogram:
		out.Data = &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{
			AggregationTemporality: d.ExponentialHistogram.AggregationTemporality, DataPoints: d.ExponentialHistogram.DataPoints[i:j]}}
	}
	return out
}

// exportRequests splits metrics into export requests of at most max data
// points each, every one with the resource and scope.
func exportRequests(resource *resourcepb.Resource, metrics []*metricspb.Metric, max int) []*colmetricspb.ExportMetricsServiceRequest {
	var out []*colmetricspb.ExportMetricsServiceRequest
	var cur []*metricspb.Metric
	n := 0
	flush := func() {
		if len(cur) == 0 {
			return
		}
		out = append(out, &colmetricspb.ExportMetricsServiceRequest{ResourceMetrics: []*metricspb.ResourceMetrics{{
			Resource:     resource,
			ScopeMetrics: []*metricspb.ScopeMetrics{{Scope: &commonpb.InstrumentationScope{Name: scopeName}, Metrics: cur}},
		}}})
		cur, n = nil, 0
	}
	for _, m := range metrics {
		total := points(m)
		for i := 0; i < total; {
			j := min(total, i+max-n)
			cur = append(cur, slice(m, i, j))
			n += j - i
			i = j
			if n == max {
				flush()
			}
		}
	}
	flush()
	return out
}
