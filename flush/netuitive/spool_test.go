package netuitive

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/netuitive/netuitivetest"
	"github.com/statsd-agent/statsd-agent/spool"
)

// spoolHarness is a harness whose backend keeps its queue in a spool
// directory; restart opens a new backend on it, as the agent does at its
// next start.
func spoolHarness(t *testing.T, mod func(*Config)) (*harness, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state", "netuitive")
	h := newHarness(t, func(c *Config) {
		c.SpoolDir = dir
		if mod != nil {
			mod(c)
		}
	})
	t.Cleanup(func() { h.b.Close(context.Background()) })
	return h, dir
}

// restart closes nothing: it starts a new backend with the same
// configuration (the caller closed the old one, or its process "died").
func (h *harness) restart(t *testing.T) error {
	t.Helper()
	h.logs, h.reg = &logBuffer{}, prometheus.NewRegistry()
	b, err := New(h.b.cfg.Config, slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), h.reg)
	if err != nil {
		return err
	}
	b.now, b.sleep, b.jitter = h.clock.now, h.clock.sleep, func() float64 { return 0.5 }
	b.clockDone = true
	h.b = b
	return nil
}

// snapAt is flush i of a run: every type, one event, timestamps 10 s apart.
func snapAt(i int) *aggregate.Snapshot {
	s := e2eSnapshot(flushTime.Add(time.Duration(i)*10*time.Second), float64(i+1))
	s.Events = representative().Events[:1]
	s.Events[0].Title = "event " + strconv.Itoa(i)
	return s
}

// wantAll is what the fake stores once the snapshots are delivered.
func wantAll(t *testing.T, snaps ...*aggregate.Snapshot) map[string][]gotSample {
	t.Helper()
	want := map[string][]gotSample{}
	for _, s := range snaps {
		for k, v := range wantSamples(t, "web-01", s) {
			want[k] = append(want[k], v...)
		}
	}
	return want
}

// accepted lists the accepted data posts in arrival order: the sample
// timestamp (ms) of an ingest post, the title of an event.
func accepted(srv *netuitivetest.Server) []string {
	var out []string
	for _, p := range srv.Posts() {
		if p.Status != 202 {
			continue
		}
		switch p.Endpoint {
		case netuitivetest.Ingest:
			out = append(out, "ingest "+strconv.FormatInt(p.Elements[0].Samples[0].Timestamp.UnixMilli(), 10))
		case netuitivetest.Events:
			for _, e := range p.Events {
				out = append(out, e.Title)
			}
		}
	}
	return out
}

// inOrder is accepted() for flushes from..to-1 of snapAt, in flush order.
func inOrder(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, "ingest "+strconv.FormatInt(flushTime.Add(time.Duration(i)*10*time.Second).UnixMilli(), 10), "event "+strconv.Itoa(i))
	}
	return out
}

