package expohist_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// TestAggregatorsMerge is the fleet property end to end through the
// aggregator: N agents' aggregators, each fed a random part of one sample
// set, produce sketches whose merge answers every quantile exactly as the
// sketch of one aggregator that saw all the samples, within 1% of the exact
// percentile; and the exponential histograms built from them add up to the
// whole set's histogram. It holds below and above MaxValues (exact store
// and streaming sketch).
func TestAggregatorsMerge(t *testing.T) {
	for _, maxValues := range []int{100000, 50} {
		const agents = 5
		cfg := aggregate.Config{Interval: 10 * time.Second, Sketches: true, MaxValues: maxValues}
		whole := aggregate.New(cfg)
		parts := make([]*aggregate.Aggregator, agents)
		for i := range parts {
			parts[i] = aggregate.New(cfg)
		}
		r := rand.New(rand.NewPCG(42, uint64(maxValues)))
		var all []float64
		wholeShard, partShards := whole.NewShard(), make([]*aggregate.Shard, agents)
		for i := range partShards {
			partShards[i] = parts[i].NewShard()
		}
		for range 5000 {
			v := math.Round(math.Exp(r.NormFloat64()*1.2+3)*100) / 100
			all = append(all, v)
			s := &protocol.Sample{Name: []byte("lat"), Type: protocol.Timer, Value: v, SampleRate: 1}
			wholeShard.Lock()
			wholeShard.Add(s)
			wholeShard.Unlock()
			p := partShards[r.IntN(agents)]
			p.Lock()
			p.Add(s)
			p.Unlock()
		}
		now := time.Unix(1763769600, 0)
		ws := whole.Flush(now).Series[0].Dist.Sketch
		merged := &expohist.Accumulator{}
		mergedSketch := ws.Copy()
		mergedSketch.Clear()
		for _, p := range parts {
			snap := p.Flush(now)
			if len(snap.Series) == 0 {
				continue
			}
			sk := snap.Series[0].Dist.Sketch
			if err := mergedSketch.MergeWith(sk); err != nil {
				t.Fatal(err)
			}
			h, err := expohist.FromSketch(sk, expohist.DefaultSchema, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			merged.Add(h)
		}
		slices.Sort(all)
		for _, q := range []float64{0.01, 0.25, 0.5, 0.9, 0.99, 0.999} {
			a, _ := mergedSketch.GetValueAtQuantile(q)
			b, _ := ws.GetValueAtQuantile(q)
			if a != b {
				t.Errorf("max_values %d q %v: merged sketch %v, one agent %v", maxValues, q, a, b)
			}
			exact := all[int(q*float64(len(all)-1))]
			if math.Abs(a-exact) > aggregate.SketchAccuracy*exact {
				t.Errorf("max_values %d q %v: %v vs exact %v: beyond 1%%", maxValues, q, a, exact)
			}
		}
		want, _ := expohist.FromSketch(ws, expohist.DefaultSchema, 1, 0)
		if diff := cmp.Diff(want, merged.Histogram()); diff != "" {
			t.Errorf("max_values %d: merged histograms differ (-one agent +merged):\n%s", maxValues, diff)
		}
	}
}
