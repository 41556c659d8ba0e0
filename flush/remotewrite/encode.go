package remotewrite

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/flush/promseries"
)

// request is one encoded remote-write request.
type request struct {
	body   []byte // snappy-compressed prompb.WriteRequest
	series int    // time series in it
}

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

// spans encodes dense buckets as native histogram spans and count deltas.
// Runs of more than two empty buckets end a span; shorter runs are
// encoded as zero counts, as Prometheus' own encoder does.
func spans(b expohist.Buckets) ([]prompb.BucketSpan, []int64) {
	c := expohist.RoundCounts(b.Counts)
	var (
		out    []prompb.BucketSpan
		deltas []int64
		prev   int64
		next   int32 // index after the previous span
	)
	for k := 0; k < len(c); {
		if c[k] == 0 {
			k++
			continue
		}
		start, end := k, k+1
		for j := k + 1; j < len(c); {
			if c[j] != 0 {
				end, j = j+1, j+1
				continue
			}
			z := j
			for z < len(c) && c[z] == 0 {
				z++
			}
			if z == len(c) || z-j > 2 {
				break
			}
			end, j = z+1, z+1
		}
		idx := b.Offset + int32(start)
		off := idx
		if len(out) > 0 {
			off = idx - next
		}
		out = append(out, prompb.BucketSpan{Offset: off, Length: uint32(end - start)})
		for i := start; i < end; i++ {
			deltas = append(deltas, int64(c[i])-prev)
			prev = int64(c[i])
		}
		next = b.Offset + int32(end)
		k = end
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
