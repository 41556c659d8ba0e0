// Package netuitivetest is a fake Netuitive (Metricly, CloudWisdom) ingest
// service for tests of the netuitive backend, written from
// specs/netuitive-api.md section 10 ("Checklist for the fake server").
//
// Fake is an http.Handler; NewServer starts it on a loopback
// httptest.Server, and cmd/fake-netuitive runs it on its own. It implements:
//
//   - routing: POST /ingest/{apiKey}, POST /ingest/{type}/{apiKey},
//     POST /ingest/events[/{type}]/{apiKey},
//     POST /check/{apiKey}/{checkName}/{elementFqn}/{ttlSeconds} (empty body),
//     HEAD /time (answers with a Date header);
//   - the X-Netuitive-Api-Options header (SEND_RESPONSE_BODY, INJECT_TIMESTAMP);
//   - validation as the real service documents it: 400 with the documented
//     error JSON ("Error Parsing JSON Request" or "Input Validation Failed")
//     for a body that is not a JSON array of objects, an unparsable
//     timestamp, a missing element id, metric id or sample metricId, a
//     sample without timestamp (unless INJECT_TIMESTAMP);
//   - tolerance of what the real service tolerates: unknown fields, duplicate
//     metric ids, null tag values, float cnt, val together with the five
//     aggregate fields; events without data.elementId are accepted (202) and
//     recorded as discarded;
//   - storage of everything posted (raw bytes, headers, decoded elements,
//     events and check-ins) for assertions;
//   - fault injection (Fault): any status (5xx, 429, 410/418 kill switch),
//     slow or hanging responses, dropped connections.
//
// Choices where the spec marks the real behaviour unconfirmed are labelled
// "guess" or "synthetic" below: the 403 for an API key not accepted, the
// wording of validation messages, the 400 for a non-integer check TTL, ids
// that sanitize to "" counting as missing. One known difference: Go's
// encoding/json matches field names case-insensitively, the Java server
// (Jackson) does not.
//
// A Fake is safe for concurrent use.
package netuitivetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Endpoint names the kind of a request, for Fault filters and Post records.
type Endpoint string

// The endpoints of the ingest service.
const (
	Ingest  Endpoint = "ingest"
	Events  Endpoint = "events"
	Webhook Endpoint = "webhook"
	CheckIn Endpoint = "check"
	Time    Endpoint = "time"
)

// Fault makes the fake misbehave for requests to data endpoints (ingest,
// events, webhook, check-in; never HEAD /time).
type Fault struct {
	// Endpoint limits the fault to one endpoint; "" matches all.
	Endpoint Endpoint
	// Count is how many requests the fault applies to; 0 means until
	// ClearFaults.
	Count int
	// Status, if non-zero, is answered instead of handling the request,
	// with the documented JSON body (message and detail from the status).
	// Errors, if set, become the body's "errors" (useful with 400).
	Status int
	Errors []string
	// RetryAfter, if non-zero, is sent as a Retry-After header (seconds).
	RetryAfter int
	// Delay holds the answer back this long (or until the client gives up).
	Delay time.Duration
	// Hang holds the request until the client gives up or the fake closes.
	Hang bool
	// Drop closes the connection without answering.
	Drop bool
}

// Post is one request the fake received (except HEAD /time), with its
// outcome.
type Post struct {
	Endpoint Endpoint
	// DatasourceType is the optional {type} path segment ("" when absent).
	DatasourceType string
	Key            string
	Path           string
	Header         http.Header
	Body           []byte
	Status         int
	// Elements and Events are the decoded payload of an accepted post;
	// Check is set for an accepted check-in.
	Elements []Element
	Events   []Event
	Check    *Check
}

// Fake is the fake ingest service. The zero value is not usable; use New.
type Fake struct {
	// Now is the server clock (default time.Now); ClockOffset is added to
	// it, to simulate a skewed server for HEAD /time.
	Now         func() time.Time
	ClockOffset time.Duration
	// Logger, if set, gets one line per request (the API key redacted).
	Logger *slog.Logger
	// OnPost, if set, is called with every answered request, after it is
	// recorded. Set Now, ClockOffset, Logger and OnPost before serving.
	OnPost func(Post)

	mu        sync.Mutex
	keys      []string
	posts     []Post
	elements  []Element
	events    []Event
	discarded []Event
	checks    []Check
	faults    []Fault
	closing   chan struct{}
	closeOnce sync.Once
	onHold    func() // tests: called when a request starts hanging
}

