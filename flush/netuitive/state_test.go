package netuitive

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/netuitive/netuitivetest"
)

func TestQueueSurvivesRestart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "netuitive-queue.jsonl")
	h := newHarness(t, func(c *Config) { c.QueueFile = file })
	h.srv.InjectFault(netuitivetest.Fault{Endpoint: netuitivetest.Ingest, Status: 503})
	var snaps []*aggregate.Snapshot
	for i := range 2 {
		snap := e2eSnapshot(flushTime.Add(time.Duration(i)*10*time.Second), float64(i+1))
		snap.Events = representative().Events[:1]
		snaps = append(snaps, snap)
		h.flush(t, snap, 0)
	}
	if err := h.b.Close(context.Background()); err != nil {
		t.Fatalf("Close = %v, want nil (the queue is saved)", err)
	}
	saved, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(saved), testKey) {
		t.Error("the queue file contains the API key")
	}
	if n := counterValue(t, h.b.m.dropped.WithLabelValues("samples", "closed")); n != 0 {
		t.Errorf("dropped at close = %v", n)
	}

	// The next start loads the file, removes it and delivers in order.
	h.srv.ClearFaults()
	logs := &logBuffer{}
	b, err := New(h.b.cfg.Config, slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("queue file still there after loading: %v", err)
	}
	if got := b.queuedItems; got != [2]int{16, 2} {
		t.Errorf("loaded %v samples/events, want [16 2]", got)
	}
	last := e2eSnapshot(flushTime.Add(20*time.Second), 3)
	snaps = append(snaps, last)
	if err := b.Flush(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	want := map[string][]gotSample{}
	for _, s := range snaps {
		for k, v := range wantSamples(t, "web-01", s) {
			want[k] = append(want[k], v...)
		}
	}
	if diff := cmp.Diff(want, storedSamples(h.srv.Elements())); diff != "" {
		t.Errorf("stored samples (-want +got):\n%s", diff)
	}
	if n := len(h.srv.Events()); n != 2 {
		t.Errorf("events = %d, want 2", n)
	}
	if !strings.Contains(logs.String(), "loaded undelivered posts") {
		t.Errorf("load not logged: %s", logs)
	}
}

func TestQueueFileBadLines(t *testing.T) {
	file := filepath.Join(t.TempDir(), "q.jsonl")
	content := `{"kind":"ingest","items":1,"body":[{"id":"h","metrics":[{"id":"m"}],"samples":[{"metricId":"m","timestamp":1,"val":2}]}]}
not json
{"kind":"webhook","items":1,"body":[]}
{"kind":"events","items":0,"body":[{}]}
{"kind":"events","items":1,"body":{"type":"INFO"}}

{"kind":"events","items":1,"body":[ {"type":"INFO","title":"t"} ]}
`
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	b, err := New(Config{APIKey: NewSecret("k"), ElementID: "h", QueueFile: file}, slog.New(slog.NewTextHandler(logs, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.queue) != 2 || b.queue[0].kind != kindIngest || string(b.queue[1].body) != `[{"type":"INFO","title":"t"}]` {
		t.Errorf("queue = %+v", b.queue)
	}
	if lines := logs.lines("unreadable"); len(lines) != 1 || !strings.Contains(lines[0], "lines=4") {
		t.Errorf("want one error about 4 lines, got:\n%s", logs)
	}
}

// FuzzReadQueue feeds arbitrary queue files to the reader: no panic, every
// post it returns is well formed, and writing them back and reading again
// gives the same posts.
func FuzzReadQueue(f *testing.F) {
	f.Add([]byte(`{"kind":"ingest","items":1,"body":[{"id":"h"}]}` + "\n"))
	f.Add([]byte(`{"kind":"events","items":2,"body":[{},{}]}` + "\n" + `garbage`))
	f.Add([]byte(`{"kind":"events","items":-1,"body":[]}`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		posts, _, err := readQueue(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var qs []queued
		for _, p := range posts {
			if p.items <= 0 || len(p.body) < 2 || p.body[0] != '[' || (p.kind != kindIngest && p.kind != kindEvents) {
				t.Fatalf("malformed post %+v", p)
			}
			qs = append(qs, queued{post: p})
		}
		path := filepath.Join(t.TempDir(), "q")
		if err := writeQueue(path, qs); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		again, bad, err := readQueue(fh)
		if err != nil || bad != 0 || !reflect.DeepEqual(posts, again) {
			t.Errorf("round trip: %d posts -> %d (bad %d, err %v)", len(posts), len(again), bad, err)
		}
	})
}
