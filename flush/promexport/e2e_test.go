package promexport

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/flush/remotewrite/remotewritetest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// TestPrometheusScrape serves two exporters (two hosts that saw disjoint
// halves of one sample set) to a real Prometheus that scrapes them with
// native histograms on, and checks the merged percentiles and counters.
func TestPrometheusScrape(t *testing.T) {
	if remotewritetest.Binary() == "" {
		t.Skip("prometheus binary not found: install Debian's package (apt-get install -y prometheus) to run this end-to-end test")
	}
	r := rand.New(rand.NewPCG(7, 8))
	all := make([]float64, 3000)
	var halves [2][]float64
	for i := range all {
		all[i] = math.Exp(r.NormFloat64()*0.7 + 3)
		halves[i%2] = append(halves[i%2], all[i])
	}
	var targets []string
	for i, host := range []string{"host-a", "host-b"} {
		e, err := New(Config{Host: host}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		snap := &aggregate.Snapshot{Time: time.Unix(1763769600, 0), Interval: 10 * time.Second, Series: []aggregate.Series{
			{Name: "fleet.latency", Type: protocol.Timer, Dist: dist(t, halves[i]...)},
			{Name: "fleet.req", Type: protocol.Counter, Value: float64(10 * (i + 1))},
		}}
		if err := e.Flush(context.Background(), snap); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET "+Path, e)
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		targets = append(targets, strings.TrimPrefix(srv.URL, "http://"))
	}
	prom := remotewritetest.Start(t, targets...)

	// Wait (bounded) until both targets have been scraped once.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		v, err := prom.Query(ctx, `count(fleet_latency)`, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(v) == 1 && v[0].Value == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("targets not scraped with native histograms within 60s: %+v", v)
		case <-time.After(200 * time.Millisecond):
		}
	}
	now := time.Now()
	q := func(query string) float64 {
		t.Helper()
		v, err := prom.Query(ctx, query, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 1 {
			t.Fatalf("%s: %+v", query, v)
		}
		return v[0].Value
	}
	if got := q(`sum(fleet_req_total)`); got != 30 {
		t.Errorf("sum of counters = %v, want 30", got)
	}
	if got := q(`histogram_count(sum(fleet_latency))`); got != float64(len(all)) {
		t.Errorf("merged count = %v, want %d", got, len(all))
	}
	slices.Sort(all)
	bound := expohist.ErrorBound(expohist.DefaultSchema, aggregate.SketchAccuracy)
	n := float64(len(all))
	for _, p := range []float64{0.5, 0.9, 0.99} {
		got := q(fmt.Sprintf(`histogram_quantile(%g, sum(fleet_latency))`, p))
		lo := all[max(0, int(math.Floor(p*n))-1)] / (1 + bound)
		hi := all[min(len(all)-1, int(math.Ceil(p*n)))] * (1 + bound)
		if got < lo || got > hi {
			t.Errorf("histogram_quantile(%v) = %v, outside [%v, %v]", p, got, lo, hi)
		}
	}
}
