package monitis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/statsd-agent/statsd-agent/flush/monitis/monitistest"
)

const (
	testAPIKey    = monitistest.DefaultAPIKey
	testSecretKey = monitistest.DefaultSecretKey
)

// The spec's checksum test vectors (§3.3).
func TestChecksum(t *testing.T) {
	netstatParams := "tcp_packets_in:TCP%20Packets%20In:pkts/s:2;tcp_packets_out:TCP%20Packets%20Out:pkts/s:2;udp_packets_in:UDP%20Packets%20In:pkts/s:2;udp_packets_out:UDP%20Packets%20Out:pkts/s:2"
	tests := []struct {
		name    string
		secret  string
		params  url.Values
		signing string
		want    string
	}{
		{
			name:    "PY test_checksum",
			secret:  "notReallyASecret",
			params:  url.Values{"key2": {"foo"}, "key1": {"bar"}},
			signing: "key1barkey2foo",
			want:    "ML1TdJ/wQc06CdIREtddB19wsKM=",
		},
		{
			name:   "checksum param itself is not signed",
			secret: "notReallyASecret",
			params: url.Values{"key2": {"foo"}, "key1": {"bar"}, "checksum": {"whatever"}},
			want:   "ML1TdJ/wQc06CdIREtddB19wsKM=",
		},
		{
			name:   "worked addMonitor",
			secret: testSecretKey,
			params: url.Values{
				"action": {"addMonitor"}, "apikey": {testAPIKey}, "name": {"netstat"},
				"resultParams": {netstatParams}, "tag": {"netstat"},
				"timestamp": {"2012-01-25 08:30:00"}, "version": {"2"},
			},
			signing: "actionaddMonitorapikeyTESTAPIKEY1234567890ABCDEFnamenetstatresultParams" + netstatParams + "tagnetstattimestamp2012-01-25 08:30:00version2",
			want:    "rILxsSH+AdIaY/8vPUE1jKO7qOo=",
		},
		{
			name:   "worked addResult, plain results",
			secret: testSecretKey,
			params: url.Values{
				"action": {"addResult"}, "apikey": {testAPIKey}, "checktime": {"1327480200000"},
				"monitorId": {"12345"}, "results": {"tcp_packets_in:1000;tcp_packets_out:900"},
				"timestamp": {"2012-01-25 08:30:00"}, "version": {"2"},
			},
			signing: "actionaddResultapikeyTESTAPIKEY1234567890ABCDEFchecktime1327480200000monitorId12345resultstcp_packets_in:1000;tcp_packets_out:900timestamp2012-01-25 08:30:00version2",
			want:    "MGFEAIwms9HdnSvxV71vveLjvBg=",
		},
		{
			name:   "worked addResult, PY-encoded results",
			secret: testSecretKey,
			params: url.Values{
				"action": {"addResult"}, "apikey": {testAPIKey}, "checktime": {"1327480200000"},
				"monitorId": {"12345"}, "results": {"tcp_packets_in%3A1000;tcp_packets_out%3A900"},
				"timestamp": {"2012-01-25 08:30:00"}, "version": {"2"},
			},
			want: "h6BXTplDqi4Jy3/4ai7iO9T/Bys=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.signing != "" {
				if got := signingString(tt.params); got != tt.signing {
					t.Errorf("signing string:\n got %s\nwant %s", got, tt.signing)
				}
			}
			if got := Checksum(tt.secret, tt.params); got != tt.want {
				t.Errorf("Checksum = %s, want %s", got, tt.want)
			}
		})
	}
}