// Netuitive down for several flushes (5xx, dropped connections, a hanging
// server): the posts wait in the spool, not in memory, and arrive in
// flush order with their original timestamps once it is back.
func TestSpoolOutageLosesNothing(t *testing.T) {
	h, _ := spoolHarness(t, nil)
	faults := []struct {
		f        netuitivetest.Fault
		deadline time.Duration
	}{
		{netuitivetest.Fault{Status: 503}, time.Minute},
		{netuitivetest.Fault{Status: 500, Errors: []string{"database unavailable"}}, time.Minute},
		{netuitivetest.Fault{Drop: true}, time.Minute},
		// The flush deadline cuts the hanging request (a hanging check-in
		// would use it all up before the data is tried).
		{netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Hang: true}, 300 * time.Millisecond},
	}
	var snaps []*aggregate.Snapshot
	for i, f := range faults {
		h.srv.ClearFaults()
		h.srv.InjectFault(f.f)
		snaps = append(snaps, snapAt(i))
		err := h.flushWithin(t, snaps[i], 3*time.Second, f.deadline)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d posts", 2*(i+1))) || !strings.Contains(err.Error(), "queued for retry") {
			t.Fatalf("flush %d during the outage: err = %v, want %d posts queued for retry", i, err, 2*(i+1))
		}
		if n := h.b.spool.Len(); n != 2*(i+1) {
			t.Errorf("spool holds %d posts, want %d", n, 2*(i+1))
		}
		if len(h.b.queue) > 1 {
			t.Errorf("%d posts in memory, want at most the head", len(h.b.queue))
		}
	}
	if n := counterValue(t, h.b.m.spoolPosts); n != 8 {
		t.Errorf("spool_posts = %v, want 8", n)
	}
	if n := counterValue(t, h.b.m.spoolBytes); n != float64(h.b.spool.Stats().DiskBytes) || n == 0 {
		t.Errorf("spool_bytes = %v, want %d", n, h.b.spool.Stats().DiskBytes)
	}
	h.srv.ClearFaults()
	snaps = append(snaps, snapAt(4))
	if err := h.flush(t, snaps[4], 0); err != nil {
		t.Fatalf("flush after the outage: %v", err)
	}
	if diff := cmp.Diff(wantAll(t, snaps...), storedSamples(h.srv.Elements())); diff != "" {
		t.Errorf("stored samples (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(inOrder(0, 5), accepted(h.srv)); diff != "" {
		t.Errorf("accepted posts, in order (-want +got):\n%s", diff)
	}
	if n := h.b.spool.Len(); n != 0 || len(h.b.queue) != 0 {
		t.Errorf("left after recovery: %d spooled, %d in memory", n, len(h.b.queue))
	}
	if n := counterValue(t, h.b.m.spoolPosts); n != 0 {
		t.Errorf("spool_posts = %v after recovery", n)
	}
	for _, r := range []string{"spool_full", "corrupt", "spool_error"} {
		if n := counterValue(t, h.b.m.dropped.WithLabelValues("posts", r)); n != 0 {
			t.Errorf("dropped %s = %v", r, n)
		}
	}
	if n := counterValue(t, h.b.m.delivered.WithLabelValues("samples")); n != 40 {
		t.Errorf("delivered samples = %v, want 40", n)
	}
}

// Closed while Netuitive is down: the posts stay in the spool (counted as
// spooled, not dropped), and the next backend on the directory delivers
// them first, in order with their original timestamps.
func TestSpoolRestartDuringOutage(t *testing.T) {
	h, dir := spoolHarness(t, nil)
	h.srv.InjectFault(netuitivetest.Fault{Status: 503})
	var snaps []*aggregate.Snapshot
	for i := range 3 {
		snaps = append(snaps, snapAt(i))
		h.flush(t, snaps[i], 0)
	}
	if err := h.b.Close(context.Background()); err != nil {
		t.Fatalf("Close = %v, want nil (nothing lost)", err)
	}
	if n := counterValue(t, h.b.m.spooled); n != 6 {
		t.Errorf("spooled = %v, want 6", n)
	}
	for _, item := range []string{"samples", "events"} {
		if n := counterValue(t, h.b.m.dropped.WithLabelValues(item, "closed")); n != 0 {
			t.Errorf("dropped %s at close = %v", item, n)
		}
	}
	if len(h.logs.lines("kept in the spool")) != 1 {
		t.Errorf("Close does not say the posts are kept:\n%s", h.logs)
	}
	if err := h.b.Flush(context.Background(), snapAt(9)); err == nil {
		t.Error("Flush after Close accepted")
	}
	if err := h.b.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) == 0 {
		t.Fatalf("no spool segment in %s", dir)
	}

	// The next start, Netuitive still down for one more flush.
	if err := h.restart(t); err != nil {
		t.Fatal(err)
	}
	if _, err := New(h.b.cfg.Config, nil, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("a second backend on the spool directory: err = %v, want in use", err)
	}
	if n := h.b.spool.Len(); n != 6 {
		t.Errorf("spooled after restart = %d, want 6", n)
	}
	if n := counterValue(t, h.b.m.spoolPosts); n != 6 {
		t.Errorf("spool_posts after restart = %v, want 6", n)
	}
	if len(h.logs.lines("previous run")) != 1 {
		t.Errorf("the restart does not mention the spooled posts:\n%s", h.logs)
	}
	snaps = append(snaps, snapAt(3))
	h.flush(t, snaps[3], 0)
	if n := len(h.srv.Elements()); n != 0 {
		t.Fatalf("%d elements stored during the outage", n)
	}
	h.srv.ClearFaults()
	snaps = append(snaps, snapAt(4))
	if err := h.flush(t, snaps[4], 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantAll(t, snaps...), storedSamples(h.srv.Elements())); diff != "" {
		t.Errorf("stored samples (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(inOrder(0, 5), accepted(h.srv)); diff != "" {
		t.Errorf("accepted posts, in order (-want +got):\n%s", diff)
	}
}

