package clientlib

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"time"
)

// Metric names sent by Middleware (after the Client's prefix).
const (
	HTTPRequests      = "http.requests"           // counter, per request
	HTTPDuration      = "http.request.duration"   // timer, per request
	HTTPInFlight      = "http.requests.in_flight" // gauge, at each start and end
	HTTPPanics        = "http.panics"             // counter, per handler panic
	RouteUnmatched    = "unmatched"               // route tag when no pattern matched
	methodOther       = "other"
	statusClassPanics = "5xx"
)

// Middleware returns next instrumented with request metrics:
//
//   - http.requests (counter) and http.request.duration (timer), tagged
//     route, method and status (the class: "2xx", "4xx", ...);
//   - http.requests.in_flight (gauge): requests being served by every
//     Middleware of this Client, sent as each request starts and ends;
//   - http.panics (counter), tagged route and method, when the handler
//     panics; the panic is then re-raised for net/http to handle, and the
//     request is counted with status 5xx unless a status was already sent.
//
// The route tag is the pattern of the http.ServeMux (Go 1.22 patterns) that
// matched, without its method: "/users/{id}", "/{$}", never the raw path,
// so the number of series stays bounded. Wrap the ServeMux itself (the mux
// records the pattern in the *http.Request it is given, so handlers in
// between must pass that request on, not a copy) or each handler registered
// on it. Requests that matched no pattern (404, 405) are tagged route
// "unmatched". Methods other than the nine standard ones are tagged "other".
//
// With a nil Client, Middleware returns next unchanged.
func (c *Client) Middleware(next http.Handler) http.Handler {
	if c == nil {
		return next
	}
	return &middleware{c: c, next: next}
}

type middleware struct {
	c    *Client
	next http.Handler
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := m.c
	c.Gauge(HTTPInFlight, float64(c.inFlight.Add(1)))
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	panicked := true
	defer func() {
		status := sw.status
		if panicked {
			v := recover()
			if status == 0 {
				status = http.StatusInternalServerError
			}
			if v == nil { // runtime.Goexit, not a panic: let it go on
				m.record(r, status, start, false)
				return
			}
			m.record(r, status, start, v != http.ErrAbortHandler)
			panic(v)
		}
		if status == 0 {
			status = http.StatusOK // nothing written: net/http sends 200
		}
		m.record(r, status, start, false)
	}()
	m.next.ServeHTTP(sw, r)
	panicked = false
}

func (m *middleware) record(r *http.Request, status int, start time.Time, panicked bool) {
	c := m.c
	d := time.Since(start)
	tags := [3]Tag{
		{"route", c.routeTag(r.Pattern)},
		{"method", methodTag(r.Method)},
		{"status", statusClass(status)},
	}
	c.Incr(HTTPRequests, tags[:]...)
	c.Timing(HTTPDuration, d, tags[:]...)
	if panicked {
		c.Incr(HTTPPanics, tags[:2]...)
	}
	c.Gauge(HTTPInFlight, float64(c.inFlight.Add(-1)))
}

// routeTag turns a ServeMux pattern into a tag value: the method is dropped
// and bytes the tag format cannot carry become '_'.
func (c *Client) routeTag(pattern string) string {
	if pattern == "" {
		return RouteUnmatched
	}
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		pattern = strings.TrimLeft(pattern[i:], " \t")
	}
	return strings.Map(func(r rune) rune {
		if c.badTagByte(r) {
			return '_'
		}
		return r
	}, pattern)
}

// badTagByte reports whether r cannot appear in a tag value of c's format.
func (c *Client) badTagByte(r rune) bool {
	if r < ' ' || r == 0x7f || r == ',' || r == '|' || r == '#' {
		return true
	}
	return c.format != DogStatsD && (r == ' ' || r == ';' || r == '=' || r == ':')
}

func methodTag(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return methodOther
}

func statusClass(code int) string {
	switch {
	case code >= 100 && code < 200:
		return "1xx"
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	}
	return "5xx"
}

// statusWriter records the final status code. It passes Flush and Hijack
// through and unwraps for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 { // 1xx are interim responses
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker when the underlying writer does.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap returns the underlying ResponseWriter for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
