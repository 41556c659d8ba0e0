package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]float64
		wantErr string
	}{
		{name: "empty", in: "", want: map[string]float64{}},
		{name: "comments", in: "# HELP a x\n# TYPE a counter\n\n", want: map[string]float64{}},
		{name: "plain", in: "a_total 12\n", want: map[string]float64{"a_total": 12}},
		{name: "float and timestamp", in: "a 1.5e3 1700000000000\n", want: map[string]float64{"a": 1500}},
		{name: "labels summed", in: "a{l=\"x\"} 1\na{l=\"y\",m=\"z\"} 2\n", want: map[string]float64{"a": 3}},
		{name: "escaped label", in: "a{l=\"}\\\" {\"} 4\n", want: map[string]float64{"a": 4}},
		{name: "special values", in: "a +Inf\nb NaN\nc -Inf\n", want: map[string]float64{"a": math.Inf(1), "b": math.NaN(), "c": math.Inf(-1)}},
		{name: "colon name", in: "job:rate:sum 7\n", want: map[string]float64{"job:rate:sum": 7}},
		{name: "crlf", in: "a 1\r\nb 2\r\n", want: map[string]float64{"a": 1, "b": 2}},
		{name: "no value", in: "a\n", wantErr: "missing value"},
		{name: "bad value", in: "a x\n", wantErr: "invalid value"},
		{name: "bad timestamp", in: "a 1 x\n", wantErr: "invalid timestamp"},
		{name: "extra field", in: "a 1 2 3\n", wantErr: "want a value"},
		{name: "bad name", in: "1a 1\n", wantErr: "invalid metric name"},
		{name: "open labels", in: "a{l=\"x\" 1\n", wantErr: "unterminated"},
		{name: "glued value", in: "a{l=\"x\"}1\n", wantErr: "missing value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMetrics(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b float64) bool {
				return a == b || math.IsNaN(a) && math.IsNaN(b)
			})); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseMetrics(f *testing.F) {
	for _, s := range []string{"a 1\n", "a{l=\"x\"} 2 3\n# c\n", "a{l=\"}\\\"\"} 4", "a x", "a{", "b NaN\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseMetrics(strings.NewReader(in))
		if err != nil {
			return
		}
		// Property: writing the parsed values back and parsing again gives
		// the same names and values.
		var b strings.Builder
		for k, v := range m {
			fmt.Fprintf(&b, "%s %v\n", k, v)
		}
		again, err := ParseMetrics(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b.String(), err)
		}
		if len(again) != len(m) {
			t.Fatalf("re-parse has %d metrics, want %d", len(again), len(m))
		}
		for k, v := range m {
			if w := again[k]; w != v && !(math.IsNaN(v) && math.IsNaN(w)) {
				t.Fatalf("%s: re-parsed %v, want %v", k, w, v)
			}
		}
	})
}

// fakeAgent serves /metrics like the agent: the line counter grows by step
// on each scrape until it reaches final, then stays.
type fakeAgent struct {
	mu      sync.Mutex
	lines   float64
	step    float64
	final   float64
	scrapes int
}

func (f *fakeAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scrapes++
	cur := f.lines
	f.lines = math.Min(f.final, f.lines+f.step)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# TYPE %s counter\n%s{listener=\"udp\"} %g\n%s 10\n", MetricLines, MetricLines, cur, MetricPackets)
}

func TestVerifierWaitCaughtUp(t *testing.T) {
	fa := &fakeAgent{lines: 100, step: 1000, final: 5100}
	srv := httptest.NewServer(fa)
	defer srv.Close()
	v := &Verifier{URL: srv.URL + "/metrics", Poll: time.Millisecond, Settle: 20 * time.Millisecond, MaxWait: 5 * time.Second}
	ctx := context.Background()
	before, err := v.Scrape(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{Lines: 100, Packets: 10, HasPackets: true}
	if before != want {
		t.Fatalf("Scrape = %+v, want %+v", before, want)
	}
	// Wants more than will ever arrive: waits until the counter settles.
	after, err := v.WaitCaughtUp(ctx, before, 6000)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lines != 5100 {
		t.Fatalf("after = %v lines, want 5100", after.Lines)
	}
	verdict := NewVerdict(6000, before, after)
	if verdict.Received != 5000 || verdict.Loss() != 100*1000/6000.0 || verdict.Packets != 0 || !verdict.HasPackets || verdict.HasDrops {
		t.Fatalf("verdict = %+v loss %v", verdict, verdict.Loss())
	}
}

func TestVerifierStopsWhenAllArrived(t *testing.T) {
	fa := &fakeAgent{lines: 0, step: 1000, final: 1e9}
	srv := httptest.NewServer(fa)
	defer srv.Close()
	// Settle and MaxWait are long: only reaching want can end the wait quickly.
	v := &Verifier{URL: srv.URL + "/metrics", Poll: time.Millisecond, Settle: time.Hour, MaxWait: time.Minute}
	after, err := v.WaitCaughtUp(context.Background(), Counters{}, 3000)
	if err != nil {
		t.Fatal(err)
	}
	// Scrapes see 0, 1000, 2000, 3000 (all in), then one more read.
	fa.mu.Lock()
	scrapes := fa.scrapes
	fa.mu.Unlock()
	if after.Lines != 4000 || scrapes != 5 {
		t.Fatalf("after = %v lines in %d scrapes, want 4000 in 5", after.Lines, scrapes)
	}
}

func TestVerifierErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/nometric", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "other_total 1") })
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "statsd_agent_lines_received_total x") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]string{
		"/missing":   "404",
		"/nometric":  "does not export " + MetricLines,
		"/garbage":   "invalid value",
		"%zz":        "invalid URL escape",
		"/../../x:1": "404",
	} {
		v := &Verifier{URL: srv.URL + path}
		if path == "%zz" {
			v.URL = "http://127.0.0.1/%zz"
		}
		_, err := v.Scrape(context.Background())
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Scrape(%s) error = %v, want containing %q", path, err, want)
		}
	}
}

func TestLoss(t *testing.T) {
	for _, tt := range []struct {
		sent, recv int64
		want       float64
	}{{0, 0, 0}, {100, 100, 0}, {100, 150, 0}, {100, 75, 25}, {100, 0, 100}} {
		if got := lossPercent(tt.sent, tt.recv); got != tt.want {
			t.Errorf("lossPercent(%d, %d) = %v, want %v", tt.sent, tt.recv, got, tt.want)
		}
	}
}
