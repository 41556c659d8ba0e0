package monitistest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var exampleTime = time.Date(2012, 1, 25, 8, 30, 0, 0, time.UTC)

// do sends one raw request and returns the status and body.
func do(t *testing.T, method, u string, form url.Values, inQuery bool) (int, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodGet || inQuery {
		u += "?" + form.Encode()
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The spec's worked examples, sent byte for byte as the Python SDK sends
// them (its encoding, its checksums), are accepted and read back decoded.
func TestWorkedExamples(t *testing.T) {
	srv := NewServer(Options{Now: func() time.Time { return exampleTime }, FirstMonitorID: 12345})
	defer srv.Close()
	add := url.Values{
		"action": {"addMonitor"}, "apikey": {DefaultAPIKey}, "name": {"netstat"}, "tag": {"netstat"},
		"resultParams": {"tcp_packets_in:TCP%20Packets%20In:pkts/s:2;tcp_packets_out:TCP%20Packets%20Out:pkts/s:2;udp_packets_in:UDP%20Packets%20In:pkts/s:2;udp_packets_out:UDP%20Packets%20Out:pkts/s:2"},
		"timestamp":    {"2012-01-25 08:30:00"}, "version": {"2"}, "checksum": {"rILxsSH+AdIaY/8vPUE1jKO7qOo="},
	}
	if code, body := do(t, "POST", srv.URL+"/customMonitorApi", add, false); code != 200 || body != `{"data":12345,"status":"ok"}` {
		t.Fatalf("addMonitor: %d %s", code, body)
	}
	res := url.Values{
		"action": {"addResult"}, "apikey": {DefaultAPIKey}, "monitorId": {"12345"}, "checktime": {"1327480200000"},
		"results":   {"tcp_packets_in%3A1000;tcp_packets_out%3A900"},
		"timestamp": {"2012-01-25 08:30:00"}, "version": {"2"}, "checksum": {"h6BXTplDqi4Jy3/4ai7iO9T/Bys="},
	}
	if code, body := do(t, "POST", srv.URL+"/customMonitorApi/", res, false); code != 200 || body != `{"data":null,"status":"ok"}` {
		t.Fatalf("addResult: %d %s", code, body)
	}
	// The plain form of the same results, with its own checksum, posted
	// Java-style: everything in the query string, no body.
	res.Set("results", "tcp_packets_in:1000;tcp_packets_out:900")
	res.Set("checksum", "MGFEAIwms9HdnSvxV71vveLjvBg=")
	if code, body := do(t, "POST", srv.URL+"/customMonitorApi", res, true); code != 200 {
		t.Fatalf("addResult in query: %d %s", code, body)
	}
	get := url.Values{"action": {"getMonitorInfo"}, "apikey": {DefaultAPIKey}, "monitorId": {"12345"}, "output": {"json"}}
	_, body := do(t, "GET", srv.URL+"/customMonitorApi", get, false)
	var info struct {
		ID           string `json:"id"`
		ResultParams []struct {
			Name, DisplayName, UOM string
			DataType               int
		} `json:"resultParams"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatal(err)
	}
	if info.ID != "12345" || len(info.ResultParams) != 4 || info.ResultParams[0].DisplayName != "TCP Packets In" || info.ResultParams[0].UOM != "pkts/s" || info.ResultParams[0].DataType != 2 {
		t.Errorf("getMonitorInfo: %s", body)
	}
	get = url.Values{"action": {"getMonitorResults"}, "apikey": {DefaultAPIKey}, "monitorId": {"12345"}, "year": {"2012"}, "month": {"1"}, "day": {"25"}}
	if _, body := do(t, "GET", srv.URL+"/customMonitorApi", get, false); body != `[{"checkTime":1327480200000,"checkTimeInGMT":1327480200000,"tcp_packets_in":1000,"tcp_packets_out":900}]` {
		t.Errorf("getMonitorResults: %s", body)
	}
	get.Set("timezone", "-600") // 10 h west: still the 24th there
	if _, body := do(t, "GET", srv.URL+"/customMonitorApi", get, false); body != `[]` {
		t.Errorf("getMonitorResults in another timezone: %s", body)
	}
}

// signed returns form with timestamp, version and checksum for the default
// account.
func signed(form url.Values, at time.Time) url.Values {
	form.Set("apikey", DefaultAPIKey)
	form.Set("timestamp", at.UTC().Format("2006-01-02 15:04:05"))
	form.Set("version", "2")
	form.Set("checksum", checksum(DefaultSecretKey, form))
	return form
}

func TestFakeChecks(t *testing.T) {
	now := exampleTime
	srv := NewServer(Options{Now: func() time.Time { return now }})
	defer srv.Close()
	cm := srv.URL + "/customMonitorApi"
	addMon := func(name string) url.Values {
		return url.Values{"action": {"addMonitor"}, "name": {name}, "tag": {"t"}, "resultParams": {"v:V:N/A:4"}}
	}
	tests := []struct {
		name   string
		method string
		url    string
		form   func() url.Values
		code   int
		body   string // substring
	}{
		{"create", "POST", cm, func() url.Values { return signed(addMon("m1"), now) }, 200, `{"data":1001,"status":"ok"}`},
		{"duplicate name", "POST", cm, func() url.Values { return signed(addMon("m1"), now) }, 200, `{"status":"monitorNameExists"}`},
		{"bad checksum", "POST", cm, func() url.Values { f := signed(addMon("m2"), now); f.Set("name", "m3"); return f }, 403, `{"error":"Authentication failure"}`},
		{"no checksum or token", "POST", cm, func() url.Values { f := signed(addMon("m2"), now); f.Del("checksum"); return f }, 403, `Authentication failure`},
		{"unknown apikey", "POST", cm, func() url.Values { f := signed(addMon("m2"), now); f.Set("apikey", "NOPE"); return f }, 403, `Authentication failure`},
		{"timestamp format", "POST", cm, func() url.Values {
			f := addMon("m2")
			f.Set("apikey", DefaultAPIKey)
			f.Set("timestamp", "2012-01-25T08:30:00Z")
			f.Set("checksum", checksum(DefaultSecretKey, f))
			return f
		}, 200, `Invalid timestamp format`},
		{"timestamp window", "POST", cm, func() url.Values { return signed(addMon("m2"), now.Add(-25*time.Hour)) }, 403, `timestamp out of the allowed window`},
		{"missing name", "POST", cm, func() url.Values { f := addMon("x"); f.Del("name"); return signed(f, now) }, 200, `Missing parameter: name`},
		{"missing tag", "POST", cm, func() url.Values { f := addMon("x"); f.Del("tag"); return signed(f, now) }, 200, `Missing parameter: tag`},
		{"bad resultParams", "POST", cm, func() url.Values { f := addMon("x"); f.Set("resultParams", "v:V:4"); return signed(f, now) }, 200, `Invalid parameter: resultParams`},
		{"bad dataType", "POST", cm, func() url.Values { f := addMon("x"); f.Set("resultParams", "v:V:N/A:9"); return signed(f, now) }, 200, `dataType`},
		{"addResult missing checktime", "POST", cm, func() url.Values {
			return signed(url.Values{"action": {"addResult"}, "monitorId": {"1001"}, "results": {"v:1"}}, now)
		}, 200, `Missing parameter: checktime`},
		{"addResult unknown param", "POST", cm, func() url.Values {
			return signed(url.Values{"action": {"addResult"}, "monitorId": {"1001"}, "checktime": {"1"}, "results": {"w:1"}}, now)
		}, 200, `unknown result param`},
		{"addResult unknown monitor", "POST", cm, func() url.Values {
			return signed(url.Values{"action": {"addResult"}, "monitorId": {"9"}, "checktime": {"1"}, "results": {"v:1"}}, now)
		}, 200, `does not exist`},
		{"getMonitorResults missing day", "GET", cm, func() url.Values {
			return url.Values{"action": {"getMonitorResults"}, "apikey": {DefaultAPIKey}, "monitorId": {"1001"}, "year": {"2012"}, "month": {"1"}}
		}, 200, `Missing parameter: day`},
		{"unknown action", "POST", cm, func() url.Values { return signed(url.Values{"action": {"noSuchAction"}}, now) }, 400, `{"status":"Action 'noSuchAction' is not supported"}`},
		{"custom action on main path", "POST", srv.URL + "/api", func() url.Values { return signed(addMon("m9"), now) }, 400, `not supported`},
		{"write over GET", "GET", cm, func() url.Values { return signed(addMon("m9"), now) }, 400, `requires POST`},
		{"XML output", "GET", cm, func() url.Values {
			return url.Values{"action": {"getMonitors"}, "apikey": {DefaultAPIKey}, "output": {"XML"}}
		}, 400, `not supported`},
		{"getMonitors", "GET", cm + "/", func() url.Values {
			return url.Values{"action": {"getMonitors"}, "apikey": {DefaultAPIKey}, "tag": {"t"}, "version": {"3"}}
		}, 200, `[{"id":"1001","name":"m1","tag":"t","type":""}]`},
		{"getMonitors bad apikey", "GET", cm, func() url.Values { return url.Values{"action": {"getMonitors"}, "apikey": {"NOPE"}} }, 403, `{"error":"Authentication failure"}`},
		{"unknown path", "GET", srv.URL + "/other", func() url.Values { return url.Values{} }, 404, ``},
		{"secretkey", "GET", srv.URL + "/api", func() url.Values { return url.Values{"action": {"secretkey"}, "apikey": {DefaultAPIKey}} }, 200, `{"secretkey":"` + DefaultSecretKey + `"}`},
		{"delete list", "POST", cm, func() url.Values {
			return signed(url.Values{"action": {"deleteMonitor"}, "monitorId": {"1001,1002"}}, now)
		}, 200, `Monitor with id 1002 does not exist`},
		{"delete", "POST", cm, func() url.Values { return signed(url.Values{"action": {"deleteMonitor"}, "monitorId": {"1001"}}, now) }, 200, `{"data":null,"status":"ok"}`},
	}
	for _, tt := range tests {
		code, body := do(t, tt.method, tt.url, tt.form(), false)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %d %s; want %d and %q", tt.name, code, body, tt.code, tt.body)
		}
	}
}

// Tokens: issued on both paths for the right secret, accepted on POST,
// refused after their TTL.
func TestFakeTokens(t *testing.T) {
	now := exampleTime
	srv := NewServer(Options{Now: func() time.Time { return now }})
	defer srv.Close()
	tok := func(path, secret string) (int, string) {
		return do(t, "GET", srv.URL+path, url.Values{"action": {"authToken"}, "apikey": {DefaultAPIKey}, "secretkey": {secret}}, false)
	}
	if code, body := tok("/api", "WRONG"); code != 403 {
		t.Errorf("wrong secret: %d %s", code, body)
	}
	_, body := tok("/customMonitorApi", DefaultSecretKey)
	var r struct{ AuthToken string }
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.AuthToken) != 26 {
		t.Fatalf("authToken: %s", body)
	}
	post := func() (int, string) {
		f := url.Values{"action": {"addMonitor"}, "name": {"m" + now.String()}, "tag": {"t"}, "resultParams": {"v:V:N/A:4"},
			"apikey": {DefaultAPIKey}, "timestamp": {now.Format("2006-01-02 15:04:05")}, "validation": {"token"}, "authToken": {r.AuthToken}}
		return do(t, "POST", srv.URL+"/customMonitorApi", f, false)
	}
	if code, body := post(); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("token POST: %d %s", code, body)
	}
	now = now.Add(23*time.Hour + 59*time.Minute)
	if code, body := post(); code != 200 {
		t.Errorf("token POST before expiry: %d %s", code, body)
	}
	now = now.Add(2 * time.Minute)
	if code, body := post(); code != 403 || !strings.Contains(body, "expired") {
		t.Errorf("token POST after expiry: %d %s", code, body)
	}
}

func TestParseItems(t *testing.T) {
	tests := []struct {
		in       string
		min, max int
		want     [][]string
		err      bool
	}{
		{"a:1;b:2", 2, 2, [][]string{{"a", "1"}, {"b", "2"}}, false},
		{"a:1;b:2;", 2, 2, [][]string{{"a", "1"}, {"b", "2"}}, false},
		{"a%3A1;b%3A2", 2, 2, [][]string{{"a", "1"}, {"b", "2"}}, false},
		{"odd%3Bname:1%2B2", 2, 2, [][]string{{"odd;name", "1+2"}}, false},
		{"100%:1", 2, 2, [][]string{{"100%", "1"}}, false},
		{"x:X%20Y:pkts%2Fs:2", 4, 7, [][]string{{"x", "X Y", "pkts/s", "2"}}, false},
		{"a", 2, 2, nil, true},
		{"a:1:2", 2, 2, nil, true},
	}
	for _, tt := range tests {
		got, err := ParseItems(tt.in, tt.min, tt.max)
		if (err != nil) != tt.err || (!tt.err && !equal(got, tt.want)) {
			t.Errorf("ParseItems(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func equal(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") {
			return false
		}
	}
	return true
}

func FuzzParseItems(f *testing.F) {
	for _, s := range []string{"a:1;b:2", "a%3A1", "x:X%20Y:pkts%2Fs:2", "%:%zz", ";;:", "a:b:c:d:e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range [][2]int{{2, 2}, {4, 7}, {5, 5}} {
			items, err := ParseItems(s, n[0], n[1])
			if err != nil {
				continue
			}
			for _, it := range items {
				if len(it) < n[0] || len(it) > n[1] {
					t.Fatalf("ParseItems(%q) item %q has %d fields", s, it, len(it))
				}
			}
		}
	})
}
