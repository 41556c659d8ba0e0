package remotewrite

import (
	"cmp"
	"fmt"
	"github.com/statsd-agent/statsd-agent/flush/sendqueue"
	"math"
	"slices"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/flush/promseries"
)

// request is one encoded remote-write request.
// request is one remote-write request: Body is the snappy-compressed
// prompb.WriteRequest, Items its number of time series.
type request = sendqueue.Request[struct{}]

// writeRequests builds the remote-write requests for one flush: at most max
// time series each, one sample (or native histogram sample) per series,
// timestamped ts (milliseconds). It is a pure function of its arguments.
func writeRequests(series []promseries.Series, ts int64, native bool, max int) []*prompb.WriteRequest {
	var out []*prompb.WriteRequest
	cur := &prompb.WriteRequest{}
	add := func(t prompb.TimeSeries) {
		if len(cur.Timeseries) == max {
			out = append(out, cur)
			cur = &prompb.WriteRequest{}
		}
		cur.Timeseries = append(cur.Timeseries, t)
	}
	float := func(name string, labels []promseries.Label, v float64) prompb.TimeSeries {
		return prompb.TimeSeries{
			Labels:  protoLabels(name, labels),
			Samples: []prompb.Sample{{Value: v, Timestamp: ts}},
		}
	}
	for i := range series {
		s := &series[i]
		switch s.Kind {
		case promseries.Counter, promseries.Gauge:
			add(float(s.Name, s.Labels, s.Value))
		case promseries.Histogram:
			if native && s.Hist != nil {
				add(prompb.TimeSeries{
					Labels:     protoLabels(s.Name, s.Labels),
					Histograms: []prompb.Histogram{nativeHistogram(s.Hist, ts)},
				})
			}
			add(float(s.Name+"_count", s.Labels, s.Count))
			add(float(s.Name+"_sum", s.Labels, s.Sum))
		}
	}
	if len(cur.Timeseries) > 0 {
		out = append(out, cur)
	}
	return out
}

// metadataRequests returns the metric metadata (type and help per metric
// family) of the series, in requests of at most max entries. Receivers
// such as Mimir keep it for their metadata API; Prometheus ignores it.
func metadataRequests(series []promseries.Series, max int) []*prompb.WriteRequest {
	var out []*prompb.WriteRequest
	cur := &prompb.WriteRequest{}
	last := ""
	for i := range series {
		s := &series[i]
		if s.Name == last {
			continue // sorted by name: one entry per family
		}
		last = s.Name
		md := prompb.MetricMetadata{MetricFamilyName: s.Name}
		switch s.Kind {
		case promseries.Counter:
			md.Type, md.Help = prompb.MetricMetadata_COUNTER, "StatsD counter: total since the agent started."
		case promseries.Histogram:
			md.Type, md.Help = prompb.MetricMetadata_HISTOGRAM, "StatsD distribution: cumulative histogram."
		default:
			md.Type, md.Help = prompb.MetricMetadata_GAUGE, "StatsD gauge, set (unique members per interval) or percentile of the interval."
		}
		if len(cur.Metadata) == max {
			out = append(out, cur)
			cur = &prompb.WriteRequest{}
		}
		cur.Metadata = append(cur.Metadata, md)
	}
	if len(cur.Metadata) > 0 {
		out = append(out, cur)
	}
	return out
}

// protoLabels returns __name__ and the labels, sorted by name as the
// remote-write specification requires.
func protoLabels(name string, labels []promseries.Label) []prompb.Label {
	out := make([]prompb.Label, 0, len(labels)+1)
	out = append(out, prompb.Label{Name: "__name__", Value: name})
	for _, l := range labels {
		out = append(out, prompb.Label{Name: l.Name, Value: l.Value})
	}
	slices.SortFunc(out, func(a, b prompb.Label) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// nativeHistogram encodes a cumulative exponential histogram as an integer
// native histogram sample.
func nativeHistogram(h *expohist.Histogram, ts int64) prompb.Histogram {
	ps, pd := spans(h.Positive)
	ns, nd := spans(h.Negative)
	return prompb.Histogram{
		Count:          &prompb.Histogram_CountInt{CountInt: expohist.IntCount(*h)},
		Sum:            h.Sum,
		Schema:         h.Schema,
		ZeroThreshold:  h.ZeroThreshold,
		ZeroCount:      &prompb.Histogram_ZeroCountInt{ZeroCountInt: uint64(math.Round(h.ZeroCount))},
		PositiveSpans:  ps,
		PositiveDeltas: pd,
		NegativeSpans:  ns,
		NegativeDeltas: nd,
		Timestamp:      ts,
	}
}

// spans converts expohist spans to the protobuf type.
func spans(b expohist.Buckets) ([]prompb.BucketSpan, []int64) {
	sp, deltas := expohist.Spans(b)
	out := make([]prompb.BucketSpan, len(sp))
	for i, x := range sp {
		out[i] = prompb.BucketSpan{Offset: x.Offset, Length: x.Length}
	}
	return out, deltas
}

// marshal encodes and compresses one request.
func marshal(wr *prompb.WriteRequest) ([]byte, error) {
	raw, err := wr.Marshal()
	if err != nil {
		return nil, fmt.Errorf("remotewrite: marshal: %w", err)
	}
	return snappy.Encode(nil, raw), nil
}
