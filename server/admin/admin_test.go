package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/statsd-agent/statsd-agent/secret"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "statsd_agent_lines_received_total", Help: "x"})
	reg.MustRegister(c)
	c.Add(42)
	s, err := Listen(Config{Addr: "127.0.0.1:0", Gatherer: reg, Health: func() Health {
		return Health{Status: "ok", Version: "test", Backends: []string{"stdout"}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve() }()
	defer s.Shutdown(context.Background())
	base := "http://" + s.Addr().String()

	body := get(t, base+"/metrics", 200)
	if !strings.Contains(body, "statsd_agent_lines_received_total 42") {
		t.Errorf("/metrics lacks the counter:\n%s", body)
	}
	var h Health
	if err := json.Unmarshal([]byte(get(t, base+"/healthz", 200)), &h); err != nil || h.Status != "ok" || h.Backends[0] != "stdout" {
		t.Errorf("/healthz = %+v, %v", h, err)
	}
	get(t, base+"/nope", 404)
	if !strings.Contains(get(t, base+"/", 200), `href="/metrics"`) {
		t.Error("index does not link /metrics")
	}
}

func get(t *testing.T, url string, code int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %d, want %d", url, resp.StatusCode, code)
	}
	return string(b)
}

func TestListenError(t *testing.T) {
	if _, err := Listen(Config{Addr: "127.0.0.1:bad"}); err == nil {
		t.Error("bad address accepted")
	}
}

func TestTokenAndReload(t *testing.T) {
	reloads := 0
	fail := false
	h := Handler(Config{Gatherer: prometheus.NewRegistry(), Token: secret.New("s3cret"), Reload: func() error {
		if fail {
			return errors.New("line 3: unknown key \"x\"")
		}
		reloads++
		return nil
	}})
	do := func(method, path, auth, remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		r.RemoteAddr = remote
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	local := "127.0.0.1:5555"
	if c := do("GET", "/metrics", "", local).Code; c != 401 {
		t.Errorf("no token: %d", c)
	}
	if c := do("GET", "/metrics", "Bearer wrong", local).Code; c != 401 {
		t.Errorf("wrong token: %d", c)
	}
	if c := do("GET", "/metrics", "Bearer s3cret", local).Code; c != 200 {
		t.Errorf("good token: %d", c)
	}
	if c := do("GET", "/healthz", "", local).Code; c != 200 {
		t.Errorf("healthz needs no token: %d", c)
	}
	if w := do("POST", "/-/reload", "Bearer s3cret", local); w.Code != 200 || reloads != 1 {
		t.Errorf("reload: %d %q", w.Code, w.Body.String())
	}
	if c := do("POST", "/-/reload", "Bearer s3cret", "10.1.2.3:999").Code; c != 403 {
		t.Errorf("remote reload: %d", c)
	}
	fail = true
	if w := do("POST", "/-/reload", "Bearer s3cret", local); w.Code != 400 || !strings.Contains(w.Body.String(), "unknown key") {
		t.Errorf("bad reload: %d %q", w.Code, w.Body.String())
	}
}

func TestDeleteAndReady(t *testing.T) {
	var got string
	h := Handler(Config{Gatherer: prometheus.NewRegistry(), Delete: func(p string) (int, error) {
		got = p
		if p == "[" {
			return 0, errors.New("bad pattern")
		}
		return 3, nil
	}})
	do := func(method, target, remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("POST", "/-/delete?name=api.*", "127.0.0.1:1"); w.Code != 200 || got != "api.*" || !strings.Contains(w.Body.String(), "deleted 3 series") {
		t.Errorf("delete: %d %q (pattern %q)", w.Code, w.Body.String(), got)
	}
	if w := do("POST", "/-/delete", "127.0.0.1:1"); w.Code != 400 {
		t.Errorf("delete without name: %d", w.Code)
	}
	if w := do("POST", "/-/delete?name=%5B", "127.0.0.1:1"); w.Code != 400 {
		t.Errorf("bad pattern: %d", w.Code)
	}
	if w := do("POST", "/-/delete?name=x", "192.0.2.1:1"); w.Code != 403 {
		t.Errorf("remote delete: %d", w.Code)
	}
	if w := do("GET", "/readyz", "127.0.0.1:1"); w.Code != 200 {
		t.Errorf("readyz: %d", w.Code)
	}
}