// The worked addResult example, built by the client itself: same form,
// same checksum, and the transport encoding of '+', '/', '='.
func TestSignedFormWorkedExample(t *testing.T) {
	c := newTestClient(t, "http://monitis.invalid", ValidationChecksum)
	at := time.Date(2012, 1, 25, 8, 30, 0, 0, time.UTC)
	form := c.signedForm("addResult", url.Values{
		"monitorId": {"12345"},
		"checktime": {fmt.Sprint(CheckTime(at))},
		"results":   {formatResults([]ResultValue{{"tcp_packets_in", "1000"}, {"tcp_packets_out", "900"}})},
	}, at)
	if got := form.Get("checksum"); got != "MGFEAIwms9HdnSvxV71vveLjvBg=" {
		t.Errorf("checksum = %s", got)
	}
	want := "action=addResult&apikey=TESTAPIKEY1234567890ABCDEF&checksum=MGFEAIwms9HdnSvxV71vveLjvBg%3D&checktime=1327480200000&monitorId=12345&results=tcp_packets_in%3A1000%3Btcp_packets_out%3A900&timestamp=2012-01-25+08%3A30%3A00&version=2"
	if got := form.Encode(); got != want {
		t.Errorf("body:\n got %s\nwant %s", got, want)
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"resultParams", formatResultParams([]ResultParam{{"tcp_packets_in", "TCP Packets In", "pkts/s", Integer}, {"x", "a:b;c", "", Float}}),
			"tcp_packets_in:TCP%20Packets%20In:pkts%2Fs:2;x:a%3Ab%3Bc:N%2FA:4"},
		{"monitorParams", formatMonitorParams([]MonitorParam{{"bar", "", "5", Integer, false}, {"h", "H", "a b", String, true}}),
			"bar::5:2:false;h:H:a%20b:3:true"},
		{"results", formatResults([]ResultValue{{"count", "1.5"}, {"odd;name", "-2"}}),
			"count:1.5;odd%3Bname:-2"},
		{"plus sign", formatResults([]ResultValue{{"a+b", "1e+06"}}), "a%2Bb:1e%2B06"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		in   float64
		want string
		ok   bool
	}{
		{0, "0", true}, {1.5, "1.5", true}, {-3, "-3", true}, {1e21, "1000000000000000000000", true},
		{0.000001, "0.000001", true}, {nan(), "", false}, {inf(), "", false},
	}
	for _, tt := range tests {
		got, ok := FormatValue(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FormatValue(%v) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func newTestClient(t *testing.T, base string, v Validation) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{BaseURL: base, APIKey: NewSecret(testAPIKey), SecretKey: NewSecret(testSecretKey), Validation: v})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewClientErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  ClientConfig
		want string
	}{
		{"no keys", ClientConfig{}, "both an API key and a secret key are required"},
		{"no secret", ClientConfig{APIKey: NewSecret("A")}, "both an API key and a secret key are required"},
		{"bad url", ClientConfig{APIKey: NewSecret("A"), SecretKey: NewSecret("S"), BaseURL: "monitis.com"}, "want http(s)://host"},
		{"bad validation", ClientConfig{APIKey: NewSecret("A"), SecretKey: NewSecret("S"), Validation: "md5"}, `validation "md5"`},
	}
	for _, tt := range tests {
		_, err := NewClient(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// The whole custom monitor life cycle against the fake, with both
// validation methods.
func TestClientLifecycle(t *testing.T) {
	for _, v := range []Validation{ValidationChecksum, ValidationToken} {
		t.Run(string(v), func(t *testing.T) {
			srv := monitistest.NewServer(monitistest.Options{})
			defer srv.Close()
			var trace bytes.Buffer
			c, err := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: NewSecret(testAPIKey), SecretKey: NewSecret(testSecretKey), Validation: v, Trace: &trace})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			params := []ResultParam{
				{"tcp_packets_in", "TCP Packets In", "pkts/s", Integer},
				{"odd:name", "Odd; name", "a/b", Float},
			}
			id, err := c.AddMonitor(ctx, NewMonitor{Name: "net stat", Tag: "netstat", ResultParams: params})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.AddMonitor(ctx, NewMonitor{Name: "net stat", Tag: "netstat", ResultParams: params}); !errors.Is(err, ErrNameExists) {
				t.Errorf("duplicate AddMonitor: err = %v, want ErrNameExists", err)
			}
			ms, err := c.Monitors(ctx, "netstat")
			if err != nil {
				t.Fatal(err)
			}
			if want := []Monitor{{ID: id, Name: "net stat", Tag: "netstat"}}; !cmp.Equal(ms, want) {
				t.Errorf("Monitors = %+v, want %+v", ms, want)
			}
			if ms, _ := c.Monitors(ctx, "other"); len(ms) != 0 {
				t.Errorf("Monitors(other) = %v", ms)
			}
			at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
			if err := c.AddResult(ctx, id, at, []ResultValue{{"tcp_packets_in", "1000"}, {"odd:name", "2.5"}}); err != nil {
				t.Fatal(err)
			}
			if err := c.EditMonitor(ctx, MonitorEdit{ID: id, ResultParams: append(params, ResultParam{"extra", "Extra", "", Float})}); err != nil {
				t.Fatal(err)
			}
			info, err := c.MonitorInfo(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			wantInfo := &MonitorInfo{Monitor: Monitor{ID: id, Name: "net stat", Tag: "netstat"}, ResultParams: append(params, ResultParam{"extra", "Extra", "N/A", Float})}
			if diff := cmp.Diff(wantInfo, info); diff != "" {
				t.Errorf("MonitorInfo (-want +got):\n%s", diff)
			}
			rs, err := c.MonitorResults(ctx, id, at)
			if err != nil {
				t.Fatal(err)
			}
			want := []Result{{CheckTime: at, Values: map[string]string{"tcp_packets_in": "1000", "odd:name": "2.5"}}}
			if diff := cmp.Diff(want, rs); diff != "" {
				t.Errorf("MonitorResults (-want +got):\n%s", diff)
			}
			if rs, _ := c.MonitorResults(ctx, id, at.AddDate(0, 0, 1)); len(rs) != 0 {
				t.Errorf("results of the next day: %v", rs)
			}
			if err := c.DeleteMonitors(ctx, id); err != nil {
				t.Fatal(err)
			}
			_, err = c.MonitorInfo(ctx, id)
			var ae *APIError
			if !errors.As(err, &ae) || !strings.Contains(ae.Message, "does not exist") || errors.Is(err, ErrAuth) {
				t.Errorf("MonitorInfo of deleted monitor: err = %v", err)
			}
			if err := c.DeleteMonitors(ctx, id); err == nil {
				t.Error("deleting a deleted monitor succeeded")
			}
			out := trace.String()
			if strings.Contains(out, testAPIKey) || strings.Contains(out, testSecretKey) {
				t.Errorf("trace shows a key:\n%s", out)
			}
			if !strings.Contains(out, "action=addMonitor") || !strings.Contains(out, "apikey=[redacted]") {
				t.Errorf("trace lacks the request:\n%s", out)
			}
			if v == ValidationToken {
				if n := srv.Requests("authToken"); n != 1 {
					t.Errorf("authToken requests = %d, want 1 (token cached)", n)
				}
				if strings.Contains(out, `"authToken":"`) && !strings.Contains(out, `"authToken":"[redacted]"`) {
					t.Errorf("trace shows the token:\n%s", out)
				}
			}
		})
	}
}

// A token is refreshed before its 24 h expiry, and an expired token the
// service refuses is replaced once.
func TestTokenRefresh(t *testing.T) {
	now := time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	srv := monitistest.NewServer(monitistest.Options{Now: clock})
	defer srv.Close()
	c, err := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: NewSecret(testAPIKey), SecretKey: NewSecret(testSecretKey), Validation: ValidationToken, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := c.AddMonitor(ctx, NewMonitor{Name: "m", Tag: "t", ResultParams: []ResultParam{{"v", "V", "", Float}}})
	if err != nil {
		t.Fatal(err)
	}
	add := func() {
		t.Helper()
		if err := c.AddResult(ctx, id, now, []ResultValue{{"v", "1"}}); err != nil {
			t.Fatal(err)
		}
	}
	add()
	now = now.Add(22 * time.Hour)
	add()
	if n := srv.Requests("authToken"); n != 1 {
		t.Errorf("after 22h: authToken requests = %d, want 1", n)
	}
	now = now.Add(90 * time.Minute) // 23.5 h: refresh before expiry
	add()
	if n := srv.Requests("authToken"); n != 2 {
		t.Errorf("after 23.5h: authToken requests = %d, want 2", n)
	}
	srv.ExpireTokens() // the service forgets the token early
	add()
	if n := srv.Requests("authToken"); n != 3 {
		t.Errorf("after expiry: authToken requests = %d, want 3", n)
	}
}

func TestClientErrors(t *testing.T) {
	srv := monitistest.NewServer(monitistest.Options{})
	defer srv.Close()
	ctx := context.Background()
	good := newTestClient(t, srv.URL, ValidationChecksum)
	id, err := good.AddMonitor(ctx, NewMonitor{Name: "m", Tag: "t", ResultParams: []ResultParam{{"v", "V", "", Float}}})
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret, _ := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: NewSecret(testAPIKey), SecretKey: NewSecret("WRONGSECRETKEY000000000000")})
	wrongKey, _ := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: NewSecret("WRONGAPIKEY000000000000000"), SecretKey: NewSecret(testSecretKey)})
	wrongTokenSecret, _ := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: NewSecret(testAPIKey), SecretKey: NewSecret("WRONGSECRETKEY000000000000"), Validation: ValidationToken})
	skewed, _ := NewClient(ClientConfig{BaseURL: srv.URL, APIKey: NewSecret(testAPIKey), SecretKey: NewSecret(testSecretKey),
		Now: func() time.Time { return time.Now().Add(-48 * time.Hour) }})
	addResult := func(c *Client) error { return c.AddResult(ctx, id, time.Now(), []ResultValue{{"v", "1"}}) }
	tests := []struct {
		name     string
		call     func() error
		auth     bool
		temp     bool
		malform  bool
		contains string
	}{
		{"wrong secret (checksum)", func() error { return addResult(wrongSecret) }, true, false, false, "Authentication failure"},
		{"wrong api key (GET)", func() error { _, err := wrongKey.Monitors(ctx, ""); return err }, true, false, false, "Authentication failure"},
		{"wrong secret (token)", func() error { return addResult(wrongTokenSecret) }, true, false, false, "authToken"},
		{"stale timestamp", func() error { return addResult(skewed) }, true, false, false, "timestamp"},
		{"unknown param", func() error { return good.AddResult(ctx, id, time.Now(), []ResultValue{{"nope", "1"}}) }, false, false, false, "unknown result param"},
		{"unknown monitor", func() error { return good.AddResult(ctx, 1, time.Now(), []ResultValue{{"v", "1"}}) }, false, false, false, "does not exist"},
		{"5xx", func() error { srv.Fail(monitistest.Fault5xx, "", 1); return addResult(good) }, false, true, false, "503"},
		{"malformed JSON", func() error { srv.Fail(monitistest.FaultMalformed, "", 1); return addResult(good) }, false, false, true, "malformed"},
		{"injected auth failure", func() error { srv.Fail(monitistest.FaultAuth, "", 1); return addResult(good) }, true, false, false, "Authentication failure"},
		{"dropped connection", func() error { srv.Fail(monitistest.FaultDrop, "", 1); return addResult(good) }, false, false, false, "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, ErrAuth); got != tt.auth {
				t.Errorf("Is(ErrAuth) = %v, want %v (err %v)", got, tt.auth, err)
			}
			var ae *APIError
			if got := errors.As(err, &ae) && ae.Temporary(); got != tt.temp {
				t.Errorf("Temporary = %v, want %v (err %v)", got, tt.temp, err)
			}
			if got := errors.Is(err, ErrMalformed); got != tt.malform {
				t.Errorf("Is(ErrMalformed) = %v, want %v (err %v)", got, tt.malform, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err = %v, want it to contain %q", err, tt.contains)
			}
			for _, k := range []string{testAPIKey, testSecretKey, "WRONGSECRETKEY000000000000", "WRONGAPIKEY000000000000000"} {
				if strings.Contains(err.Error(), k) {
					t.Errorf("error shows a key: %v", err)
				}
			}
		})
	}
}