// New returns a Fake accepting the given API keys (none: any key). A
// request with another key gets a synthetic 403: the real answer to a bad
// key is unconfirmed (spec 1.3).
func New(keys ...string) *Fake {
	return &Fake{keys: keys, closing: make(chan struct{})}
}

// SetKeys replaces the accepted API keys (none: any key).
func (f *Fake) SetKeys(keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = keys
}

func (f *Fake) keyOK(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.keys) == 0 || contains(f.keys, key)
}

// InjectFault adds a fault; the first matching fault with requests left
// applies to a request.
func (f *Fake) InjectFault(ft Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft.Count == 0 {
		ft.Count = -1
	}
	f.faults = append(f.faults, ft)
}

// ClearFaults removes all faults.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// Close releases requests held by Hang or Delay faults.
func (f *Fake) Close() {
	f.closeOnce.Do(func() { close(f.closing) })
}

// Posts returns every request received so far, in order.
func (f *Fake) Posts() []Post {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Post(nil), f.posts...)
}

// Elements returns the elements of every accepted ingest post, in order.
func (f *Fake) Elements() []Element {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Element(nil), f.elements...)
}

// Events returns the accepted events that carry data.elementId, in order.
func (f *Fake) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.events...)
}

// DiscardedEvents returns the events the real service would silently drop
// (no data.elementId, or no timestamp): accepted with 202, never stored.
func (f *Fake) DiscardedEvents() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.discarded...)
}

// Checks returns the check-ins received, in order.
func (f *Fake) Checks() []Check {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Check(nil), f.checks...)
}

// Reset forgets everything received (faults stay).
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts, f.elements, f.events, f.discarded, f.checks = nil, nil, nil, nil, nil
}

func (f *Fake) now() time.Time {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	return now().Add(f.ClockOffset)
}

// route splits a path into its endpoint, datasource type, API key and, for
// check-ins, the remaining segments. ok is false for an unknown path.
func route(path string) (ep Endpoint, dsType, key string, rest []string, ok bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for _, s := range segs {
		if s == "" {
			return "", "", "", nil, false
		}
	}
	switch {
	case len(segs) == 1 && segs[0] == "time":
		return Time, "", "", nil, true
	case segs[0] == "check" && len(segs) == 5:
		return CheckIn, "", segs[1], segs[2:], true
	case segs[0] != "ingest" || len(segs) < 2:
		return "", "", "", nil, false
	}
	segs = segs[1:]
	ep = Ingest
	if segs[0] == "events" || segs[0] == "webhook" {
		ep = Endpoint(segs[0])
		segs = segs[1:]
	}
	switch len(segs) {
	case 1:
		return ep, "", segs[0], nil, true
	case 2:
		return ep, segs[0], segs[1], nil, true
	}
	return "", "", "", nil, false
}

// ServeHTTP implements http.Handler.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep, dsType, key, rest, ok := route(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if ep == Time {
		if r.Method != http.MethodHead && r.Method != http.MethodGet {
			w.Header().Set("Allow", "HEAD, GET")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Date", f.now().UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusOK)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return // client went away
	}
	p := Post{Endpoint: ep, DatasourceType: dsType, Key: key, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	status := f.serve(w, r, &p, rest)
	if status == 0 {
		return // hung or dropped: not recorded as answered
	}
	p.Status = status
	if f.Logger != nil {
		f.Logger.Info("netuitivetest", "method", r.Method, "path", strings.Replace(r.URL.Path, key, "****", 1), "status", status, "bytes", len(body))
	}
	f.mu.Lock()
	f.posts = append(f.posts, p)
	if status == http.StatusAccepted {
		if p.Check != nil {
			f.checks = append(f.checks, *p.Check)
		}
		f.elements = append(f.elements, p.Elements...)
		for _, e := range p.Events {
			if e.Data.ElementID == "" || !e.HasTimestamp {
				f.discarded = append(f.discarded, e)
			} else {
				f.events = append(f.events, e)
			}
		}
	}
	f.mu.Unlock()
	if f.OnPost != nil {
		f.OnPost(p)
	}
}

// takeFault returns the fault for a request to ep, if any.
func (f *Fake) takeFault(ep Endpoint) (Fault, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.faults {
		ft := &f.faults[i]
		if ft.Count == 0 || (ft.Endpoint != "" && ft.Endpoint != ep) {
			continue
		}
		if ft.Count > 0 {
			ft.Count--
		}
		return *ft, true
	}
	return Fault{}, false
}

