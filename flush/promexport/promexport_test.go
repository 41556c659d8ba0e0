package promexport

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var (
	_ flush.Backend = (*Exporter)(nil)
	_ flush.Named   = (*Exporter)(nil)
	_ http.Handler  = (*Exporter)(nil)
)

func dist(t testing.TB, values ...float64) *aggregate.DistStats {
	t.Helper()
	sk, err := ddsketch.LogUnboundedDenseDDSketch(aggregate.SketchAccuracy)
	if err != nil {
		t.Fatal(err)
	}
	d := &aggregate.DistStats{N: len(values), Count: float64(len(values)), Sketch: sk}
	for _, v := range values {
		d.Sum += v
		_ = sk.Add(v)
	}
	d.Percentiles = []aggregate.PercentileStats{{Threshold: 90, Bound: values[len(values)-1]}}
	return d
}

func testSnapshots(t testing.TB) []*aggregate.Snapshot {
	t0 := time.Unix(1763769600, 0)
	return []*aggregate.Snapshot{
		{Time: t0, Interval: 10 * time.Second, Series: []aggregate.Series{
			{Name: "api.requests", Type: protocol.Counter, Tags: []protocol.Tag{{Key: "env", Value: "prod"}}, Value: 5},
			{Name: "api.latency", Type: protocol.Timer, Dist: dist(t, 1, 2, 2, 10, 250)},
			{Name: "queue", Type: protocol.Gauge, Value: -3.5},
			{Name: "empty", Type: protocol.Distribution, Dist: dist(t, 0)},
		}},
		{Time: t0.Add(10 * time.Second), Interval: 10 * time.Second, Series: []aggregate.Series{
			{Name: "api.requests", Type: protocol.Counter, Tags: []protocol.Tag{{Key: "env", Value: "prod"}}, Value: 7},
			{Name: "api.latency", Type: protocol.Timer, Dist: dist(t, 3, 300)},
			{Name: "users", Type: protocol.Set, Value: 4},
		}},
	}
}

func get(t *testing.T, h http.Handler, accept string) (string, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, Path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return rec.Header().Get("Content-Type"), rec.Body.Bytes()
}

// formatFamilies renders decoded families with every native histogram
// field, one metric per line.
func formatFamilies(fams []*dto.MetricFamily) string {
	var b strings.Builder
	for _, f := range fams {
		fmt.Fprintf(&b, "# %s %s\n", f.GetName(), f.GetType())
		for _, m := range f.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			fmt.Fprintf(&b, "%s{%s} ", f.GetName(), strings.Join(ls, ","))
			switch {
			case m.Counter != nil:
				fmt.Fprintf(&b, "%g\n", m.Counter.GetValue())
			case m.Gauge != nil:
				fmt.Fprintf(&b, "%g\n", m.Gauge.GetValue())
			case m.Histogram != nil:
				h := m.Histogram
				var ps, ns []string
				for _, s := range h.PositiveSpan {
					ps = append(ps, fmt.Sprintf("%d:%d", s.GetOffset(), s.GetLength()))
				}
				for _, s := range h.NegativeSpan {
					ns = append(ns, fmt.Sprintf("%d:%d", s.GetOffset(), s.GetLength()))
				}
				fmt.Fprintf(&b, "count=%d sum=%g schema=%d zero_threshold=%g zero_count=%d positive=[%s]/%v negative=[%s]/%v\n",
					h.GetSampleCount(), h.GetSampleSum(), h.GetSchema(), h.GetZeroThreshold(), h.GetZeroCount(),
					strings.Join(ps, " "), h.PositiveDelta, strings.Join(ns, " "), h.NegativeDelta)
			}
		}
	}
	return b.String()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestExposition serves two flushes and checks both formats: the text
// format byte for byte, the protobuf format decoded (native histograms).
func TestExposition(t *testing.T) {
	e, err := New(Config{Host: "web-01"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, e, ""); len(body) != 0 {
		t.Fatalf("before the first flush: %q", body)
	}
	for i, s := range testSnapshots(t) {
		if err := e.Flush(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		ct, text := get(t, e, "text/plain")
		if !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Errorf("text content type %q", ct)
		}
		golden(t, fmt.Sprintf("flush%d.txt.golden", i+1), text)

		ct, pb := get(t, e, "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3")
		if !strings.Contains(ct, "application/vnd.google.protobuf") {
			t.Fatalf("protobuf content type %q", ct)
		}
		dec := expfmt.NewDecoder(bytes.NewReader(pb), expfmt.Format(ct))
		var fams []*dto.MetricFamily
		for {
			var f dto.MetricFamily
			if err := dec.Decode(&f); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			fams = append(fams, &f)
		}
		golden(t, fmt.Sprintf("flush%d.pb.golden", i+1), []byte(formatFamilies(fams)))
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestHandler(t *testing.T) {
	var h Handler
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, Path, nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("without exporter: %d", rec.Code)
	}
	e, err := New(Config{Host: "h"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(context.Background(), testSnapshots(t)[0]); err != nil {
		t.Fatal(err)
	}
	h.Set(e)
	_, body := get(t, &h, "text/plain")
	if !bytes.Contains(body, []byte(`api_requests_total{env="prod",host="h"} 5`)) {
		t.Errorf("served:\n%s", body)
	}
}
