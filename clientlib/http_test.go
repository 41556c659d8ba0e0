package clientlib_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/statsd-agent/statsd-agent/clientlib"
	"github.com/statsd-agent/statsd-agent/clientlib/clientlibtest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// request is one request's expected tags.
type request struct{ Route, Method, Status string }

// requestsOf returns the tags of the http.requests counters and checks
// that each has a matching timer.
func requestsOf(t *testing.T, samples []clientlibtest.Sample) []request {
	t.Helper()
	var got []request
	for _, s := range clientlibtest.Find(samples, clientlib.HTTPRequests, protocol.Counter) {
		route, _ := s.Tag("route")
		method, _ := s.Tag("method")
		status, _ := s.Tag("status")
		got = append(got, request{route, method, status})
	}
	if n := len(clientlibtest.Find(samples, clientlib.HTTPDuration, protocol.Timer)); n != len(got) {
		t.Errorf("%d timers for %d requests", n, len(got))
	}
	return got
}

func TestMiddleware(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "0" {
			http.Error(w, "no such user", http.StatusNotFound)
			return
		}
		io.WriteString(w, "user "+r.PathValue("id"))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/static/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/", http.StatusFound)
	})
	mux.HandleFunc("GET /silent", func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(c.Middleware(mux))
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	do := func(method, path string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	do("GET", "/users/1")
	do("GET", "/users/2")
	do("GET", "/users/0")
	do("POST", "/login")
	do("GET", "/static/a/b/c.css")
	do("GET", "/silent")
	do("GET", "/nowhere/12345")
	do("DELETE", "/users/1") // 405: the mux matched no pattern for DELETE
	do("BREW", "/users/1")

	want := []request{
		{"/users/{id}", "GET", "2xx"},
		{"/users/{id}", "GET", "2xx"},
		{"/users/{id}", "GET", "4xx"},
		{"/login", "POST", "2xx"},
		{"/static/", "GET", "3xx"},
		{"/silent", "GET", "2xx"},
		{"unmatched", "GET", "4xx"},
		{"unmatched", "DELETE", "4xx"},
		{"unmatched", "other", "4xx"},
	}
	samples := rec.Samples(t)
	if diff := cmp.Diff(want, requestsOf(t, samples)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	// Requests are sequential: in flight goes 1, 0 for each.
	var inflight []float64
	for _, s := range clientlibtest.Find(samples, clientlib.HTTPInFlight, protocol.Gauge) {
		inflight = append(inflight, s.Value)
	}
	var wantInflight []float64
	for range want {
		wantInflight = append(wantInflight, 1, 0)
	}
	if !cmp.Equal(wantInflight, inflight) {
		t.Errorf("in-flight gauges %v, want 1,0 per request", inflight)
	}
	if c.Errors() != 0 {
		t.Errorf("Errors() = %d", c.Errors())
	}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// TestMiddlewarePanic checks that a panic is counted, the request recorded
// as 5xx, and the panic re-raised (net/http then drops the connection).
func TestMiddlewarePanic(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom/{n}", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	mux.HandleFunc("GET /abort", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })

	// Served directly, the re-raised panic reaches the caller.
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the handler's panic re-raised", v)
			}
		}()
		c.Middleware(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/boom/1", nil))
	}()

	// Through a server: net/http recovers it and closes the connection.
	srv := httptest.NewUnstartedServer(c.Middleware(mux))
	srv.Config.ErrorLog = discardLogger()
	srv.Start()
	defer srv.Close()
	if _, err := srv.Client().Get(srv.URL + "/boom/2"); err == nil {
		t.Error("request to a panicking handler succeeded")
	}
	if _, err := srv.Client().Get(srv.URL + "/abort"); err == nil {
		t.Error("request to an aborting handler succeeded")
	}

	samples := rec.Samples(t)
	want := []request{{"/boom/{n}", "GET", "5xx"}, {"/boom/{n}", "GET", "5xx"}, {"/abort", "GET", "5xx"}}
	if diff := cmp.Diff(want, requestsOf(t, samples)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	panics := clientlibtest.Find(samples, clientlib.HTTPPanics, protocol.Counter)
	if len(panics) != 2 {
		t.Fatalf("got %d panic counts, want 2 (ErrAbortHandler is not a panic): %+v", len(panics), panics)
	}
	if route, _ := panics[0].Tag("route"); route != "/boom/{n}" {
		t.Errorf("panic route %q", route)
	}
	last := clientlibtest.Find(samples, clientlib.HTTPInFlight, protocol.Gauge)
	if v := last[len(last)-1].Value; v != 0 {
		t.Errorf("in flight after panics = %v, want 0", v)
	}
}

// TestMiddlewareRouteTagFormats checks that route patterns become valid tag
// values in every format.
func TestMiddlewareRouteTagFormats(t *testing.T) {
	for _, f := range []clientlib.TagFormat{clientlib.DogStatsD, clientlib.InfluxDB, clientlib.Graphite} {
		t.Run(f.String(), func(t *testing.T) {
			c, rec := clientlibtest.New(t, clientlib.Config{TagFormat: f})
			mux := http.NewServeMux()
			mux.HandleFunc("GET example.com/a/{b}/{rest...}", func(w http.ResponseWriter, r *http.Request) {})
			c.Middleware(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://example.com/a/1/2/3", nil))
			got := requestsOf(t, rec.Samples(t))
			if want := []request{{"example.com/a/{b}/{rest...}", "GET", "2xx"}}; !cmp.Equal(want, got) {
				t.Errorf("got %v, want %v", got, want)
			}
			if c.Errors() != 0 {
				t.Errorf("Errors() = %d", c.Errors())
			}
		})
	}
}

func TestMiddlewareNilClient(t *testing.T) {
	var c *clientlib.Client
	h := http.NotFoundHandler()
	if got := c.Middleware(h); got == nil {
		t.Fatal("nil client returned nil handler")
	}
	w := httptest.NewRecorder()
	c.Middleware(h).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("status %d", w.Code)
	}
}

// TestMiddlewareFlusher checks that streaming handlers still see an
// http.Flusher through the wrapper.
func TestMiddlewareFlusher(t *testing.T) {
	c, _ := clientlibtest.New(t, clientlib.Config{})
	var ok bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var f http.Flusher
		f, ok = w.(http.Flusher)
		if ok {
			f.Flush()
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	})
	w := httptest.NewRecorder()
	c.Middleware(h).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if !ok || !w.Flushed {
		t.Errorf("Flusher not passed through (ok=%v, flushed=%v)", ok, w.Flushed)
	}
}

// TestMiddlewareGoexit checks that runtime.Goexit in a handler is not turned
// into a panic.
func TestMiddlewareGoexit(t *testing.T) {
	c, rec := clientlibtest.New(t, clientlib.Config{})
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runtime.Goexit() }))
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	if v := <-done; v != nil {
		t.Fatalf("Goexit became a panic: %v", v)
	}
	samples := rec.Samples(t)
	if n := len(clientlibtest.Find(samples, clientlib.HTTPPanics, protocol.Counter)); n != 0 {
		t.Errorf("Goexit counted as %d panics", n)
	}
	if got := requestsOf(t, samples); len(got) != 1 {
		t.Errorf("requests %v, want one", got)
	}
}
