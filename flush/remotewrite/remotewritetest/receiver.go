package remotewritetest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// Receiver is a fake remote-write 1.0 receiver written from the
// specification and Prometheus' receiver: it checks what Prometheus checks
// (POST, snappy, protobuf, sorted unique valid labels with a metric name,
// consistent native histograms, no out-of-order sample for a series) and
// answers as it does: 204 when every series is stored, 400 with a text
// message when the request is bad (nothing of it is stored). Scripted
// failures (Fail) answer before any check.
type Receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []*prompb.WriteRequest
	headers  []http.Header
	last     map[string]int64 // series -> latest timestamp
	script   []Failure
}

// Failure is a scripted answer.
type Failure struct {
	Status     int
	Body       string
	RetryAfter string
}

// NewReceiver starts a Receiver; Close stops it.
func NewReceiver() *Receiver {
	r := &Receiver{last: map[string]int64{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// URL is the write endpoint.
func (r *Receiver) URL() string { return r.srv.URL + "/api/v1/write" }

// Close stops the server.
func (r *Receiver) Close() { r.srv.Close() }

// Fail makes the next requests get these answers, in order.
func (r *Receiver) Fail(f ...Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, f...)
}

// Requests returns the accepted requests, in arrival order.
func (r *Receiver) Requests() []*prompb.WriteRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*prompb.WriteRequest(nil), r.requests...)
}

// Headers returns the headers of the accepted requests.
func (r *Receiver) Headers() []http.Header {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]http.Header(nil), r.headers...)
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.script) > 0 {
		f := r.script[0]
		r.script = r.script[1:]
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		http.Error(w, f.Body, f.Status)
		return
	}
	if req.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if ce := req.Header.Get("Content-Encoding"); ce != "snappy" {
		http.Error(w, fmt.Sprintf("unsupported content encoding %q", ce), http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := Validate(&wr); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Out-of-order samples fail the whole request (Prometheus appends a
	// request in one transaction and rolls it back).
	next := map[string]int64{}
	for _, ts := range wr.Timeseries {
		k := seriesKey(ts.Labels)
		for _, t := range timestamps(ts) {
			last, ok := next[k]
			if !ok {
				last, ok = r.last[k]
			}
			if ok && t < last {
				http.Error(w, fmt.Sprintf("out of order sample for series %s", k), http.StatusBadRequest)
				return
			}
			next[k] = t
		}
	}
	for k, t := range next {
		r.last[k] = t
	}
	r.requests = append(r.requests, &wr)
	r.headers = append(r.headers, req.Header.Clone())
	w.WriteHeader(http.StatusNoContent)
}

func timestamps(ts prompb.TimeSeries) []int64 {
	var out []int64
	for _, s := range ts.Samples {
		out = append(out, s.Timestamp)
	}
	for _, h := range ts.Histograms {
		out = append(out, h.Timestamp)
	}
	return out
}

func seriesKey(ls []prompb.Label) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Name + "=" + l.Value + ",")
	}
	return b.String()
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Validate checks a request as Prometheus' receiver does.
func Validate(wr *prompb.WriteRequest) error {
	for i, ts := range wr.Timeseries {
		name := ""
		for j, l := range ts.Labels {
			if !labelNameRE.MatchString(l.Name) {
				return fmt.Errorf("series %d: invalid label name %q", i, l.Name)
			}
			if l.Value == "" {
				return fmt.Errorf("series %d: label %q has an empty value", i, l.Name)
			}
			if j > 0 && ts.Labels[j-1].Name >= l.Name {
				return fmt.Errorf("series %d: labels not sorted or duplicate: %q before %q", i, ts.Labels[j-1].Name, l.Name)
			}
			if l.Name == "__name__" {
				name = l.Value
			}
		}
		if !metricNameRE.MatchString(name) {
			return fmt.Errorf("series %d: invalid or missing metric name %q", i, name)
		}
		if len(ts.Samples)+len(ts.Histograms) == 0 {
			return fmt.Errorf("series %d (%s): no samples", i, name)
		}
		for _, h := range ts.Histograms {
			if err := validateHistogram(h); err != nil {
				return fmt.Errorf("series %d (%s): %w", i, name, err)
			}
		}
	}
	return nil
}

func validateHistogram(h prompb.Histogram) error {
	if h.Schema < -4 || h.Schema > 8 {
		return fmt.Errorf("histogram schema %d out of range", h.Schema)
	}
	if h.ZeroThreshold < 0 || math.IsNaN(h.ZeroThreshold) {
		return errors.New("bad zero threshold")
	}
	ci, ok := h.Count.(*prompb.Histogram_CountInt)
	if !ok {
		return errors.New("float histogram where an integer one was expected")
	}
	zc, _ := h.ZeroCount.(*prompb.Histogram_ZeroCountInt)
	total := uint64(0)
	if zc != nil {
		total = zc.ZeroCountInt
	}
	for _, side := range []struct {
		spans  []prompb.BucketSpan
		deltas []int64
	}{{h.PositiveSpans, h.PositiveDeltas}, {h.NegativeSpans, h.NegativeDeltas}} {
		n := 0
		for k, s := range side.spans {
			if k > 0 && s.Offset < 0 {
				return errors.New("negative offset between spans")
			}
			n += int(s.Length)
		}
		if n != len(side.deltas) {
			return fmt.Errorf("spans hold %d buckets, %d deltas", n, len(side.deltas))
		}
		var c int64
		for _, d := range side.deltas {
			c += d
			if c < 0 {
				return errors.New("negative bucket count")
			}
			total += uint64(c)
		}
	}
	if total != ci.CountInt {
		return fmt.Errorf("histogram count %d, buckets hold %d", ci.CountInt, total)
	}
	return nil
}
