package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cactus/go-statsd-client/v5/statsd"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/clientlib"
	"github.com/statsd-agent/statsd-agent/clientlib/clientlibtest"
)

// teeSender sends over UDP and records, so the test knows how many lines
// the agent must receive.
type teeSender struct {
	udp statsd.Sender
	rec *clientlibtest.Recorder
}

func (s teeSender) Send(b []byte) (int, error) { s.rec.Send(b); return s.udp.Send(b) }
func (s teeSender) Close() error               { s.rec.Close(); return s.udp.Close() }

// TestWebappThroughAgent drives the demo application over HTTP with its
// metrics going to a real agent over loopback UDP, and checks what the
// agent aggregated.
func TestWebappThroughAgent(t *testing.T) {
	ag, err := agent.New(agent.Config{UDP: "127.0.0.1:0", UDPReaders: 1, Aggregate: aggregate.Config{Interval: time.Hour}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	defer func() { cancel(); <-done }()

	udp, err := statsd.NewSimpleSender(ag.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	rec := clientlibtest.NewRecorder()
	c, err := clientlib.New(clientlib.Config{Prefix: "webapp", Sender: teeSender{udp, rec}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(ctx, c, filepath.Join(t.TempDir(), "webapp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.db.Close()
	srv := httptest.NewUnstartedServer(a.handler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the /panic stack trace
	srv.Start()
	defer srv.Close()

	get := func(path string, want int) string {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		return string(body)
	}
	login := func(user, password string, want int) string {
		t.Helper()
		resp, err := srv.Client().PostForm(srv.URL+"/login", url.Values{"user": {user}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Errorf("login %s/%s: %d, want %d", user, password, resp.StatusCode, want)
		}
		return string(body)
	}
	if body := get("/", 200); !strings.Contains(body, `<form method="post" action="/login">`) {
		t.Errorf("index page lacks the login form:\n%s", body)
	}
	if body := login("demo", "demo", 200); !strings.Contains(body, "Welcome, demo!") {
		t.Errorf("login page after success:\n%s", body)
	}
	login("demo", "demo", 200)
	login("demo", "wrong", 401)
	login("nobody", "demo", 401)
	get("/users/demo", 200)
	get("/users/nobody", 404)
	get("/nowhere", 404)
	// A fresh connection: the transport retries an idempotent request that
	// failed on a reused one, which would run the handler twice.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := fresh.Get(srv.URL + "/panic"); err == nil {
		t.Error("GET /panic succeeded")
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := uint64(len(rec.Lines()))
	deadline := time.Now().Add(10 * time.Second)
	for ag.LinesReceived() < want {
		if time.Now().After(deadline) {
			t.Fatalf("agent received %d lines, want %d", ag.LinesReceived(), want)
		}
		time.Sleep(time.Millisecond)
	}
	snap := ag.Flush(context.Background(), time.Unix(1763769600, 0))
	got := map[string]float64{}
	for _, s := range snap.Series {
		got[s.Type.String()+" "+s.Name+" "+s.TagString()] = s.Values()[0].Value // count or value
	}
	wantSeries := map[string]float64{
		"counter webapp.http.requests method:GET,route:/{$},status:2xx":          1,
		"counter webapp.http.requests method:POST,route:/login,status:2xx":       2,
		"counter webapp.http.requests method:POST,route:/login,status:4xx":       2,
		"counter webapp.http.requests method:GET,route:/users/{name},status:2xx": 1,
		"counter webapp.http.requests method:GET,route:/users/{name},status:4xx": 1,
		"counter webapp.http.requests method:GET,route:unmatched,status:4xx":     1,
		"counter webapp.http.requests method:GET,route:/panic,status:5xx":        1,
		"counter webapp.http.panics method:GET,route:/panic":                     1,
		"timer webapp.http.request.duration method:POST,route:/login,status:4xx": 2,
		"counter webapp.login.attempts result:success":                           2,
		"counter webapp.login.attempts result:failure":                           2,
		"set webapp.login.users ":                                                1,
		"timer webapp.login.check ":                                              4,
		// init: CREATE and INSERT; then one SELECT per login and per /users.
		"counter webapp.db.calls db:users,op:exec":  2,
		"counter webapp.db.calls db:users,op:query": 6,
		"gauge webapp.http.requests.in_flight ":     0,
	}
	for k, v := range wantSeries {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if t.Failed() {
		for k, v := range got {
			t.Logf("got %s = %v", k, v)
		}
	}
}

// TestRun starts the program as main does, with flags, and checks that its
// metrics reach the -statsd address and that it stops cleanly.
func TestRun(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"-listen", "127.0.0.1:0", "-statsd", pc.LocalAddr().String(),
			"-prefix", "demo", "-db", filepath.Join(t.TempDir(), "run.db"), "-interval", "1h"}, &stderr, ready)
	}()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v\n%s", err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("webapp did not start")
	}
	resp, err := http.Get("http://" + addr.String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// The buffered client sends within its flush interval (300ms).
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	seen := map[string]bool{}
	for !(seen["demo.http.requests"] && seen["demo.runtime.goroutines"] && seen["demo.db.pool.open"]) {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("waiting for metrics: %v (seen %v)", err, seen)
		}
		samples, err := clientlibtest.Parse([][]byte{buf[:n]})
		if err != nil {
			t.Error(err)
		}
		for _, s := range samples {
			seen[s.Name] = true
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("webapp did not stop")
	}
	if !strings.Contains(stderr.String(), "webapp stopped") {
		t.Errorf("log lacks the stop message:\n%s", stderr.String())
	}
}

func TestRunBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"-statsd", "no-port"}, &stderr, nil); err == nil {
		t.Error("run accepted a bad -statsd address")
	}
}