// serve handles a data request and returns the status written, or 0 when
// no answer was written (hang, drop, client gone).
func (f *Fake) serve(w http.ResponseWriter, r *http.Request, p *Post, rest []string) int {
	if ft, ok := f.takeFault(p.Endpoint); ok {
		if ft.Hang {
			f.mu.Lock()
			onHold := f.onHold
			f.mu.Unlock()
			if onHold != nil {
				onHold()
			}
			select {
			case <-r.Context().Done():
			case <-f.closing:
			}
			drop(w)
			return 0
		}
		if ft.Delay > 0 {
			t := time.NewTimer(ft.Delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return 0
			case <-f.closing:
				drop(w)
				return 0
			}
		}
		if ft.Drop {
			drop(w)
			return 0
		}
		if ft.Status != 0 {
			if ft.RetryAfter != 0 {
				w.Header().Set("Retry-After", strconv.Itoa(ft.RetryAfter))
			}
			return f.answer(w, ft.Status, "", ft.Errors)
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return http.StatusMethodNotAllowed
	}
	if !f.keyOK(p.Key) {
		// Synthetic: the real answer to an unknown key is unconfirmed.
		return f.answer(w, http.StatusForbidden, "Invalid API key", nil)
	}
	opts := parseOptions(r.Header.Get("X-Netuitive-Api-Options"))
	switch p.Endpoint {
	case CheckIn:
		return f.checkIn(w, p, rest)
	case Webhook:
		return f.answer(w, http.StatusAccepted, "", nil)
	case Events:
		events, errs, parseErr := f.decodeEvents(p.Body, opts)
		if parseErr != nil {
			return f.answer(w, http.StatusBadRequest, "Error Parsing JSON Request", []string{parseErr.Error()})
		}
		if len(errs) > 0 {
			return f.answer(w, http.StatusBadRequest, "Input Validation Failed", errs)
		}
		p.Events = events
		return f.accepted(w, opts, fmt.Sprintf("%d events received", len(events)))
	}
	elems, errs, parseErr := f.decodeElements(p.Body, opts)
	if parseErr != nil {
		return f.answer(w, http.StatusBadRequest, "Error Parsing JSON Request", []string{parseErr.Error()})
	}
	if len(errs) > 0 {
		return f.answer(w, http.StatusBadRequest, "Input Validation Failed", errs)
	}
	p.Elements = elems
	return f.accepted(w, opts, fmt.Sprintf("%d elements received", len(elems)))
}

// drop closes the request's connection without an answer.
func drop(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

type options struct {
	sendBody, injectTimestamp bool
}

// parseOptions parses the comma-separated X-Netuitive-Api-Options header.
func parseOptions(h string) options {
	var o options
	for _, opt := range strings.Split(h, ",") {
		switch strings.TrimSpace(opt) {
		case "SEND_RESPONSE_BODY":
			o.sendBody = true
		case "INJECT_TIMESTAMP":
			o.injectTimestamp = true
		}
	}
	return o
}

// responseBody is the documented success/error body (spec 3.2, 3.3).
type responseBody struct {
	Status          int      `json:"status"`
	Message         string   `json:"message"`
	Detail          string   `json:"detail"`
	Errors          []string `json:"errors,omitempty"`
	ServerTimestamp int64    `json:"serverTimestamp"`
	ISO8601DateTime string   `json:"iso8601DateTime"`
}

// messages maps statuses to the body's "message" (Java HttpStatus names).
func message(status int) string {
	return strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}

func (f *Fake) accepted(w http.ResponseWriter, o options, detail string) int {
	if !o.sendBody {
		w.WriteHeader(http.StatusAccepted)
		return http.StatusAccepted
	}
	return f.answer(w, http.StatusAccepted, detail, nil)
}

// answer writes status with the documented JSON body.
func (f *Fake) answer(w http.ResponseWriter, status int, detail string, errs []string) int {
	now := f.now().UTC()
	if detail == "" {
		detail = http.StatusText(status)
	}
	b, _ := json.Marshal(responseBody{
		Status:          status,
		Message:         message(status),
		Detail:          detail,
		Errors:          errs,
		ServerTimestamp: now.UnixMilli(),
		ISO8601DateTime: now.Format("2006-01-02T15:04:05.000Z"),
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	return status
}

// checkIn handles /check/{key}/{name}/{fqn}/{ttl}.
func (f *Fake) checkIn(w http.ResponseWriter, p *Post, rest []string) int {
	ttl, err := strconv.ParseUint(rest[2], 10, 31)
	if err != nil {
		// Guess: the real answer to a bad TTL is undocumented.
		return f.answer(w, http.StatusBadRequest, "Input Validation Failed", []string{fmt.Sprintf("ttl %q is not a non-negative integer", rest[2])})
	}
	p.Check = &Check{Key: p.Key, Name: rest[0], ElementFQN: rest[1], TTL: time.Duration(ttl) * time.Second, Time: f.now()}
	w.WriteHeader(http.StatusAccepted)
	return http.StatusAccepted
}

// decodeArray decodes a JSON array of objects into v (a pointer to a slice);
// anything else is a parse error, as the server deserializes a list.
func decodeArray(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return jacksonError("Can not deserialize instance of java.util.ArrayList out of %s token", firstToken(trimmed))
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return jacksonError("%v", err)
	}
	for i, r := range raw {
		if t := bytes.TrimSpace(r); len(t) == 0 || t[0] != '{' {
			return jacksonError("Can not deserialize instance of entity out of %s token (through reference chain: java.util.ArrayList[%d])", firstToken(t), i)
		}
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		return jacksonError("%v", err)
	}
	return nil
}

func firstToken(b []byte) string {
	if len(b) == 0 {
		return "END_OF_INPUT"
	}
	switch b[0] {
	case '{':
		return "START_OBJECT"
	case '"':
		return "VALUE_STRING"
	case 'n':
		return "VALUE_NULL"
	case 't', 'f':
		return "VALUE_BOOLEAN"
	case '[':
		return "START_ARRAY"
	}
	return "VALUE_NUMBER"
}

// invalidID matches what the server removes from ids (it turns spaces into
// '_' first), spec 3.4.
var invalidID = regexp.MustCompile(`[^a-zA-Z0-9._-]`)

func serverSanitize(id string) string {
	return invalidID.ReplaceAllString(strings.ReplaceAll(id, " ", "_"), "")
}

// decodeElements parses and validates an ingest body. parseErr is a JSON
// or timestamp parse error; errs are validation errors.
func (f *Fake) decodeElements(body []byte, o options) (elems []Element, errs []string, parseErr error) {
	if err := decodeArray(body, &elems); err != nil {
		return nil, nil, err
	}
	now := f.now()
	for i := range elems {
		e := &elems[i]
		e.ID = serverSanitize(e.ID)
		if e.ID == "" {
			errs = append(errs, fmt.Sprintf("Missing required field 'id' on Element [index=%d]", i))
		}
		for j := range e.Metrics {
			m := &e.Metrics[j]
			m.ID = serverSanitize(m.ID)
			if m.ID == "" {
				errs = append(errs, fmt.Sprintf("Missing required field 'id' on Metric [element=%s, index=%d]", e.ID, j))
			}
		}
		for j := range e.Samples {
			s := &e.Samples[j]
			s.MetricID = serverSanitize(s.MetricID)
			if s.MetricID == "" {
				errs = append(errs, fmt.Sprintf("Missing required field 'metricId' on Sample [element=%s, index=%d]", e.ID, j))
			}
			ts, present, err := parseTimestamp(s.rawTimestamp)
			if err != nil {
				return nil, nil, err
			}
			switch {
			case o.injectTimestamp:
				s.Timestamp, s.TimestampInjected = now.UTC(), true
			case !present:
				errs = append(errs, fmt.Sprintf("Missing required field 'timestamp' on Sample [element=%s, metricId=%s]", e.ID, s.MetricID))
			default:
				s.Timestamp = ts
			}
		}
	}
	return elems, errs, nil
}

// decodeEvents parses an events body. Events without data.elementId, or
// without timestamp (and no INJECT_TIMESTAMP), are accepted but discarded
// by the caller; an unparsable timestamp is a parse error.
func (f *Fake) decodeEvents(body []byte, o options) (events []Event, errs []string, parseErr error) {
	if err := decodeArray(body, &events); err != nil {
		return nil, nil, err
	}
	now := f.now()
	for i := range events {
		e := &events[i]
		ts, present, err := parseTimestamp(e.rawTimestamp)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case o.injectTimestamp:
			e.Timestamp, e.HasTimestamp = now.UTC(), true
		case present:
			e.Timestamp, e.HasTimestamp = ts, true
		}
	}
	return events, nil, nil
}