// recordSize is the disk size of the spool record of a post.
func recordSize(p post) int64 { return int64(8 + len(encodeRecord(nil, p))) }

// Past spool_max_bytes the oldest posts are dropped, logged with the count
// and counted (reason spool_full); the newest arrive, in order.
func TestSpoolBound(t *testing.T) {
	size := recordSize(postsOf(t, Config{APIKey: NewSecret(testKey), ElementID: "web-01"}, e2eSnapshot(flushTime, 1))[0])
	// Segments of two records, eight segments.
	limit := 8 * 2 * (size + 16)
	h, _ := spoolHarness(t, func(c *Config) { c.SpoolMaxBytes = limit })
	h.srv.InjectFault(netuitivetest.Fault{Status: 503})
	const n = 40
	var snaps []*aggregate.Snapshot
	var dropErrs int
	for i := range n {
		snaps = append(snaps, e2eSnapshot(flushTime.Add(time.Duration(i)*10*time.Second), float64(i+1)))
		err := h.flush(t, snaps[i], 0)
		if err != nil && strings.Contains(err.Error(), fmt.Sprintf("spool_max_bytes %d reached: dropped the oldest", limit)) {
			dropErrs++
		}
		if d := h.b.spool.Stats().DiskBytes; d > limit {
			t.Fatalf("flush %d: spool holds %d bytes, bound %d", i, d, limit)
		}
	}
	dropped := int(counterValue(t, h.b.m.dropped.WithLabelValues("posts", "spool_full")))
	queued := h.b.spool.Len()
	if dropped == 0 || dropErrs == 0 {
		t.Fatalf("nothing dropped (%d errors)", dropErrs)
	}
	if dropped+queued != n {
		t.Errorf("dropped %d + spooled %d != %d posts", dropped, queued, n)
	}
	lines := h.logs.lines("spool full, oldest posts dropped")
	if len(lines) != dropErrs || !strings.Contains(lines[0], "dropped=") {
		t.Errorf("%d drop errors, log lines:\n%s", dropErrs, strings.Join(lines, "\n"))
	}
	h.srv.ClearFaults()
	last := e2eSnapshot(flushTime.Add(n*10*time.Second), n+1)
	snaps = append(snaps, last)
	h.flush(t, last, 0)
	// The last flush may have pushed out more before delivery started.
	dropped = int(counterValue(t, h.b.m.dropped.WithLabelValues("posts", "spool_full")))
	if diff := cmp.Diff(wantAll(t, snaps[dropped:]...), storedSamples(h.srv.Elements())); diff != "" {
		t.Errorf("stored samples: want flushes %d.. (-want +got):\n%s", dropped, diff)
	}
}

// A post larger than a spool segment is split (as after a 413) until it
// fits; everything arrives.
func TestSpoolSplitsLargePosts(t *testing.T) {
	size := recordSize(postsOf(t, Config{APIKey: NewSecret(testKey), ElementID: "web-01"}, e2eSnapshot(flushTime, 1))[0])
	// Segments of about a third of the post.
	h, _ := spoolHarness(t, func(c *Config) { c.SpoolMaxBytes = 8 * size / 3 })
	snap := e2eSnapshot(flushTime, 1)
	if err := h.flush(t, snap, 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantAll(t, snap), storedSamples(h.srv.Elements())); diff != "" {
		t.Errorf("stored samples (-want +got):\n%s", diff)
	}
	if n := len(accepted(h.srv)); n < 3 {
		t.Errorf("%d posts, want the post split in at least 3", n)
	}
}

