package monitis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Base URLs (spec §1). The client appends "/api" or "/customMonitorApi".
const (
	ProductionURL = "http://monitis.com"
	SandboxURL    = "http://sandbox.monitis.com"
)

// Environment variables the keys are read from (spec §3.1).
const (
	EnvAPIKey           = "MONITIS_APIKEY"
	EnvSecretKey        = "MONITIS_SECRETKEY"
	EnvSandboxAPIKey    = "MONITIS_SANDBOX_APIKEY"
	EnvSandboxSecretKey = "MONITIS_SANDBOX_SECRETKEY"
)

// Endpoint paths (spec §1).
const (
	pathAPI    = "/api"
	pathCustom = "/customMonitorApi"
)

// TokenTTL is how long Monitis honours an auth token (spec §3.4); the
// client fetches a new one after TokenRefresh.
const (
	TokenTTL     = 24 * time.Hour
	TokenRefresh = 23 * time.Hour
)

// Validation selects how POSTs are authenticated.
type Validation string

// The validation methods (spec §3.3, §3.4).
const (
	// ValidationChecksum signs every POST with an HMAC-SHA1 checksum
	// keyed with the secret key (the default; the secret never travels).
	ValidationChecksum Validation = "checksum"
	// ValidationToken sends validation=token and an authToken fetched
	// with the secret key and refreshed before its 24 h expiry.
	ValidationToken Validation = "token"
)

// KeysFromEnv returns the keys from the environment variables of the mode:
// MONITIS_APIKEY/MONITIS_SECRETKEY, or in sandbox mode
// MONITIS_SANDBOX_APIKEY/MONITIS_SANDBOX_SECRETKEY. getenv is usually
// os.Getenv.
func KeysFromEnv(getenv func(string) string, sandbox bool) (apiKey, secretKey Secret) {
	if sandbox {
		return NewSecret(getenv(EnvSandboxAPIKey)), NewSecret(getenv(EnvSandboxSecretKey))
	}
	return NewSecret(getenv(EnvAPIKey)), NewSecret(getenv(EnvSecretKey))
}

// ClientConfig configures a Client.
type ClientConfig struct {
	// BaseURL is the scheme and host, e.g. ProductionURL (the default).
	BaseURL string
	// APIKey and SecretKey are the account's keys; both are required.
	APIKey, SecretKey Secret
	// Validation is ValidationChecksum (the default) or ValidationToken.
	Validation Validation
	// HTTPClient sends the requests; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// Now returns the current time for timestamps and token expiry;
	// nil means time.Now.
	Now func() time.Time
	// Trace, when not nil, receives every request and response, with the
	// keys, checksum and token redacted (the CLI's -v).
	Trace io.Writer
	// OnRequest, when not nil, is called once per HTTP request sent
	// (used for metrics).
	OnRequest func(action string)
}

// Client calls the Monitis REST API: the custom monitor actions on
// /customMonitorApi and authToken on /api. It is safe for concurrent use.
type Client struct {
	base       string
	apiKey     Secret
	secretKey  Secret
	validation Validation
	hc         *http.Client
	now        func() time.Time
	trace      io.Writer
	onRequest  func(string)

	traceMu sync.Mutex
	mu      sync.Mutex // guards token, tokenAt
	token   string
	tokenAt time.Time
}

