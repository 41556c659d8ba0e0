package netuitivetest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var serverNow = time.Date(2023, 11, 14, 22, 14, 1, 234e6, time.UTC)

const minimal = `[ { "id": "batch-host-7", "name": "Batch host 7", "type": "server",
    "metrics": [ { "id": "jobs.queued" } ],
    "samples": [ { "metricId": "jobs.queued", "timestamp": "2023-11-14T22:14:00Z", "val": 42 } ] } ]`

// tolerated holds what the reference clients send and the service accepts:
// unknown fields, duplicate metric ids, null tag values, float cnt, val with
// the five aggregates, a null metric type, numeric attributes.
const tolerated = `[{"id":"web-01","name":"web-01","type":"SERVER","future":{"x":1},
  "tags":[{"name":"bare","value":null}],"attributes":[{"name":"cpus","value":4}],"relations":[],
  "metrics":[{"id":"m","type":null,"tags":[{"name":"statsdType","value":"c"}]},{"id":"m","type":"GAUGE","unit":""}],
  "samples":[{"metricId":"m","timestamp":1700000040000,"val":5.0,"min":1.0,"max":3.0,"avg":1.6666666666666667,"sum":5.0,"cnt":3.0,"extra":true}]}]`

type response struct {
	status int
	body   responseBody
	raw    string
}

func do(t *testing.T, f *Fake, method, path, options, body string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if options != "" {
		req.Header.Set("X-Netuitive-Api-Options", options)
	}
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	r := response{status: rec.Code, raw: rec.Body.String()}
	if rec.Body.Len() > 0 && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
			t.Fatalf("%s %s: bad JSON body %q: %v", method, path, r.raw, err)
		}
	}
	return r
}

func newFake(keys ...string) *Fake {
	f := New(keys...)
	f.Now = func() time.Time { return serverNow }
	return f
}

