package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/anomaly"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

type fakeVerdicts []anomaly.Verdict

func (f *fakeVerdicts) Verdicts() []anomaly.Verdict { return *f }

func counter(name string, rate float64) aggregate.Series {
	return aggregate.Series{Name: name, Type: protocol.Counter, Value: rate * 10, Rate: rate}
}

func TestProcessStatus(t *testing.T) {
	rd := Reading{Packets: 100, Lines: 1000, Invalid: 2, KernelDrops: 5, UDP: "127.0.0.1:8125",
		InvalidByReason: map[string]uint64{"bad value": 2, "bad type": 0},
		Drops:           map[string]float64{"truncated datagrams": 1},
		Backends: []flush.BackendStats{
			{Name: "stdout", Flushes: 3, LastFlush: t0},
			{Name: "netuitive", Flushes: 3, Errors: 1, LastError: "503"},
			{Name: "monitis"},
		}}
	latency := anomaly.Key{Name: "api.latency", Type: protocol.Timer, Stat: "mean"}
	vs := &fakeVerdicts{}
	p := New(Config{Source: SourceFunc(func() Reading { return rd }), Anomaly: vs, Top: 2, Version: "v1",
		Now: func() time.Time { return t0 }})

	snap := func(ts time.Time, lat float64) *aggregate.Snapshot {
		return &aggregate.Snapshot{Time: ts, Interval: 10 * time.Second, Series: []aggregate.Series{
			counter("a", 5), counter("b", 50), counter("c", 20),
			{Name: "g", Type: protocol.Gauge, Value: 3},
			{Name: "api.latency", Type: protocol.Timer, Dist: &aggregate.DistStats{N: 1, Count: 1, CountPS: 0.1, Mean: lat}},
		}}
	}
	*vs = fakeVerdicts{{Key: latency, Value: 20, Band: anomaly.Band{Ready: true, Lower: 10, Upper: 30}}}
	p.Process(snap(t0, 20))
	// Ten seconds later: 2000 more lines, 10 more kernel drops.
	rd.Lines, rd.Packets, rd.Invalid, rd.KernelDrops = 3000, 300, 12, 15
	rd.Drops = map[string]float64{"truncated datagrams": 6}
	*vs = fakeVerdicts{{Key: latency, Value: 90, Band: anomaly.Band{Ready: true, Lower: 10, Upper: 30}, Outside: true, Deviating: true}}
	s := snap(t0.Add(10*time.Second), 90)
	s.Events = []protocol.Event{{Title: "Deviation: api.latency mean", AlertType: "warning", SourceType: "anomaly"}}
	p.Process(s)

	st := p.Status()
	want := Ingest{LinesPerSec: 200, PacketsPerSec: 20, InvalidPerSec: 1, KernelDropsPerSec: 1,
		Lines: 3000, Packets: 300, Invalid: 12, KernelDrops: 15}
	if diff := cmp.Diff(want, st.Ingest); diff != "" {
		t.Errorf("ingest (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Drop{{Name: "truncated datagrams", Total: 6, PerSec: 0.5}}, st.Drops); diff != "" {
		t.Errorf("drops (-want +got):\n%s", diff)
	}
	if st.Series != 5 || st.Flushes != 2 || st.UDP != "127.0.0.1:8125" || st.Version != "v1" || st.IntervalSeconds != 10 {
		t.Errorf("status = %+v", st)
	}
	if diff := cmp.Diff(map[string]uint64{"bad value": 2}, st.InvalidByReason); diff != "" {
		t.Errorf("invalid by reason (-want +got):\n%s", diff)
	}
	if len(st.History) != 2 || st.History[1].LinesPerSec != 200 || st.History[1].DropsPerSec != 1.5 {
		t.Errorf("history = %+v", st.History)
	}
	var health []string
	for _, b := range st.Backends {
		health = append(health, b.Name+"="+b.Health)
	}
	if diff := cmp.Diff([]string{"stdout=ok", "netuitive=failing", "monitis=waiting"}, health); diff != "" {
		t.Errorf("backend health (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]TopSeries{
		{ID: "counter:b:rate", Series: "b", Type: "counter", Stat: "rate", Rate: 50},
		{ID: "counter:c:rate", Series: "c", Type: "counter", Stat: "rate", Rate: 20},
	}, st.Top); diff != "" {
		t.Errorf("top (-want +got):\n%s", diff)
	}
	wantA := &AnomalyStatus{Learned: 1, Ready: 1, Deviating: []Deviation{{ID: "timer:api.latency:mean", Series: "api.latency",
		Stat: "mean", Value: 90, Lower: 10, Upper: 30, Deviating: true}}}
	if diff := cmp.Diff(wantA, st.Anomaly); diff != "" {
		t.Errorf("anomaly (-want +got):\n%s", diff)
	}
	if len(st.Events) != 1 || st.Events[0].Title != "Deviation: api.latency mean" || !st.Events[0].Time.Equal(s.Time) {
		t.Errorf("events = %+v", st.Events)
	}

	// Charted: the learned statistic first (it deviates), then the top.
	var ids []string
	for _, si := range p.Series() {
		ids = append(ids, si.ID)
	}
	if diff := cmp.Diff([]string{"timer:api.latency:mean", "counter:b:rate", "counter:c:rate"}, ids); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
	d, ok := p.SeriesData("timer:api.latency:mean")
	wantPts := []Point{
		{T: t0.UnixMilli(), V: 20, Lo: 10, Hi: 30, Band: true},
		{T: t0.Add(10 * time.Second).UnixMilli(), V: 90, Lo: 10, Hi: 30, Band: true, Outside: true, Dev: true},
	}
	if !ok || !d.Deviating || !d.Band || d.Last != 90 {
		t.Errorf("series data = %+v, %v", d.SeriesInfo, ok)
	}
	if diff := cmp.Diff(wantPts, d.Points); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
}

func TestRingsBounded(t *testing.T) {
	p := New(Config{Points: 3, MaxSeries: 2, Top: 2})
	ts := t0
	for i := range 5 {
		p.Process(&aggregate.Snapshot{Time: ts, Interval: time.Second, Series: []aggregate.Series{counter("x", float64(i+1)), counter("y", 0.5)}})
		ts = ts.Add(time.Second)
	}
	d, _ := p.SeriesData("counter:x:rate")
	var vals []float64
	for _, pt := range d.Points {
		vals = append(vals, pt.V)
	}
	if diff := cmp.Diff([]float64{3, 4, 5}, vals); diff != "" {
		t.Errorf("ring keeps the last 3 (-want +got):\n%s", diff)
	}
	// A new top series evicts the least recently updated ring (y stopped).
	p.Process(&aggregate.Snapshot{Time: ts, Interval: time.Second, Series: []aggregate.Series{counter("x", 1), counter("z", 9)}})
	p.Process(&aggregate.Snapshot{Time: ts.Add(time.Second), Interval: time.Second, Series: []aggregate.Series{counter("x", 1), counter("w", 9)}})
	var ids []string
	for _, si := range p.Series() {
		ids = append(ids, si.ID)
	}
	if diff := cmp.Diff([]string{"counter:w:rate", "counter:x:rate"}, ids); diff != "" {
		t.Errorf("rings (-want +got):\n%s", diff)
	}
	// Non-finite values are not charted (JSON has no NaN).
	p.Process(&aggregate.Snapshot{Time: ts.Add(2 * time.Second), Interval: time.Second, Series: []aggregate.Series{
		{Name: "g", Type: protocol.Gauge, Value: 1}}})
	p.record(anomaly.Key{Name: "nan", Type: protocol.Gauge, Stat: "value"}, Point{V: math.NaN()})
	if _, ok := p.SeriesData("gauge:nan:value"); ok {
		t.Error("NaN charted")
	}
}

func TestTopSeries(t *testing.T) {
	s := &aggregate.Snapshot{}
	for i, r := range []float64{3, 9, 1, 7, 0, 9.5, 2} {
		s.Series = append(s.Series, counter(fmt.Sprint(i), r))
	}
	s.Series = append(s.Series, aggregate.Series{Name: "t", Type: protocol.Timer, Dist: &aggregate.DistStats{CountPS: 8}})
	var got []float64
	for _, r := range topSeries(s, 3) {
		got = append(got, r.rate)
	}
	if diff := cmp.Diff([]float64{9.5, 9, 8}, got); diff != "" {
		t.Errorf("top 3 (-want +got):\n%s", diff)
	}
}

func TestHandlers(t *testing.T) {
	p := New(Config{})
	p.Process(&aggregate.Snapshot{Time: t0, Interval: 10 * time.Second, Series: []aggregate.Series{counter("req", 4)}})
	mux := http.NewServeMux()
	for pat, h := range p.Routes() {
		mux.Handle(pat, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body, ct := get(t, srv.URL+"/", 200)
	if ct != "text/html; charset=utf-8" || !strings.Contains(body, `href="/metrics"`) || !strings.Contains(body, `name="viewport"`) {
		t.Errorf("page: %s, links /metrics and fits a phone: %v", ct, strings.Contains(body, `href="/metrics"`))
	}
	// Nothing is loaded from elsewhere: no src or href to another host.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(body); m != "" {
		t.Errorf("page loads an external resource: %s", m)
	}
	body, ct = get(t, srv.URL+"/api/status", 200)
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || ct != "application/json" || st.Series != 1 || len(st.Top) != 1 {
		t.Errorf("status = %+v, %v (%s)", st, err, ct)
	}
	if st.Anomaly != nil {
		t.Error("anomaly section without a detector")
	}
	body, _ = get(t, srv.URL+"/api/series", 200)
	var list []SeriesInfo
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 || list[0].ID != "counter:req:rate" {
		t.Fatalf("series list = %s", body)
	}
	body, _ = get(t, srv.URL+"/api/series?id="+url.QueryEscape(list[0].ID), 200)
	var d SeriesData
	if err := json.Unmarshal([]byte(body), &d); err != nil || len(d.Points) != 1 || d.Points[0].V != 4 {
		t.Errorf("series = %s", body)
	}
	get(t, srv.URL+"/api/series?id=nope", 404)
}

func get(t *testing.T, u string, code int) (string, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %d, want %d: %s", u, resp.StatusCode, code, b)
	}
	return string(b), resp.Header.Get("Content-Type")
}

// TestAgentSource reads a real agent: lines sent over UDP show in the
// reading, with the kernel's drop counter read from the registry.
func TestAgentSource(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := agent.New(agent.Config{UDP: "127.0.0.1:0", Registerer: reg}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := AgentSource(a, reg)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; a.LinesReceived() < 3; i++ {
		if time.Now().After(deadline) || i > 1000 {
			t.Fatal("lines not received")
		}
		if _, err := c.Write([]byte("a:1|c\nb:2|ms\nbad line")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // waiting for the kernel to deliver, not driving logic
	}
	rd := src.Read()
	if rd.Lines < 3 || rd.Packets < 1 || rd.Invalid < 1 || rd.UDP != a.UDPAddr().String() || rd.KernelDrops != 0 {
		t.Errorf("reading = %+v", rd)
	}
	if _, ok := rd.Drops["truncated datagrams"]; !ok {
		t.Errorf("drops lack the truncation counter: %v", rd.Drops)
	}
}

func TestSetSourceAndNilDetector(t *testing.T) {
	var det *anomaly.Detector // detection off
	p := New(Config{Anomaly: det})
	p.SetSource(SourceFunc(func() Reading { return Reading{Lines: 7} }))
	p.Process(&aggregate.Snapshot{Time: t0, Interval: time.Second})
	st := p.Status()
	if st.Ingest.Lines != 7 || st.Anomaly != nil {
		t.Errorf("status = %+v", st)
	}
}