// A 413 splits the head post in memory; the spool record is acknowledged
// only once both halves are delivered.
func TestSpoolTooLargeAcksOnce(t *testing.T) {
	h, _ := spoolHarness(t, nil)
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: 413, Count: 1})
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: 503, Count: 1})
	snap := e2eSnapshot(flushTime, 1)
	if err := h.flush(t, snap, 0); err == nil {
		t.Fatal("want a retry error")
	}
	// Split in two; the first half failed with 503: both halves wait in
	// memory, the record in the spool.
	if len(h.b.queue) != 2 || h.b.spool.Len() != 1 {
		t.Fatalf("%d parts in memory, %d spooled; want 2 and 1", len(h.b.queue), h.b.spool.Len())
	}
	snap2 := e2eSnapshot(flushTime.Add(10*time.Second), 2)
	if err := h.flush(t, snap2, 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantAll(t, snap, snap2), storedSamples(h.srv.Elements())); diff != "" {
		t.Errorf("stored samples (-want +got):\n%s", diff)
	}
	if h.b.spool.Len() != 0 {
		t.Errorf("%d posts left in the spool", h.b.spool.Len())
	}
}

// segmentEnds returns where the records of posts end in a fresh spool.
func segmentEnds(posts []post) []int64 {
	var ends []int64
	var off int64
	for _, p := range posts {
		off += recordSize(p)
		ends = append(ends, off)
	}
	return ends
}

// postsOf encodes snapshots as the backend does.
func postsOf(t *testing.T, cfg Config, snaps ...*aggregate.Snapshot) []post {
	t.Helper()
	r, err := cfg.resolve(func(string) string { return "" }, hostname)
	if err != nil {
		t.Fatal(err)
	}
	var out []post
	for _, s := range snaps {
		ps, _ := encode(s, &r)
		out = append(out, ps...)
	}
	return out
}

// cutLastRecord truncates the only segment in dir inside one of the last
// n records, at a random offset, as a write torn by kill -9 leaves it; it
// returns the index of the torn record.
func cutLastRecord(t *testing.T, dir string, posts []post, n int) int {
	t.Helper()
	ends := segmentEnds(posts)
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one", segs)
	}
	fi, err := os.Stat(segs[0])
	if err != nil || fi.Size() != ends[len(ends)-1] {
		t.Fatalf("segment holds %d bytes (%v), want %d", fi.Size(), err, ends[len(ends)-1])
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))
	torn := len(posts) - 1 - rng.IntN(n)
	start := int64(0)
	if torn > 0 {
		start = ends[torn-1]
	}
	cut := start + 1 + rng.Int64N(ends[torn]-start-1)
	t.Logf("cut at %d, inside post %d of %d", cut, torn, len(posts))
	if err := os.Truncate(segs[0], cut); err != nil {
		t.Fatal(err)
	}
	return torn
}