func TestRoutingAndValidation(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, options, body string
		status                            int
		detail                            string // "" = no body expected
		errContains                       string
	}{
		{"minimal", "POST", "/ingest/KEY", "", minimal, 202, "", ""},
		{"type segment", "POST", "/ingest/infrastructure/KEY", "", minimal, 202, "", ""},
		{"response body", "POST", "/ingest/KEY", "SEND_RESPONSE_BODY", minimal, 202, "1 elements received", ""},
		{"options spaced", "POST", "/ingest/KEY", "INJECT_TIMESTAMP, SEND_RESPONSE_BODY", minimal, 202, "1 elements received", ""},
		{"tolerated", "POST", "/ingest/KEY", "", tolerated, 202, "", ""},
		{"empty array", "POST", "/ingest/KEY", "", `[]`, 202, "", ""},
		{"not json", "POST", "/ingest/KEY", "", `[{"id":`, 400, "Error Parsing JSON Request", "Could not read JSON"},
		{"object", "POST", "/ingest/KEY", "", `{"id":"x"}`, 400, "Error Parsing JSON Request", "START_OBJECT"},
		{"array of numbers", "POST", "/ingest/KEY", "", `[1]`, 400, "Error Parsing JSON Request", "VALUE_NUMBER"},
		{"NaN token", "POST", "/ingest/KEY", "", `[{"id":"x","samples":[{"metricId":"m","timestamp":1,"val":NaN}]}]`, 400, "Error Parsing JSON Request", ""},
		{"string val", "POST", "/ingest/KEY", "", `[{"id":"x","samples":[{"metricId":"m","timestamp":1,"val":"x"}]}]`, 400, "Error Parsing JSON Request", ""},
		{"no element id", "POST", "/ingest/KEY", "", `[{"metrics":[]}]`, 400, "Input Validation Failed", "'id' on Element"},
		{"no metric id", "POST", "/ingest/KEY", "", `[{"id":"x","metrics":[{"unit":"ms"}]}]`, 400, "Input Validation Failed", "'id' on Metric"},
		{"no metricId", "POST", "/ingest/KEY", "", `[{"id":"x","samples":[{"timestamp":1,"val":1}]}]`, 400, "Input Validation Failed", "'metricId' on Sample"},
		{"no timestamp", "POST", "/ingest/KEY", "", `[{"id":"x","samples":[{"metricId":"m","val":1}]}]`, 400, "Input Validation Failed", "'timestamp' on Sample"},
		{"no timestamp injected", "POST", "/ingest/KEY", "INJECT_TIMESTAMP", `[{"id":"x","samples":[{"metricId":"m","val":1}]}]`, 202, "", ""},
		{"zone name", "POST", "/ingest/KEY", "", `[{"id":"x","samples":[{"metricId":"m","timestamp":"2015-09-07T14:26:47 EDT","val":1}]}]`, 400, "Error Parsing JSON Request", "java.util.Date"},
		{"events", "POST", "/ingest/events/KEY", "", `[{"type":"INFO","title":"t","timestamp":1700000040000,"data":{"elementId":"web-01","level":"INFO","message":"m"}}]`, 202, "", ""},
		{"events typed", "POST", "/ingest/events/infrastructure/KEY", "SEND_RESPONSE_BODY", `[{"type":"INFO","title":"t","timestamp":1}]`, 202, "1 events received", ""},
		{"events bad time", "POST", "/ingest/events/KEY", "", `[{"type":"INFO","title":"t","timestamp":"yesterday"}]`, 400, "Error Parsing JSON Request", "java.util.Date"},
		{"events not array", "POST", "/ingest/events/KEY", "", `{}`, 400, "Error Parsing JSON Request", ""},
		{"check", "POST", "/check/KEY/heartbeat/web-01/150", "", "", 202, "", ""},
		{"check bad ttl", "POST", "/check/KEY/heartbeat/web-01/-5", "", "", 400, "Input Validation Failed", "ttl"},
		{"check short", "POST", "/check/KEY/heartbeat/150", "", "", 404, "", ""},
		{"webhook", "POST", "/ingest/webhook/KEY", "", "anything", 202, "Accepted", ""},
		{"get ingest", "GET", "/ingest/KEY", "", "", 405, "", ""},
		{"deep path", "POST", "/ingest/a/b/KEY", "", minimal, 404, "", ""},
		{"no key", "POST", "/ingest", "", minimal, 404, "", ""},
		{"double slash", "POST", "/ingest//KEY", "", minimal, 404, "", ""},
		{"other", "POST", "/api/KEY", "", minimal, 404, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			r := do(t, f, tc.method, tc.path, tc.options, tc.body)
			if r.status != tc.status {
				t.Fatalf("status = %d, want %d (body %s)", r.status, tc.status, r.raw)
			}
			if tc.status == 202 && tc.detail == "" && r.raw != "" {
				t.Errorf("202 without SEND_RESPONSE_BODY has body %q", r.raw)
			}
			if tc.detail != "" {
				want := responseBody{Status: tc.status, Message: message(tc.status), Detail: tc.detail, Errors: r.body.Errors,
					ServerTimestamp: 1700000041234, ISO8601DateTime: "2023-11-14T22:14:01.234Z"}
				if r.body.Status != want.Status || r.body.Message != want.Message || r.body.Detail != want.Detail ||
					r.body.ServerTimestamp != want.ServerTimestamp || r.body.ISO8601DateTime != want.ISO8601DateTime {
					t.Errorf("body = %+v, want %+v", r.body, want)
				}
			}
			if tc.errContains != "" && !strings.Contains(strings.Join(r.body.Errors, "\n"), tc.errContains) {
				t.Errorf("errors %q lack %q", r.body.Errors, tc.errContains)
			}
			if tc.status != 202 && (len(f.Elements())+len(f.Events())+len(f.Checks())) > 0 {
				t.Errorf("a rejected request was stored")
			}
		})
	}
}

