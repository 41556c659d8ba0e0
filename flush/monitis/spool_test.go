package monitis

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/monitis/monitistest"
)

// delivery is one addResult the fake accepted.
type delivery struct {
	monitorID string
	checktime int64
}

// orderRecorder sits in front of a Fake and records, in order, the
// addResult requests it answered with status ok.
type orderRecorder struct {
	fake *monitistest.Fake
	mu   sync.Mutex
	got  []delivery
}

func (o *orderRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec := httptest.NewRecorder()
	o.fake.ServeHTTP(rec, r)
	if r.PostForm.Get("action") == "addResult" && rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), `"ok"`) {
		ct, _ := strconv.ParseInt(r.PostForm.Get("checktime"), 10, 64)
		o.mu.Lock()
		o.got = append(o.got, delivery{r.PostForm.Get("monitorId"), ct})
		o.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// checkOrder fails unless the accepted results came in flush order
// (checktimes never go back) and none twice.
func (o *orderRecorder) checkOrder(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := map[delivery]bool{}
	for i, d := range o.got {
		if seen[d] {
			t.Errorf("result %v delivered twice", d)
		}
		seen[d] = true
		if i > 0 && d.checktime < o.got[i-1].checktime {
			t.Errorf("delivery %d (checktime %d) after checktime %d: out of flush order", i, d.checktime, o.got[i-1].checktime)
		}
	}
}

// spoolEnv is a fake Monitis (behind an orderRecorder) and backends on one
// spool directory.
type spoolEnv struct {
	env
	fake *monitistest.Fake
	rec  *orderRecorder
	url  string
	dir  string
}

func newSpoolEnv(t *testing.T) *spoolEnv {
	t.Helper()
	f := monitistest.New(monitistest.Options{})
	rec := &orderRecorder{fake: f}
	ts := httptest.NewServer(rec)
	t.Cleanup(func() {
		f.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	return &spoolEnv{fake: f, rec: rec, url: ts.URL, dir: filepath.Join(t.TempDir(), "monitis")}
}

// start opens a backend on the spool directory, as the agent does at each
// start.
func (e *spoolEnv) start(t *testing.T, cfg Config) *Backend {
	t.Helper()
	cfg.SpoolDir = e.dir
	cfg.URL = e.url
	if cfg.Rate == 0 {
		cfg.Rate = 1e6
	}
	cfg.APIKey, cfg.SecretKey = NewSecret(testAPIKey), NewSecret(testSecretKey)
	e.reg = nil
	e.log = &logRecorder{}
	b, err := New(cfg, e.log.logger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	e.b = b
	return b
}

func (e *spoolEnv) flushAt(t *testing.T, s *aggregate.Snapshot, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := e.b.Flush(ctx, s); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func snapAt(i int) *aggregate.Snapshot {
	return snapshot(t0.Add(time.Duration(i)*10*time.Second), float64(i+1))
}

// Monitis down for several flushes (dropped connections, 5xx, hanging
// responses): the results wait in the spool and arrive in flush order
// with their original checktime once it returns; nothing is dropped.
func TestSpoolOutageLosesNothing(t *testing.T) {
	e := newSpoolEnv(t)
	e.start(t, Config{})
	defer e.b.Close(context.Background())
	var snaps []*aggregate.Snapshot
	fl := func(i int, timeout time.Duration) {
		s := snapAt(i)
		snaps = append(snaps, s)
		e.flushAt(t, s, timeout)
	}
	fl(0, 5*time.Second)
	e.fake.Fail(monitistest.FaultDrop, "", -1)
	fl(1, 5*time.Second)
	fl(2, 5*time.Second)
	e.fake.ClearFaults()
	e.fake.Fail(monitistest.Fault5xx, "", -1)
	fl(3, 5*time.Second)
	e.fake.ClearFaults()
	e.fake.Fail(monitistest.FaultHang, "", -1)
	fl(4, 300*time.Millisecond)
	if q := e.b.Queued(); q != 4*6 {
		t.Errorf("queued during the outage = %d, want 24", q)
	}
	if q := testutil.ToFloat64(e.b.metrics.queued); q != 24 {
		t.Errorf("queued metric = %v, want 24", q)
	}
	e.fake.ClearFaults()
	fl(5, 5*time.Second)
	if q := e.b.Queued(); q != 0 {
		t.Errorf("queued after recovery = %d", q)
	}
	if diff := cmp.Diff(expected(t, Config{}, snaps...), readBack(t, e.url, t0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	e.rec.checkOrder(t)
	if n := len(e.rec.got); n != 36 {
		t.Errorf("%d results accepted, want 36", n)
	}
	for _, r := range []string{"spool_full", "shutdown", "corrupt", "spool_error"} {
		if d := testutil.ToFloat64(e.b.metrics.dropped.WithLabelValues(r)); d != 0 {
			t.Errorf("dropped %s = %v", r, d)
		}
	}
}

// The backend is closed while Monitis is down: the results stay in the
// spool (counted as spooled, not dropped); a new backend on the same
// directory delivers them, in order with their checktime, once Monitis
// returns.
func TestSpoolRestartDuringOutage(t *testing.T) {
	e := newSpoolEnv(t)
	e.start(t, Config{})
	var snaps []*aggregate.Snapshot
	e.fake.Fail(monitistest.FaultDrop, "", -1)
	for i := range 3 {
		snaps = append(snaps, snapAt(i))
		e.flushAt(t, snaps[i], 5*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := e.b.Close(ctx)
	cancel()
	if err != nil {
		t.Fatalf("Close = %v, want nil (nothing lost)", err)
	}
	if n := testutil.ToFloat64(e.b.metrics.spooled); n != 18 {
		t.Errorf("spooled = %v, want 18", n)
	}
	if d := testutil.ToFloat64(e.b.metrics.dropped.WithLabelValues("shutdown")); d != 0 {
		t.Errorf("dropped at shutdown = %v, want 0", d)
	}
	if !strings.Contains(e.log.text(), "kept in the spool") {
		t.Errorf("Close does not say the results are kept:\n%s", e.log.text())
	}
	if err := e.b.Flush(context.Background(), snapAt(9)); err == nil {
		t.Error("Flush after Close accepted")
	}
	if err := e.b.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}

	// The next start, Monitis still down for one more flush.
	b := e.start(t, Config{})
	defer b.Close(context.Background())
	// One backend per directory: a second one is refused while b runs.
	if _, err := New(Config{SpoolDir: e.dir, APIKey: NewSecret("A"), SecretKey: NewSecret("S")}, nil, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second backend on the spool: %v", err)
	}
	if q := b.Queued(); q != 18 {
		t.Errorf("queued after restart = %d, want 18", q)
	}
	if q := testutil.ToFloat64(b.metrics.queued); q != 18 {
		t.Errorf("queued metric after restart = %v, want 18", q)
	}
	if !strings.Contains(e.log.text(), "previous run") {
		t.Errorf("restart does not mention the spooled results:\n%s", e.log.text())
	}
	snaps = append(snaps, snapAt(3))
	e.flushAt(t, snaps[3], 5*time.Second)
	e.fake.ClearFaults()
	snaps = append(snaps, snapAt(4))
	e.flushAt(t, snaps[4], 5*time.Second)
	if q := b.Queued(); q != 0 {
		t.Errorf("queued after recovery = %d", q)
	}
	if diff := cmp.Diff(expected(t, Config{}, snaps...), readBack(t, e.url, t0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	e.rec.checkOrder(t)
	if n := len(e.rec.got); n != 30 {
		t.Errorf("%d results accepted, want 30", n)
	}
}

// resultsOf returns the results of the snapshots in the order the backend
// queues them.
func resultsOf(t *testing.T, cfg Config, snaps ...*aggregate.Snapshot) []*pending {
	t.Helper()
	m, err := newMapper(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []*pending
	for _, s := range snaps {
		rs, _ := m.encode(s)
		out = append(out, rs...)
	}
	return out
}

// asStored is what the fake holds after the given results are delivered.
func asStored(ps []*pending) map[string]map[time.Time]map[string]string {
	out := map[string]map[time.Time]map[string]string{}
	for _, p := range ps {
		if out[p.monitor] == nil {
			out[p.monitor] = map[time.Time]map[string]string{}
		}
		vals := map[string]string{}
		for _, v := range p.values {
			vals[v.Name] = v.Value
		}
		out[p.monitor][p.at] = vals
	}
	return out
}

// Past SpoolMaxBytes the oldest results are dropped, logged with the
// count and counted (reason spool_full); the rest arrive.
func TestSpoolBound(t *testing.T) {
	cfg := Config{SpoolMaxBytes: 4096, Include: []string{"api.*"}, NetstatMonitor: "-"} // 3 results per flush
	e := newSpoolEnv(t)
	e.start(t, cfg)
	defer e.b.Close(context.Background())
	e.fake.Fail(monitistest.FaultDrop, "", -1)
	var snaps []*aggregate.Snapshot
	for i := range 30 {
		snaps = append(snaps, snapAt(i))
		e.flushAt(t, snaps[i], 5*time.Second)
	}
	all := resultsOf(t, cfg, snaps...)
	dropped := int(testutil.ToFloat64(e.b.metrics.dropped.WithLabelValues("spool_full")))
	q := e.b.Queued()
	if dropped == 0 {
		t.Fatal("nothing dropped")
	}
	if dropped+q != len(all) {
		t.Errorf("dropped %d + queued %d != %d results", dropped, q, len(all))
	}
	if size := e.b.queue.(*spoolQueue).q.Stats().DiskBytes; size > 4096 || size == 0 {
		t.Errorf("spool holds %d bytes, bound 4096", size)
	} else if g := testutil.ToFloat64(e.b.metrics.spoolSize); g != float64(size) {
		t.Errorf("spool_bytes metric = %v, want %d", g, size)
	}
	if n := strings.Count(e.log.text(), "spool full, oldest results dropped"); n == 0 || !strings.Contains(e.log.text(), "dropped=") {
		t.Errorf("drops not logged with the count:\n%s", e.log.text())
	}
	e.fake.ClearFaults()
	e.flushAt(t, snapAt(30), 5*time.Second)
	// The new flush's results may push out more before delivery starts.
	all = append(all, resultsOf(t, cfg, snapAt(30))...)
	dropped = int(testutil.ToFloat64(e.b.metrics.dropped.WithLabelValues("spool_full")))
	want := asStored(all[dropped:])
	if diff := cmp.Diff(want, readBack(t, e.url, t0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	e.rec.checkOrder(t)
}

// The process is killed (SIGKILL, a real kill -9) while Monitis is down,
// then the end of its spool segment is cut at a random offset, as a write
// torn by the kill would leave it. The next start delivers every intact
// result, in order, and drops only the torn one.
func TestSpoolKilledAndTorn(t *testing.T) {
	if os.Getenv("MONITIS_SPOOL_CHILD") != "" {
		t.Skip("in the child")
	}
	e := newSpoolEnv(t)
	e.fake.Fail(monitistest.FaultDrop, "", -1)
	const flushes = 4
	// The child flushes, says so, and waits to be killed.
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolChild$", "-test.v")
	cmd.Env = append(os.Environ(), "MONITIS_SPOOL_CHILD="+e.dir+"|"+e.url+"|"+strconv.Itoa(flushes))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "CHILD FLUSHED") {
				done <- sc.Text()
				io.Copy(io.Discard, out)
				return
			}
		}
		done <- "child ended: " + fmt.Sprint(sc.Err())
	}()
	select {
	case line := <-done:
		if !strings.HasPrefix(line, "CHILD FLUSHED") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal(line)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child did not flush in 30 s")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()

	// The results in push order, and where their records end.
	var snaps []*aggregate.Snapshot
	for i := range flushes {
		snaps = append(snaps, snapAt(i))
	}
	all := resultsOf(t, Config{}, snaps...)
	var ends []int64
	var off int64
	for _, p := range all {
		off += int64(8 + len(encodePending(nil, p)))
		ends = append(ends, off)
	}
	segs, _ := filepath.Glob(filepath.Join(e.dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one", segs)
	}
	fi, err := os.Stat(segs[0])
	if err != nil || fi.Size() != off {
		t.Fatalf("segment holds %d bytes (%v), want %d", fi.Size(), err, off)
	}
	// Cut inside one of the last flush's records.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	last := len(all) - 1 - rng.IntN(6)
	cut := ends[last] - 1 - rng.Int64N(ends[last]-ends[last-1]-1)
	t.Logf("cut at %d, inside result %d of %d", cut, last, len(all))
	if err := os.Truncate(segs[0], cut); err != nil {
		t.Fatal(err)
	}

	e.fake.ClearFaults()
	b := e.start(t, Config{})
	defer b.Close(context.Background())
	if q := b.Queued(); q != last {
		t.Errorf("queued after restart = %d, want %d", q, last)
	}
	if !strings.Contains(e.log.text(), "torn or corrupt") {
		t.Errorf("the torn record is not logged:\n%s", e.log.text())
	}
	e.flushAt(t, snapAt(flushes), 5*time.Second)
	want := asStored(append(all[:last], resultsOf(t, Config{}, snapAt(flushes))...))
	if diff := cmp.Diff(want, readBack(t, e.url, t0)); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	e.rec.checkOrder(t)
}

// TestSpoolChild is the process TestSpoolKilledAndTorn kills.
func TestSpoolChild(t *testing.T) {
	arg := os.Getenv("MONITIS_SPOOL_CHILD")
	if arg == "" {
		t.Skip("run by TestSpoolKilledAndTorn")
	}
	parts := strings.Split(arg, "|")
	n, _ := strconv.Atoi(parts[2])
	b, err := New(Config{SpoolDir: parts[0], URL: parts[1], Rate: 1e6, APIKey: NewSecret(testAPIKey), SecretKey: NewSecret(testSecretKey)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b.Flush(ctx, snapAt(i))
		cancel()
	}
	fmt.Printf("CHILD FLUSHED %d queued\n", b.Queued())
	time.Sleep(time.Minute) // killed long before
	t.Fatal("not killed")
}

// Spool records round-trip, and a record from elsewhere is refused.
func TestPendingRecord(t *testing.T) {
	all := resultsOf(t, Config{Groups: []string{"api"}}, snapAt(0), snapAt(1))
	all = append(all, &pending{monitor: "m", tag: "t", at: t0})
	for _, p := range all {
		got, err := decodePending(encodePending(nil, p))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got, cmp.AllowUnexported(pending{})); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	rec := encodePending(nil, all[0])
	for _, bad := range [][]byte{nil, {2}, rec[:len(rec)-1], append(rec, 0), {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}} {
		if _, err := decodePending(bad); err == nil {
			t.Errorf("decodePending(%q) accepted", bad)
		}
	}
}