// A hanging response ends with the context's deadline.
func TestClientHang(t *testing.T) {
	srv := monitistest.NewServer(monitistest.Options{})
	defer srv.Close()
	c := newTestClient(t, srv.URL, ValidationChecksum)
	srv.Fail(monitistest.FaultHang, "", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Monitors(ctx, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

// The secret key travels only on authToken, and errors of that GET do not
// show it.
func TestAuthTokenErrorHidesSecret(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1", ValidationToken)
	_, err := c.AuthToken(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), testSecretKey) || strings.Contains(err.Error(), testAPIKey) {
		t.Errorf("error shows a key: %v", err)
	}
}

func TestSecretRedacts(t *testing.T) {
	s := NewSecret("TOPSECRET")
	for _, got := range []string{fmt.Sprint(s), fmt.Sprintf("%s %v %q %#v %x", s, s, s, s, s), s.LogValue().String()} {
		if strings.Contains(got, "TOPSECRET") || strings.Contains(got, fmt.Sprintf("%x", "TOPSECRET")) {
			t.Errorf("secret shown: %s", got)
		}
	}
	if b, _ := s.MarshalText(); string(b) != "[redacted]" {
		t.Errorf("MarshalText = %s", b)
	}
	if s.Reveal() != "TOPSECRET" {
		t.Error("Reveal")
	}
}

func nan() float64 { var z float64; return z / z }
func inf() float64 { var z float64; return 1 / z }