func TestMessages(t *testing.T) {
	for status, want := range map[int]string{202: "ACCEPTED", 400: "BAD_REQUEST", 403: "FORBIDDEN", 503: "SERVICE_UNAVAILABLE", 418: "I'M_A_TEAPOT"} {
		if got := message(status); got != want {
			t.Errorf("message(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestStorage(t *testing.T) {
	f := newFake()
	do(t, f, "POST", "/ingest/infrastructure/KEY", "", tolerated)
	do(t, f, "POST", "/ingest/KEY", "INJECT_TIMESTAMP", `[{"id":"my host!","metrics":[{"id":"a b/c"}],"samples":[{"metricId":"a b/c","timestamp":5,"val":1}]}]`)
	els := f.Elements()
	if len(els) != 2 {
		t.Fatalf("elements = %d", len(els))
	}
	e := els[0]
	if len(e.Metrics) != 2 || e.Tags[0].Value != nil || e.Attributes[0].Value != float64(4) {
		t.Errorf("element 0 = %+v", e)
	}
	s := e.Samples[0]
	if !s.Timestamp.Equal(time.UnixMilli(1700000040000)) || *s.Val != 5 || *s.Cnt != 3 || s.TimestampInjected {
		t.Errorf("sample = %+v", s)
	}
	// The server's id rule: spaces to '_', other invalid characters removed.
	if els[1].ID != "my_host" || els[1].Metrics[0].ID != "a_bc" || els[1].Samples[0].MetricID != "a_bc" {
		t.Errorf("sanitized ids = %q %q %q", els[1].ID, els[1].Metrics[0].ID, els[1].Samples[0].MetricID)
	}
	if s := els[1].Samples[0]; !s.TimestampInjected || !s.Timestamp.Equal(serverNow) {
		t.Errorf("injected timestamp = %v %v", s.Timestamp, s.TimestampInjected)
	}
	posts := f.Posts()
	if len(posts) != 2 || posts[0].DatasourceType != "infrastructure" || posts[0].Key != "KEY" || string(posts[0].Body) != tolerated {
		t.Errorf("posts = %+v", posts)
	}
	f.Reset()
	if len(f.Posts())+len(f.Elements()) != 0 {
		t.Error("Reset kept data")
	}
}

func TestTimestampForms(t *testing.T) {
	for in, want := range map[string]time.Time{
		`1441475739000`:                  time.UnixMilli(1441475739000),
		`"2015-09-07T14:26:47.457-0400"`: time.Date(2015, 9, 7, 18, 26, 47, 457e6, time.UTC),
		`"2015-09-07T14:26:47-0400"`:     time.Date(2015, 9, 7, 18, 26, 47, 0, time.UTC),
		`"2015-09-08T13:39:33.948Z"`:     time.Date(2015, 9, 8, 13, 39, 33, 948e6, time.UTC),
	} {
		got, present, err := parseTimestamp(json.RawMessage(in))
		if err != nil || !present || !got.Equal(want) {
			t.Errorf("parseTimestamp(%s) = %v, %v, %v; want %v", in, got, present, err, want)
		}
	}
	for _, in := range []string{`"2015-09-07T14:26:47 EDT"`, `"1441475739000"`, `true`, `{}`} {
		if _, _, err := parseTimestamp(json.RawMessage(in)); err == nil {
			t.Errorf("parseTimestamp(%s) accepted", in)
		}
	}
	if _, present, err := parseTimestamp(json.RawMessage(`null`)); present || err != nil {
		t.Errorf("null: present %v err %v", present, err)
	}
}

func TestEventsDiscarded(t *testing.T) {
	f := newFake()
	body := `[{"type":"INFO","title":"kept","timestamp":1000,"data":{"elementId":"e"}},
	          {"type":"INFO","title":"no element","timestamp":1000},
	          {"type":"INFO","title":"no time","data":{"elementId":"e"}}]`
	if r := do(t, f, "POST", "/ingest/events/KEY", "", body); r.status != 202 {
		t.Fatalf("status %d", r.status)
	}
	if ev := f.Events(); len(ev) != 1 || ev[0].Title != "kept" || !ev[0].Timestamp.Equal(time.UnixMilli(1000)) {
		t.Errorf("events = %+v", ev)
	}
	if d := f.DiscardedEvents(); len(d) != 2 {
		t.Errorf("discarded = %+v", d)
	}
	f.Reset()
	do(t, f, "POST", "/ingest/events/KEY", "INJECT_TIMESTAMP", `[{"type":"INFO","title":"t","data":{"elementId":"e"}}]`)
	if ev := f.Events(); len(ev) != 1 || !ev[0].Timestamp.Equal(serverNow) {
		t.Errorf("injected event = %+v", ev)
	}
}

func TestKeysAndTime(t *testing.T) {
	f := newFake("good")
	if r := do(t, f, "POST", "/ingest/bad", "", minimal); r.status != 403 || r.body.Message != "FORBIDDEN" {
		t.Errorf("bad key: %d %+v", r.status, r.body)
	}
	if r := do(t, f, "POST", "/check/bad/hb/web/60", "", ""); r.status != 403 {
		t.Errorf("bad key check-in: %d", r.status)
	}
	if r := do(t, f, "POST", "/ingest/good", "", minimal); r.status != 202 {
		t.Errorf("good key: %d", r.status)
	}
	f.SetKeys()
	if r := do(t, f, "POST", "/ingest/bad", "", minimal); r.status != 202 {
		t.Errorf("any key: %d", r.status)
	}
	f.ClockOffset = -time.Hour
	req := httptest.NewRequest("HEAD", "/time", nil)
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, req)
	got, err := http.ParseTime(rec.Header().Get("Date"))
	if rec.Code != 200 || err != nil || !got.Equal(serverNow.Add(-time.Hour).Truncate(time.Second)) {
		t.Errorf("HEAD /time: %d %q", rec.Code, rec.Header().Get("Date"))
	}
	if len(f.Posts()) != 4 {
		t.Errorf("HEAD /time was recorded as a post")
	}
}

func TestCheckRecorded(t *testing.T) {
	f := newFake()
	do(t, f, "POST", "/check/KEY/heartbeat/web-01/150", "", "")
	want := Check{Key: "KEY", Name: "heartbeat", ElementFQN: "web-01", TTL: 150 * time.Second, Time: serverNow}
	if c := f.Checks(); len(c) != 1 || c[0] != want {
		t.Errorf("checks = %+v, want %+v", c, want)
	}
}

func TestFaults(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	post := func(path string) (int, error) {
		resp, err := client.Post(srv.HTTP.URL+path, "application/json", strings.NewReader(minimal))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	srv.InjectFault(Fault{Endpoint: Ingest, Count: 2, Status: 503})
	srv.InjectFault(Fault{Endpoint: Events, Count: 1, Drop: true})
	for i, want := range []int{503, 503, 202} {
		if got, err := post("/ingest/KEY"); got != want || err != nil {
			t.Errorf("ingest %d: %d %v, want %d", i, got, err, want)
		}
	}
	if _, err := post("/ingest/events/KEY"); err == nil {
		t.Error("dropped connection answered")
	}
	if got, err := post("/ingest/events/KEY"); got != 202 || err != nil {
		t.Errorf("events after the drop: %d %v", got, err)
	}
	// A hanging request ends when the client gives up.
	srv.InjectFault(Fault{Endpoint: CheckIn, Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.HTTP.URL+"/check/KEY/a/b/1", nil)
	if _, err := client.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: err = %v, want deadline exceeded", err)
	}
	// A slow answer arrives late; Close releases a held one.
	srv.ClearFaults()
	srv.InjectFault(Fault{Count: 1, Delay: 20 * time.Millisecond, Status: 500})
	if got, err := post("/ingest/KEY"); got != 500 || err != nil {
		t.Errorf("delayed: %d %v", got, err)
	}
	srv.InjectFault(Fault{Hang: true})
	held := make(chan struct{})
	srv.mu.Lock()
	srv.onHold = func() { close(held) }
	srv.mu.Unlock()
	done := make(chan error, 1)
	go func() { _, err := post("/ingest/KEY"); done <- err }()
	<-held
	srv.Close()
	if err := <-done; err == nil {
		t.Error("request held by Hang was answered after Close")
	}
}

// FuzzIngest feeds arbitrary bodies to the ingest endpoint: the fake never
// panics, answers 202 or 400 with the documented body, and stores only
// elements and samples that passed validation.
func FuzzIngest(f *testing.F) {
	for _, s := range []string{minimal, tolerated, `[]`, `{}`, `[1]`, `[{"id":"x","samples":[{"metricId":"m","val":1}]}]`,
		`[{"id":"x","samples":[{"metricId":"m","timestamp":"2015-09-07T14:26:47.457-0400","min":1}]}]`, `[{"id":`, `null`} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, inject bool) {
		fk := newFake()
		opts := ""
		if inject {
			opts = "INJECT_TIMESTAMP"
		}
		req := httptest.NewRequest("POST", "/ingest/KEY", strings.NewReader(string(body)))
		req.Header.Set("X-Netuitive-Api-Options", opts)
		rec := httptest.NewRecorder()
		fk.ServeHTTP(rec, req)
		switch rec.Code {
		case 202:
			for _, e := range fk.Elements() {
				for _, s := range e.Samples {
					if s.MetricID == "" || s.Timestamp.IsZero() {
						t.Errorf("stored invalid sample %+v", s)
					}
					if inject && !s.TimestampInjected {
						t.Errorf("timestamp not injected: %+v", s)
					}
				}
			}
		case 400:
			var rb responseBody
			if err := json.Unmarshal(rec.Body.Bytes(), &rb); err != nil || rb.Status != 400 || len(rb.Errors) == 0 ||
				(rb.Detail != "Input Validation Failed" && rb.Detail != "Error Parsing JSON Request") {
				t.Errorf("400 body %q", rec.Body.String())
			}
			if len(fk.Elements()) != 0 {
				t.Error("stored a rejected post")
			}
		default:
			t.Errorf("status %d", rec.Code)
		}
	})
}