// The last spool segment is cut inside its last record (a write torn by
// kill -9): the next start detects it, logs and counts the discarded
// bytes, and replays every intact post in order.
func TestSpoolTornSegment(t *testing.T) {
	h, dir := spoolHarness(t, nil)
	h.srv.InjectFault(netuitivetest.Fault{Status: 503})
	const flushes = 3
	var snaps []*aggregate.Snapshot
	for i := range flushes {
		snaps = append(snaps, snapAt(i))
		h.flush(t, snaps[i], 0)
	}
	if err := h.b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	posts := postsOf(t, h.b.cfg.Config, snaps...)
	torn := cutLastRecord(t, dir, posts, 1)
	h.srv.ClearFaults()
	if err := h.restart(t); err != nil {
		t.Fatal(err)
	}
	if n := h.b.spool.Len(); n != torn {
		t.Errorf("spooled after restart = %d, want %d", n, torn)
	}
	if len(h.logs.lines("torn or corrupt")) == 0 || counterValue(t, h.b.m.spoolCorrupt) == 0 {
		t.Errorf("the torn record is not logged and counted:\n%s", h.logs)
	}
	next := snapAt(flushes)
	if err := h.flush(t, next, 0); err != nil {
		t.Fatal(err)
	}
	// The torn post is the last flush's event post.
	want := append(inOrder(0, flushes)[:torn], inOrder(flushes, flushes+1)...)
	if diff := cmp.Diff(want, accepted(h.srv)); diff != "" {
		t.Errorf("accepted posts, in order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAll(t, append(snaps, next)...), storedSamples(h.srv.Elements())); diff != "" {
		t.Errorf("stored samples (-want +got):\n%s", diff)
	}
}

// The process is killed (SIGKILL, a real kill -9) while Netuitive is
// down, then its spool segment is cut inside one of the last records. The
// next start replays every intact post, in order.
func TestSpoolKilled(t *testing.T) {
	if os.Getenv("NETUITIVE_SPOOL_CHILD") != "" {
		t.Skip("in the child")
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	h, dir := spoolHarness(t, nil)
	h.b.Close(context.Background()) // the child owns the directory
	h.srv.InjectFault(netuitivetest.Fault{Drop: true})
	const flushes = 3
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolChild$", "-test.v")
	cmd.Env = append(os.Environ(), "NETUITIVE_SPOOL_CHILD="+dir+"|"+h.srv.URL()+"|"+strconv.Itoa(flushes))
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

	var snaps []*aggregate.Snapshot
	for i := range flushes {
		snaps = append(snaps, snapAt(i))
	}
	posts := postsOf(t, h.b.cfg.Config, snaps...)
	torn := cutLastRecord(t, dir, posts, 2)
	h.srv.ClearFaults()
	if err := h.restart(t); err != nil {
		t.Fatal(err)
	}
	if n := h.b.spool.Len(); n != torn {
		t.Errorf("spooled after restart = %d, want %d", n, torn)
	}
	next := snapAt(flushes)
	if err := h.flush(t, next, 0); err != nil {
		t.Fatal(err)
	}
	want := append(inOrder(0, flushes)[:torn], inOrder(flushes, flushes+1)...)
	if diff := cmp.Diff(want, accepted(h.srv)); diff != "" {
		t.Errorf("accepted posts, in order (-want +got):\n%s", diff)
	}
}

// TestSpoolChild is the process TestSpoolKilled kills.
func TestSpoolChild(t *testing.T) {
	arg := os.Getenv("NETUITIVE_SPOOL_CHILD")
	if arg == "" {
		t.Skip("run by TestSpoolKilled")
	}
	parts := strings.Split(arg, "|")
	n, _ := strconv.Atoi(parts[2])
	b, err := New(Config{SpoolDir: parts[0], URL: parts[1], APIKey: NewSecret(testKey), ElementID: "web-01", PostsPerMinute: -1, NoCheckIn: true}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.clockDone = true
	for i := range n {
		// No deadline: one attempt per flush.
		b.Flush(context.Background(), snapAt(i))
	}
	fmt.Printf("CHILD FLUSHED %d spooled\n", b.spool.Len())
	time.Sleep(time.Minute) // killed long before
	t.Fatal("not killed")
}

// With both SpoolDir and QueueFile, the spool wins: a queue file left by
// an earlier run is moved into the spool and removed, then delivered.
func TestSpoolMigratesQueueFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "netuitive-queue.jsonl")
	old := snapAt(0)
	ps := postsOf(t, Config{APIKey: NewSecret(testKey), ElementID: "web-01"}, old)
	var qs []queued
	for _, p := range ps {
		qs = append(qs, queued{post: p})
	}
	if err := writeQueue(file, qs); err != nil {
		t.Fatal(err)
	}
	h, _ := spoolHarness(t, func(c *Config) { c.QueueFile = file })
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("queue file still there: %v", err)
	}
	if n := h.b.spool.Len(); n != len(ps) {
		t.Errorf("spooled %d posts, want %d", n, len(ps))
	}
	h.srv.InjectFault(netuitivetest.Fault{Status: 503})
	h.flush(t, snapAt(1), 0)
	if err := h.b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("Close wrote the queue file with a spool: %v", err)
	}
	h.srv.ClearFaults()
	if err := h.restart(t); err != nil {
		t.Fatal(err)
	}
	if err := h.flush(t, snapAt(2), 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inOrder(0, 3), accepted(h.srv)); diff != "" {
		t.Errorf("accepted posts, in order (-want +got):\n%s", diff)
	}
}