// NewClient returns a Client. It fails when a key is missing, the base URL
// is not an absolute http(s) URL, or the validation method is unknown.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.APIKey.IsZero() || cfg.SecretKey.IsZero() {
		return nil, fmt.Errorf("monitis: %w: both an API key and a secret key are required", ErrMissingKeys)
	}
	base := cfg.BaseURL
	if base == "" {
		base = ProductionURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("monitis: base URL %q: want http(s)://host", base)
	}
	switch cfg.Validation {
	case "":
		cfg.Validation = ValidationChecksum
	case ValidationChecksum, ValidationToken:
	default:
		return nil, fmt.Errorf("monitis: validation %q: want %q or %q", cfg.Validation, ValidationChecksum, ValidationToken)
	}
	c := &Client{
		base:       strings.TrimRight(base, "/"),
		apiKey:     cfg.APIKey,
		secretKey:  cfg.SecretKey,
		validation: cfg.Validation,
		hc:         cfg.HTTPClient,
		now:        cfg.Now,
		trace:      cfg.Trace,
		onRequest:  cfg.OnRequest,
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Monitor is a custom monitor as getMonitors lists it.
type Monitor struct {
	ID   int64
	Name string
	Tag  string
	Type string
}

// MonitorInfo is a custom monitor as getMonitorInfo describes it.
type MonitorInfo struct {
	Monitor
	ResultParams           []ResultParam
	AdditionalResultParams []ResultParam
	MonitorParams          []MonitorParam
}

// NewMonitor describes a monitor to create with AddMonitor.
type NewMonitor struct {
	Name, Tag    string
	Type         string // optional
	ResultParams []ResultParam
	// MonitorParams and AdditionalResultParams are optional.
	MonitorParams          []MonitorParam
	AdditionalResultParams []ResultParam
}

// MonitorEdit describes a change with EditMonitor; empty fields are not sent.
type MonitorEdit struct {
	ID            int64
	Name, Tag     string
	MonitorParams []MonitorParam
	// ResultParams, when not empty, is the monitor's complete new list of
	// result params (used to add params to an existing monitor).
	ResultParams []ResultParam
}

// Result is one stored check as getMonitorResults returns it.
type Result struct {
	// CheckTime is the check's time (checkTimeInGMT).
	CheckTime time.Time
	// Values maps result param names to values, as the service's strings
	// (numbers are written in decimal).
	Values map[string]string
}

// AuthToken fetches a new auth token (GET /api?action=authToken). The
// token is valid for 24 hours.
func (c *Client) AuthToken(ctx context.Context) (string, error) {
	p := url.Values{"secretkey": {c.secretKey.Reveal()}}
	raw, err := c.get(ctx, pathAPI, "authToken", p)
	if err != nil {
		return "", err
	}
	var r struct {
		AuthToken string `json:"authToken"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.AuthToken == "" {
		return "", fmt.Errorf("monitis: authToken: %w: no authToken in %s", ErrMalformed, snippet(raw))
	}
	return r.AuthToken, nil
}

// AddMonitor creates a custom monitor and returns its id.
func (c *Client) AddMonitor(ctx context.Context, m NewMonitor) (int64, error) {
	if m.Name == "" || m.Tag == "" || len(m.ResultParams) == 0 {
		return 0, errors.New("monitis: addMonitor: name, tag and at least one result param are required")
	}
	p := addMonitorParams(m)
	data, err := c.post(ctx, "addMonitor", p)
	if err != nil {
		return 0, err
	}
	id, err := parseID(data)
	if err != nil {
		return 0, fmt.Errorf("monitis: addMonitor: %w: data %s is not a monitor id", ErrMalformed, snippet(data))
	}
	return id, nil
}

// addMonitorParams are addMonitor's own parameters.
func addMonitorParams(m NewMonitor) url.Values {
	p := url.Values{
		"name":         {m.Name},
		"tag":          {m.Tag},
		"resultParams": {formatResultParams(m.ResultParams)},
	}
	if m.Type != "" {
		p.Set("type", m.Type)
	}
	if len(m.MonitorParams) > 0 {
		p.Set("monitorParams", formatMonitorParams(m.MonitorParams))
	}
	if len(m.AdditionalResultParams) > 0 {
		p.Set("additionalResultParams", formatResultParams(m.AdditionalResultParams))
	}
	return p
}

// EditMonitor changes a monitor's name, tag, monitor params or result params.
func (c *Client) EditMonitor(ctx context.Context, e MonitorEdit) error {
	p := url.Values{"monitorId": {strconv.FormatInt(e.ID, 10)}}
	if e.Name != "" {
		p.Set("name", e.Name)
	}
	if e.Tag != "" {
		p.Set("tag", e.Tag)
	}
	if len(e.MonitorParams) > 0 {
		p.Set("monitorParams", formatMonitorParams(e.MonitorParams))
	}
	if len(e.ResultParams) > 0 {
		p.Set("resultParams", formatResultParams(e.ResultParams))
	}
	_, err := c.post(ctx, "editMonitor", p)
	return err
}

// DeleteMonitors deletes one or more monitors (and their results).
func (c *Client) DeleteMonitors(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	_, err := c.post(ctx, "deleteMonitor", url.Values{"monitorId": {strings.Join(s, ",")}})
	return err
}

// Monitors lists the account's custom monitors, only those with the given
// tag unless tag is "".
func (c *Client) Monitors(ctx context.Context, tag string) ([]Monitor, error) {
	p := url.Values{}
	if tag != "" {
		p.Set("tag", tag)
	}
	raw, err := c.get(ctx, pathCustom, "getMonitors", p)
	if err != nil {
		return nil, err
	}
	var list []struct {
		ID   json.RawMessage `json:"id"`
		Name string          `json:"name"`
		Tag  string          `json:"tag"`
		Type string          `json:"type"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("monitis: getMonitors: %w: %v", ErrMalformed, err)
	}
	ms := make([]Monitor, 0, len(list))
	for _, m := range list {
		id, err := parseID(m.ID)
		if err != nil {
			return nil, fmt.Errorf("monitis: getMonitors: %w: monitor id %s", ErrMalformed, snippet(m.ID))
		}
		ms = append(ms, Monitor{ID: id, Name: m.Name, Tag: m.Tag, Type: m.Type})
	}
	return ms, nil
}

// MonitorInfo describes one monitor, its params included.
func (c *Client) MonitorInfo(ctx context.Context, id int64) (*MonitorInfo, error) {
	raw, err := c.get(ctx, pathCustom, "getMonitorInfo", url.Values{"monitorId": {strconv.FormatInt(id, 10)}})
	if err != nil {
		return nil, err
	}
	type param struct {
		Name        string          `json:"name"`
		DisplayName string          `json:"displayName"`
		UOM         string          `json:"uom"`
		Value       json.RawMessage `json:"value"`
		DataType    json.RawMessage `json:"dataType"`
	}
	var r struct {
		ID                     json.RawMessage `json:"id"`
		Name                   string          `json:"name"`
		Tag                    string          `json:"tag"`
		Type                   string          `json:"type"`
		ResultParams           []param         `json:"resultParams"`
		AdditionalResultParams []param         `json:"additionalResultParams"`
		MonitorParams          []param         `json:"monitorParams"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("monitis: getMonitorInfo: %w: %v", ErrMalformed, err)
	}
	gotID, err := parseID(r.ID)
	if err != nil {
		return nil, fmt.Errorf("monitis: getMonitorInfo: %w: monitor id %s", ErrMalformed, snippet(r.ID))
	}
	info := &MonitorInfo{Monitor: Monitor{ID: gotID, Name: r.Name, Tag: r.Tag, Type: r.Type}}
	dt := func(raw json.RawMessage) DataType { n, _ := parseID(raw); return DataType(n) }
	for _, p := range r.ResultParams {
		info.ResultParams = append(info.ResultParams, ResultParam{p.Name, p.DisplayName, p.UOM, dt(p.DataType)})
	}
	for _, p := range r.AdditionalResultParams {
		info.AdditionalResultParams = append(info.AdditionalResultParams, ResultParam{p.Name, p.DisplayName, p.UOM, dt(p.DataType)})
	}
	for _, p := range r.MonitorParams {
		info.MonitorParams = append(info.MonitorParams, MonitorParam{Name: p.Name, DisplayName: p.DisplayName, Value: lenientString(p.Value), DataType: dt(p.DataType)})
	}
	return info, nil
}

// AddResult stores one check of a monitor, at checktime (sent in
// milliseconds).
func (c *Client) AddResult(ctx context.Context, id int64, checktime time.Time, values []ResultValue) error {
	if len(values) == 0 {
		return errors.New("monitis: addResult: no values")
	}
	p := addResultParams(id, checktime, values)
	_, err := c.post(ctx, "addResult", p)
	return err
}

// addResultParams are addResult's own parameters.
func addResultParams(id int64, checktime time.Time, values []ResultValue) url.Values {
	p := url.Values{
		"monitorId": {strconv.FormatInt(id, 10)},
		"checktime": {strconv.FormatInt(CheckTime(checktime), 10)},
		"results":   {formatResults(values)},
	}
	return p
}

// MonitorResults returns the checks stored for a monitor on the UTC
// calendar day of day, oldest first.
func (c *Client) MonitorResults(ctx context.Context, id int64, day time.Time) ([]Result, error) {
	d := day.UTC()
	p := url.Values{
		"monitorId": {strconv.FormatInt(id, 10)},
		"year":      {strconv.Itoa(d.Year())},
		"month":     {strconv.Itoa(int(d.Month()))},
		"day":       {strconv.Itoa(d.Day())},
	}
	raw, err := c.get(ctx, pathCustom, "getMonitorResults", p)
	if err != nil {
		return nil, err
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("monitis: getMonitorResults: %w: %v", ErrMalformed, err)
	}
	out := make([]Result, 0, len(list))
	for _, m := range list {
		ms, err := parseID(m["checkTimeInGMT"])
		if err != nil {
			return nil, fmt.Errorf("monitis: getMonitorResults: %w: checkTimeInGMT %s", ErrMalformed, snippet(m["checkTimeInGMT"]))
		}
		r := Result{CheckTime: time.UnixMilli(ms).UTC(), Values: make(map[string]string, len(m))}
		for k, v := range m {
			if k == "checkTime" || k == "checkTimeInGMT" {
				continue
			}
			r.Values[k] = lenientString(v)
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CheckTime.Before(out[j].CheckTime) })
	return out, nil
}

// get sends a GET (spec §3.2): apikey, action, version and output=JSON
// plus params, no checksum.
func (c *Client) get(ctx context.Context, path, action string, params url.Values) (json.RawMessage, error) {
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	q.Set("action", action)
	q.Set("apikey", c.apiKey.Reveal())
	q.Set("version", "2")
	q.Set("output", "JSON")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("monitis: %s: %w", action, err)
	}
	status, body, err := c.do(req, action, q)
	if err != nil {
		return nil, err
	}
	return c.parse(action, status, body, false)
}

// post sends a POST to the custom monitor endpoint, signed or with a
// token. A token the service refuses is replaced once.
func (c *Client) post(ctx context.Context, action string, params url.Values) (json.RawMessage, error) {
	if c.validation != ValidationToken {
		form := c.signedForm(action, params, c.now())
		return c.send(ctx, action, form)
	}
	for attempt := 0; ; attempt++ {
		token, fresh, err := c.currentToken(ctx)
		if err != nil {
			return nil, err
		}
		form := c.tokenForm(action, params, c.now(), token)
		data, err := c.send(ctx, action, form)
		if err != nil && errors.Is(err, ErrAuth) && !fresh && attempt == 0 {
			c.dropToken(token)
			continue
		}
		return data, err
	}
}

func (c *Client) send(ctx context.Context, action string, form url.Values) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+pathCustom, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("monitis: %s: %w", action, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, err := c.do(req, action, form)
	if err != nil {
		return nil, err
	}
	return c.parse(action, status, body, true)
}

// commonForm is params plus action, apikey, timestamp and version.
func (c *Client) commonForm(action string, params url.Values, now time.Time) url.Values {
	form := url.Values{}
	for k, v := range params {
		form[k] = v
	}
	form.Set("action", action)
	form.Set("apikey", c.apiKey.Reveal())
	form.Set("timestamp", Timestamp(now))
	form.Set("version", "2")
	return form
}

// signedForm is the complete form of a checksum-validated POST (spec §3.3).
func (c *Client) signedForm(action string, params url.Values, now time.Time) url.Values {
	form := c.commonForm(action, params, now)
	form.Set("checksum", Checksum(c.secretKey.Reveal(), form))
	return form
}

// tokenForm is the complete form of a token-validated POST (spec §3.4).
func (c *Client) tokenForm(action string, params url.Values, now time.Time, token string) url.Values {
	form := c.commonForm(action, params, now)
	form.Set("validation", "token")
	form.Set("authToken", token)
	return form
}

// currentToken returns a token younger than TokenRefresh, fetching one if
// needed; fresh reports whether it was just fetched.
func (c *Client) currentToken(ctx context.Context) (token string, fresh bool, err error) {
	now := c.now()
	c.mu.Lock()
	token, at := c.token, c.tokenAt
	c.mu.Unlock()
	if token != "" && now.Sub(at) < TokenRefresh && !now.Before(at) {
		return token, false, nil
	}
	// Not holding mu while fetching: two concurrent callers may both fetch,
	// which is harmless; the later token wins.
	t, err := c.AuthToken(ctx)
	if err != nil {
		return "", false, err
	}
	c.mu.Lock()
	c.token, c.tokenAt = t, now
	c.mu.Unlock()
	return t, true, nil
}

func (c *Client) dropToken(token string) {
	c.mu.Lock()
	if c.token == token {
		c.token = ""
	}
	c.mu.Unlock()
}

// maxBody bounds how much of a response is read.
const maxBody = 8 << 20

// do sends req and reads the whole body. Transport errors are returned
// without the URL (a GET URL can hold the secret key for authToken).
func (c *Client) do(req *http.Request, action string, params url.Values) (int, []byte, error) {
	if c.onRequest != nil {
		c.onRequest(action)
	}
	c.traceRequest(req, params)
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		c.tracef("<- error: %v\n", err)
		return 0, nil, fmt.Errorf("monitis: %s: %s %s%s: %w", action, req.Method, c.base, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		c.tracef("<- HTTP %d, reading body: %v\n", resp.StatusCode, err)
		return 0, nil, fmt.Errorf("monitis: %s: reading response: %w", action, err)
	}
	shown := c.redact(string(body))
	if action == "authToken" {
		var r struct {
			AuthToken string `json:"authToken"`
		}
		if json.Unmarshal(body, &r) == nil && r.AuthToken != "" {
			shown = strings.ReplaceAll(shown, r.AuthToken, redacted)
		}
	}
	c.tracef("<- HTTP %d %s\n", resp.StatusCode, shown)
	return resp.StatusCode, body, nil
}

// parse interprets a response body whatever the HTTP status (spec §6).
// For a POST it returns the envelope's "data"; for a GET the whole value.
func (c *Client) parse(action string, status int, body []byte, isPost bool) (json.RawMessage, error) {
	b := bytes.TrimSpace(body)
	apiErr := func(msg string) error {
		return &APIError{Action: action, StatusCode: status, Message: c.redact(msg)}
	}
	if len(b) == 0 {
		if status >= 300 {
			return nil, apiErr(http.StatusText(status))
		}
		return nil, fmt.Errorf("monitis: %s: %w: empty body (HTTP %d)", action, ErrMalformed, status)
	}
	if !json.Valid(b) {
		if status >= 300 {
			return nil, apiErr(snippetString(string(b)))
		}
		return nil, fmt.Errorf("monitis: %s: %w (HTTP %d): %s", action, ErrMalformed, status, c.redact(snippet(b)))
	}
	if b[0] == '{' {
		var env map[string]json.RawMessage
		if err := json.Unmarshal(b, &env); err != nil {
			return nil, fmt.Errorf("monitis: %s: %w: %v", action, ErrMalformed, err)
		}
		if e, ok := env["error"]; ok {
			return nil, apiErr(lenientString(e))
		}
		st, hasStatus := env["status"]
		if hasStatus && !strings.EqualFold(lenientString(st), "ok") {
			return nil, apiErr(lenientString(st))
		}
		if status >= 300 {
			return nil, apiErr(snippetString(string(b)))
		}
		if isPost {
			if !hasStatus {
				return nil, fmt.Errorf("monitis: %s: %w: no status in %s", action, ErrMalformed, c.redact(snippet(b)))
			}
			return env["data"], nil
		}
		return b, nil
	}
	if status >= 300 {
		return nil, apiErr(snippetString(string(b)))
	}
	if isPost {
		return nil, fmt.Errorf("monitis: %s: %w: want a JSON object, got %s", action, ErrMalformed, c.redact(snippet(b)))
	}
	return b, nil
}

// redact replaces the keys (and token) wherever they appear in s.
func (c *Client) redact(s string) string {
	for _, k := range []string{c.apiKey.Reveal(), c.secretKey.Reveal()} {
		// Real keys are 25-26 characters; a very short (test) key would
		// garble every message it occurs in by chance.
		if len(k) >= 6 {
			s = strings.ReplaceAll(s, k, redacted)
		}
	}
	c.mu.Lock()
	t := c.token
	c.mu.Unlock()
	if t != "" {
		s = strings.ReplaceAll(s, t, redacted)
	}
	return s
}

// traceRequest writes the request with sensitive parameters redacted.
func (c *Client) traceRequest(req *http.Request, params url.Values) {
	if c.trace == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "-> %s %s%s\n", req.Method, c.base, req.URL.Path)
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := params.Get(k)
		switch k {
		case "apikey", "secretkey", "checksum", "authToken":
			v = redacted
		}
		fmt.Fprintf(&b, "   %s=%s\n", k, v)
	}
	c.tracef("%s", b.String())
}

func (c *Client) tracef(format string, args ...any) {
	if c.trace == nil {
		return
	}
	c.traceMu.Lock()
	fmt.Fprintf(c.trace, format, args...)
	c.traceMu.Unlock()
}

// parseID reads an id (or other integer) that may be a JSON number or a
// JSON string.
func parseID(raw json.RawMessage) (int64, error) {
	s := strings.TrimSpace(string(raw))
	s = strings.Trim(s, `"`)
	return strconv.ParseInt(s, 10, 64)
}

// lenientString turns a JSON string, number, boolean or null into its text.
func lenientString(raw json.RawMessage) string {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	t := strings.TrimSpace(string(raw))
	if t == "null" {
		return ""
	}
	return t
}

func snippet(b []byte) string { return snippetString(string(b)) }

func snippetString(s string) string {
	const max = 200
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
