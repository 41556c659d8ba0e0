// Package remotewritetest starts a real Prometheus server for end-to-end
// tests of the fleet backends: Debian's prometheus package (2.42 or later),
// on loopback, with the remote-write receiver and native histograms on, and
// a small client for its HTTP query API.
//
// Tests call Start, which skips the test with a clear message when no
// prometheus binary is installed (CI installs it with
// `apt-get install -y prometheus`), and stops the server at the end of the
// test.
package remotewritetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Server is a running Prometheus.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL string
	cmd *exec.Cmd
	out *syncBuffer
}

// WriteURL returns the remote-write receiver's URL.
func (s *Server) WriteURL() string { return s.URL + "/api/v1/write" }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Binary returns the path of the prometheus binary, or "" when it is not
// installed ($PROMETHEUS overrides the search of $PATH).
func Binary() string {
	if p := os.Getenv("PROMETHEUS"); p != "" {
		return p
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return ""
	}
	return p
}

// Start starts Prometheus on a free loopback port with a temporary
// configuration and storage, waits (at most 60 s) until it is ready, and
// registers its shutdown with t.Cleanup. Each scrape target ("host:port")
// is scraped every second at /metrics/series, as job "statsd".
func Start(t testing.TB, scrapeTargets ...string) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("prometheus binary not found: install Debian's package (apt-get install -y prometheus) or set $PROMETHEUS to run the end-to-end tests with a real Prometheus")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	yml := "global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\n"
	if len(scrapeTargets) > 0 {
		yml += "scrape_configs:\n  - job_name: statsd\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    metrics_path: /metrics/series\n    static_configs:\n      - targets:\n"
		for _, tg := range scrapeTargets {
			yml += "          - " + strconv.Quote(tg) + "\n"
		}
	}
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	out := &syncBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--web.enable-remote-write-receiver",
		"--enable-feature=native-histograms",
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	s := &Server{URL: "http://" + addr, cmd: cmd, out: out}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited before it was ready: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 60s:\n%s", out.String())
		}
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago (Prometheus takes an address, not a listener).
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string
	Value  float64 // NaN for histogram samples
	// Histogram is set for native histogram samples.
	Histogram *HistogramValue
}

// HistogramValue is a native histogram as the query API returns it.
type HistogramValue struct {
	Count, Sum float64
	// Buckets are [boundaryRule, lower, upper, count] rows.
	Buckets [][4]float64
}

// Query evaluates an instant query at ts and returns the vector.
func (s *Server) Query(ctx context.Context, query string, ts time.Time) ([]Sample, error) {
	v := url.Values{"query": {query}, "time": {strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', 3, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric    map[string]string `json:"metric"`
				Value     []json.RawMessage `json:"value"`
				Histogram []json.RawMessage `json:"histogram"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("query %q: %s: %w", query, body, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", query, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %s, want vector", query, r.Data.ResultType)
	}
	var out []Sample
	for _, e := range r.Data.Result {
		smp := Sample{Metric: e.Metric}
		switch {
		case len(e.Value) == 2:
			var str string
			if err := json.Unmarshal(e.Value[1], &str); err != nil {
				return nil, err
			}
			if smp.Value, err = strconv.ParseFloat(str, 64); err != nil {
				return nil, err
			}
		case len(e.Histogram) == 2:
			var h struct {
				Count   string              `json:"count"`
				Sum     string              `json:"sum"`
				Buckets [][]json.RawMessage `json:"buckets"`
			}
			if err := json.Unmarshal(e.Histogram[1], &h); err != nil {
				return nil, err
			}
			hv := &HistogramValue{}
			hv.Count, _ = strconv.ParseFloat(h.Count, 64)
			hv.Sum, _ = strconv.ParseFloat(h.Sum, 64)
			for _, b := range h.Buckets {
				if len(b) != 4 {
					continue
				}
				var row [4]float64
				var rule int
				_ = json.Unmarshal(b[0], &rule)
				row[0] = float64(rule)
				for i := 1; i < 4; i++ {
					var str string
					_ = json.Unmarshal(b[i], &str)
					row[i], _ = strconv.ParseFloat(str, 64)
				}
				hv.Buckets = append(hv.Buckets, row)
			}
			smp.Histogram = hv
		}
		out = append(out, smp)
	}
	return out, nil
}
