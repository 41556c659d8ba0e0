package browser

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/anomaly"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/flush/jsonl"
	"github.com/statsd-agent/statsd-agent/server/admin"
	"github.com/statsd-agent/statsd-agent/status"
)

const chromium = "/usr/bin/chromium"

// stack is the agent, detector, page and HTTP endpoint, as
// cmd/statsd-agent wires them.
type stack struct {
	agent *agent.Agent
	det   *anomaly.Detector
	base  string
	out   *lockedBuffer // the JSON-lines backend's output
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, interval time.Duration) *stack {
	t.Helper()
	reg := prometheus.NewRegistry()
	det, err := anomaly.New(anomaly.Config{Enabled: true, Patterns: []string{"timer:*:mean", "counter:*:rate"},
		WarmUp: anomaly.Duration(30 * interval)}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	page := status.New(status.Config{Anomaly: det, Version: "e2e"})
	out := &lockedBuffer{}
	a, err := agent.New(agent.Config{UDP: "127.0.0.1:0", Aggregate: aggregate.Config{Interval: interval},
		Processors: []flush.Processor{det, page}, Registerer: reg}, []flush.Backend{jsonl.New(out)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	page.SetSource(status.AgentSource(a, reg))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	srv, err := admin.Listen(admin.Config{Addr: "127.0.0.1:0", Gatherer: reg, Routes: page.Routes()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	return &stack{agent: a, det: det, base: "http://" + srv.Addr().String(), out: out}
}

// sender sends StatsD lines until stopped: a counter, a second counter and
// a timer whose value is latency() (bounded: at most 10 minutes' worth).
type sender struct {
	mu      sync.Mutex
	latency float64
	stop    chan struct{}
	done    chan struct{}
}

func (s *sender) set(v float64) {
	s.mu.Lock()
	s.latency = v
	s.mu.Unlock()
}

func send(t *testing.T, addr string) *sender {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &sender{latency: 50, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer c.Close()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := range 60000 {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			s.mu.Lock()
			lat := s.latency + float64(i%5)
			s.mu.Unlock()
			_, _ = fmt.Fprintf(c, "e2e.requests:%d|c\ne2e.errors:1|c|@0.5\ne2e.latency:%g|ms|#env:test", 1+i%3, lat)
		}
	}()
	t.Cleanup(func() { close(s.stop); <-s.done })
	return s
}

func browser(t *testing.T, width, height int) (context.Context, func() []string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers often have a small /dev/shm
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tctx, tcancel := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { tcancel(); cancel(); acancel() })

	var mu sync.Mutex
	var requests, problems []string
	err := chromedp.Listen(tctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			problems = append(problems, fmt.Sprintf("exception: %s %+v", e.ExceptionDetails.Text, e.ExceptionDetails.Exception))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return tctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append(append([]string(nil), problems...), requests...)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("STATUS_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(png))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("%s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitJS waits until the expression is true in the page.
func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(100*time.Millisecond),
		chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, js, err)
	}
}

func TestStatusPage(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s not found: the browser test needs Debian's chromium package (apt-get install -y chromium)", chromium)
	}
	st := start(t, 200*time.Millisecond)
	snd := send(t, st.agent.UDPAddr().String())

	ctx, seen := browser(t, 412, 915) // a phone's screen
	const series = "timer:e2e.latency{env:test}:mean"
	if err := chromedp.Do(ctx, chromedp.Navigate(st.base+"/#"+series)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the first update", `+document.getElementById("updated").dataset.updates >= 1 && document.getElementById("lines-rate").textContent !== "-"`)

	// The numbers appear: ingest rate > 0, the 3 series, the backend.
	waitJS(t, ctx, "a non-zero ingest rate", `parseFloat(document.getElementById("lines-rate").textContent) > 0`)
	// (Waits, not asserts: on a loaded machine a 200 ms interval may
	// miss the sender, and its flush then has fewer series.)
	waitJS(t, ctx, "3 series", `document.getElementById("series-count").textContent === "3"`)
	waitJS(t, ctx, "the top series", `["e2e.requests", "e2e.latency{env:test}"].every((s) => document.getElementById("top").textContent.includes(s))`)
	if got := text(t, ctx, "#backends tbody"); !strings.Contains(got, "stdout") {
		t.Errorf("backends = %q", got)
	}
	if got := text(t, ctx, "#kernel-drops"); got != "0" {
		t.Errorf("kernel drops = %q", got)
	}
	if href := eval[string](t, ctx, `document.querySelector('a[href="/metrics"]').getAttribute("href")`); href != "/metrics" {
		t.Errorf("no link to /metrics")
	}

	// The chart appears and grows as flushes come in: it updates live.
	waitJS(t, ctx, "a chart of 3 points", `+document.getElementById("chart").dataset.points >= 3`)
	n0 := eval[float64](t, ctx, `+document.getElementById("chart").dataset.points`)
	u0 := eval[float64](t, ctx, `+document.getElementById("updated").dataset.updates`)
	waitJS(t, ctx, "more points", fmt.Sprintf(`+document.getElementById("chart").dataset.points > %v && +document.getElementById("updated").dataset.updates > %v`, n0, u0))

	// After the warm-up (30 flushes) the band is drawn; a spike is marked.
	waitJS(t, ctx, "the band", `document.querySelector("#chart polygon.band") !== null`)
	snd.set(900)
	waitJS(t, ctx, "a deviation marked on the chart", `document.querySelector("#chart circle.dev") !== null`)
	waitJS(t, ctx, "the deviation listed", `document.getElementById("anomalies").textContent.includes("e2e.latency")`)
	snd.set(50)
	waitJS(t, ctx, "the deviation event", `document.getElementById("events").textContent.includes("Deviation: e2e.latency{env:test} mean")`)
	if dev := eval[string](t, ctx, `document.getElementById("deviating").textContent`); dev == "-" || dev == "off" {
		t.Errorf("anomalies card = %q", dev)
	}
	// Fits the phone: nothing wider than the viewport.
	if w := eval[float64](t, ctx, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("page is %v px wider than a 412 px screen", w)
	}
	screenshot(t, ctx, "status-phone.png")

	for _, s := range seen() {
		if strings.HasPrefix(s, "exception") {
			t.Errorf("page script: %s", s)
		} else if !strings.HasPrefix(s, st.base+"/") {
			t.Errorf("request outside the agent: %s", s)
		}
	}
	if st.det.Stats().Events["deviation"] == 0 {
		t.Error("detector raised no deviation")
	}
	// The event reached the backend too (JSON lines).
	found := false
	for _, line := range strings.Split(st.out.String(), "\n") {
		if strings.Contains(line, `Deviation: e2e.latency{env:test} mean`) && strings.Contains(line, `"anomaly"`) {
			found = true
			break
		}
	}
	if !found {
		t.Error("the JSON-lines backend got no deviation event")
	}
}

// TestStatusPageDesktop takes a desktop-sized screenshot of a page with a
// few series; it checks the layout has the chart beside the numbers.
func TestStatusPageDesktop(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("%s not found: the browser test needs Debian's chromium package (apt-get install -y chromium)", chromium)
	}
	st := start(t, 200*time.Millisecond)
	send(t, st.agent.UDPAddr().String())
	ctx, _ := browser(t, 1280, 900)
	if err := chromedp.Do(ctx, chromedp.Navigate(st.base+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "a chart of 5 points", `+document.getElementById("chart").dataset.points >= 5`)
	cards := eval[float64](t, ctx, `document.querySelectorAll(".card").length`)
	if cards != 7 {
		t.Errorf("%v cards, want 7", cards)
	}
	waitJS(t, ctx, "the top series", `document.querySelector("#top tbody tr td").textContent.startsWith("e2e.")`)
	screenshot(t, ctx, "status-desktop.png")
}