// The kill switch (410) empties the spool, counting what it drops.
func TestSpoolKillSwitch(t *testing.T) {
	h, _ := spoolHarness(t, func(c *Config) { c.NoCheckIn = true })
	h.srv.InjectFault(netuitivetest.Fault{Status: 503})
	h.flush(t, snapAt(0), 0)
	h.flush(t, snapAt(1), 0)
	h.srv.ClearFaults()
	h.srv.InjectFault(netuitivetest.Fault{Status: 410})
	h.flush(t, snapAt(2), 0)
	if !h.b.stopped || h.b.spool.Len() != 0 {
		t.Fatalf("stopped %v, %d posts left in the spool", h.b.stopped, h.b.spool.Len())
	}
	// The head (an ingest post of 8 samples) was in memory; the other 5
	// posts are counted as posts.
	if n := counterValue(t, h.b.m.dropped.WithLabelValues("samples", "stopped")); n != 8 {
		t.Errorf("dropped samples = %v, want 8", n)
	}
	if n := counterValue(t, h.b.m.dropped.WithLabelValues("posts", "stopped")); n != 5 {
		t.Errorf("dropped posts = %v, want 5", n)
	}
}

// A record that passes the spool's checksum but is not a post (another
// version) is dropped and counted; the rest is delivered.
func TestSpoolUnreadableRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "netuitive")
	q, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ps := postsOf(t, Config{APIKey: NewSecret(testKey), ElementID: "web-01"}, snapAt(0))
	for _, rec := range [][]byte{{9, 9, 9}, encodeRecord(nil, ps[0]), []byte("garbage"), encodeRecord(nil, ps[1])} {
		if err := q.Push(rec); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	h, _ := spoolHarness(t, func(c *Config) { c.SpoolDir = dir })
	if err := h.flush(t, &aggregate.Snapshot{Time: flushTime.Add(time.Second), Interval: 10 * time.Second}, 0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inOrder(0, 1), accepted(h.srv)); diff != "" {
		t.Errorf("accepted posts (-want +got):\n%s", diff)
	}
	if n := counterValue(t, h.b.m.dropped.WithLabelValues("posts", "corrupt")); n != 2 {
		t.Errorf("dropped corrupt = %v, want 2", n)
	}
}

func TestSpoolConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		max  int64
		want string
	}{{-1, "spool_max_bytes -1 < 0"}, {100, "max bytes 100"}} {
		_, err := New(Config{APIKey: NewSecret("k"), ElementID: "h", SpoolDir: dir, SpoolMaxBytes: tc.max}, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SpoolMaxBytes %d: err = %v, want %q", tc.max, err, tc.want)
		}
	}
}

// Records round-trip; anything else is refused.
func TestSpoolRecord(t *testing.T) {
	ps := postsOf(t, Config{APIKey: NewSecret(testKey), ElementID: "web-01"}, snapAt(0))
	for _, p := range ps {
		got, err := decodeRecord(encodeRecord(nil, p))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got, cmp.AllowUnexported(post{})); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	rec := encodeRecord(nil, ps[0])
	for _, bad := range [][]byte{nil, {1}, {2, 0, 1, '[', ']'}, {1, 2, 1, '[', ']'}, {1, 0, 0, '[', ']'}, {1, 0, 1, '{', '}'}, {1, 0, 0x80}, rec[:len(rec)-1]} {
		if _, err := decodeRecord(bad); err == nil {
			t.Errorf("decodeRecord(%q) accepted", bad)
		}
	}
}

// FuzzDecodeRecord: records come from disk. No panic; an accepted record
// re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte{1, 0, 1, '[', ']'})
	f.Add([]byte{1, 1, 2, '[', '{', '}', ',', '{', '}', ']'})
	f.Add([]byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, '[', ']'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, rec []byte) {
		p, err := decodeRecord(rec)
		if err != nil {
			return
		}
		if p.items <= 0 || p.kind > kindEvents || len(p.body) == 0 || p.body[0] != '[' {
			t.Fatalf("accepted a bad post %+v", p)
		}
		again := encodeRecord(nil, p)
		p2, err := decodeRecord(again)
		if err != nil || p2.kind != p.kind || p2.items != p.items || string(p2.body) != string(p.body) {
			t.Errorf("re-decode: %+v, %v", p2, err)
		}
	})
}
