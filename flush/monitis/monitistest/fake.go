// Package monitistest is an in-memory fake of the Monitis custom monitor
// REST API, written from the protocol spec (specs/monitis-api.md, §9
// checklist) for tests and for trying the agent without an account.
//
// The fake checks what the real service checks and answers as it answers:
// both endpoint paths (/api and /customMonitorApi, with or without a
// trailing slash), parameters read from the query string and the form body,
// the POST checksum (HMAC-SHA1 over every received parameter except
// "checksum", sorted byte-wise), auth tokens and their 24 h expiry, the
// timestamp format and a skew window, the required parameters of each
// action, duplicate monitor names, and the {"status":"ok","data":...} and
// {"error":"..."} / {"status":"..."} shapes. Monitors and results live in
// memory and read back through getMonitors, getMonitorInfo and
// getMonitorResults. Where the spec marks behaviour as unconfirmed the fake
// is lenient, and the HTTP status codes are configurable (Options).
//
// Tests inject faults with Fake.Fail: 5xx responses, hanging responses,
// malformed JSON, authentication failures and dropped connections.
//
// Run it on its own with
//
//	go run ./flush/monitis/monitistest/cmd/fake-monitis -addr 127.0.0.1:8080
//
// A Fake is safe for concurrent use.
package monitistest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The made-up keys of the spec's worked example; the default account.
const (
	DefaultAPIKey    = "TESTAPIKEY1234567890ABCDEF"
	DefaultSecretKey = "TESTSECRETKEY1234567890ABC"
)

// Options configure a Fake. The zero value is a faithful default.
type Options struct {
	// Accounts maps API keys to secret keys; nil means one account with
	// DefaultAPIKey and DefaultSecretKey.
	Accounts map[string]string
	// Now returns the current time (timestamp window, token expiry);
	// nil means time.Now.
	Now func() time.Time
	// TimestampWindow is the allowed skew of a POST timestamp; 0 means
	// 24 h, negative disables the check (the real window is unknown).
	TimestampWindow time.Duration
	// TokenTTL is how long an auth token is valid; 0 means 24 h.
	TokenTTL time.Duration
	// AuthStatus is the HTTP status of authentication failures; 0 means 403.
	AuthStatus int
	// UnknownActionStatus is the HTTP status of an unsupported action;
	// 0 means 400.
	UnknownActionStatus int
	// FirstMonitorID is the id of the first monitor created; 0 means 1001.
	FirstMonitorID int64
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// FaultKind is a failure the fake can inject.
type FaultKind int

// The injectable faults.
const (
	// Fault5xx answers 503 with an HTML body, as a failing proxy would.
	Fault5xx FaultKind = iota + 1
	// FaultHang never answers, until the client gives up or the Fake is
	// closed.
	FaultHang
	// FaultMalformed answers 200 with a truncated JSON body.
	FaultMalformed
	// FaultAuth answers as for bad keys: {"error":"Authentication failure"}.
	FaultAuth
	// FaultDrop closes the connection without a response.
	FaultDrop
)

// Fake is the fake Monitis service; it is an http.Handler.
type Fake struct {
	opts Options
	now  func() time.Time
	log  *slog.Logger

	closeOnce sync.Once
	closed    chan struct{}

	mu       sync.Mutex
	accounts map[string]*account
	faults   []fault
	requests map[string]int // by action
	nextID   int64          // monitor ids
	nextPID  int64          // param ids
}

type fault struct {
	kind   FaultKind
	action string // "" = any
	left   int    // < 0 = unlimited
}

type account struct {
	secret   string
	tokens   map[string]time.Time // token -> issued
	monitors map[int64]*monitor
}

type param struct {
	ID          int64
	Name        string
	DisplayName string
	UOM         string
	Value       string
	DataType    int
	Hidden      bool
}

type monitor struct {
	ID                     int64
	Name, Tag, Type        string
	MultiValue             bool
	ResultParams           []param
	AdditionalResultParams []param
	MonitorParams          []param
	// Results keyed by checktime; values by param name.
	Results    map[int64]map[string]string
	Additional map[int64][]json.RawMessage
}

// New returns a Fake with the given options.
func New(opts Options) *Fake {
	f := &Fake{
		opts:     opts,
		now:      opts.Now,
		log:      opts.Logger,
		closed:   make(chan struct{}),
		accounts: make(map[string]*account),
		requests: make(map[string]int),
		nextID:   1000,
	}
	if opts.FirstMonitorID > 0 {
		f.nextID = opts.FirstMonitorID - 1
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	accts := opts.Accounts
	if accts == nil {
		accts = map[string]string{DefaultAPIKey: DefaultSecretKey}
	}
	for k, s := range accts {
		f.accounts[k] = &account{secret: s, tokens: map[string]time.Time{}, monitors: map[int64]*monitor{}}
	}
	f.log.Info("fake monitis: unconfirmed behaviour in use",
		"timestamp_window", f.window(), "token_ttl", f.tokenTTL(),
		"auth_status", f.authStatus(), "unknown_action_status", f.unknownActionStatus())
	return f
}

// Close releases hanging requests. The Fake keeps answering otherwise.
func (f *Fake) Close() { f.closeOnce.Do(func() { close(f.closed) }) }

// Fail makes the next count requests (all further requests when count <= 0)
// for action ("" = any action) fail with kind. Faults queue in order.
func (f *Fake) Fail(kind FaultKind, action string, count int) {
	f.mu.Lock()
	f.faults = append(f.faults, fault{kind: kind, action: action, left: count})
	f.mu.Unlock()
}

// ClearFaults removes every pending fault.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	f.faults = nil
	f.mu.Unlock()
}

// Requests returns how many requests the fake received for action
// (after faults; "" counts all).
func (f *Fake) Requests(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if action == "" {
		n := 0
		for _, c := range f.requests {
			n += c
		}
		return n
	}
	return f.requests[action]
}

// MonitorCount returns how many monitors the account of apiKey holds.
func (f *Fake) MonitorCount(apiKey string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a := f.accounts[apiKey]; a != nil {
		return len(a.monitors)
	}
	return 0
}

// ResultCount returns how many checks the account holds over all monitors.
func (f *Fake) ResultCount(apiKey string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	if a := f.accounts[apiKey]; a != nil {
		for _, m := range a.monitors {
			n += len(m.Results)
		}
	}
	return n
}

// ExpireTokens ages every issued token past its TTL.
func (f *Fake) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.accounts {
		for t := range a.tokens {
			a.tokens[t] = time.Time{}
		}
	}
}

func (f *Fake) window() time.Duration {
	if f.opts.TimestampWindow == 0 {
		return 24 * time.Hour
	}
	return f.opts.TimestampWindow
}

func (f *Fake) tokenTTL() time.Duration {
	if f.opts.TokenTTL == 0 {
		return 24 * time.Hour
	}
	return f.opts.TokenTTL
}

func (f *Fake) authStatus() int {
	if f.opts.AuthStatus == 0 {
		return http.StatusForbidden
	}
	return f.opts.AuthStatus
}

func (f *Fake) unknownActionStatus() int {
	if f.opts.UnknownActionStatus == 0 {
		return http.StatusBadRequest
	}
	return f.opts.UnknownActionStatus
}

// The actions of each endpoint (spec §1) and their methods (spec §2).
var (
	mainActions = map[string]string{
		"authToken": http.MethodGet,
		"secretkey": http.MethodGet,
	}
	customActions = map[string]string{
		"authToken":            http.MethodGet, // [U] answered on both paths
		"addMonitor":           http.MethodPost,
		"editMonitor":          http.MethodPost,
		"deleteMonitor":        http.MethodPost,
		"addResult":            http.MethodPost,
		"addAdditionalResults": http.MethodPost,
		"getMonitors":          http.MethodGet,
		"getMonitorInfo":       http.MethodGet,
		"getMonitorResults":    http.MethodGet,
		"getAdditionalResults": http.MethodGet,
	}
)

// reply is one response: an HTTP status and a JSON value.
type reply struct {
	status int
	body   any
}

func ok(data any) reply          { return reply{200, map[string]any{"status": "ok", "data": data}} }
func statusErr(msg string) reply { return reply{200, map[string]string{"status": msg}} }
func errorBody(msg string) reply { return reply{200, map[string]string{"error": msg}} }
func (f *Fake) authFailure() reply {
	return reply{f.authStatus(), map[string]string{"error": "Authentication failure"}}
}

// ServeHTTP implements the API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	var actions map[string]string
	switch path {
	case "/api":
		actions = mainActions
	case "/customMonitorApi":
		actions = customActions
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, reply{400, map[string]string{"status": "Invalid request: " + err.Error()}})
		return
	}
	action := r.Form.Get("action")
	if kind, faulted := f.takeFault(action); faulted {
		f.log.Info("fake monitis: injected fault", "action", action, "fault", kind)
		f.inject(w, r, kind)
		return
	}
	f.mu.Lock()
	f.requests[action]++
	f.mu.Unlock()

	rep := f.handle(r.Method, actions, action, r.Form)
	f.log.Info("fake monitis", "method", r.Method, "path", r.URL.Path, "action", action, "status", rep.status)
	writeJSON(w, rep)
}

func writeJSON(w http.ResponseWriter, rep reply) {
	b, err := json.Marshal(rep.body)
	if err != nil {
		rep.status, b = 500, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	w.Write(b)
}

func (f *Fake) takeFault(action string) (FaultKind, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.faults {
		ft := &f.faults[i]
		if ft.action != "" && ft.action != action {
			continue
		}
		kind := ft.kind
		if ft.left > 0 {
			ft.left--
			if ft.left == 0 {
				f.faults = append(f.faults[:i], f.faults[i+1:]...)
			}
		}
		return kind, true
	}
	return 0, false
}

func (f *Fake) inject(w http.ResponseWriter, r *http.Request, kind FaultKind) {
	switch kind {
	case Fault5xx:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<html><body><h1>503 Service Unavailable</h1></body></html>")
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-f.closed:
		}
	case FaultMalformed:
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok","da`)
	case FaultAuth:
		writeJSON(w, f.authFailure())
	case FaultDrop:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

// handle authenticates and runs one action.
func (f *Fake) handle(method string, actions map[string]string, action string, form url.Values) reply {
	wantMethod, known := actions[action]
	if !known {
		return reply{f.unknownActionStatus(), map[string]string{"status": fmt.Sprintf("Action '%s' is not supported", action)}}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	acct := f.accounts[form.Get("apikey")]
	if acct == nil {
		return f.authFailure()
	}
	if method != wantMethod {
		// [U] the real answer is unknown; a write over GET carries no
		// checksum, so refuse it as the service refuses unsigned writes.
		return reply{f.unknownActionStatus(), map[string]string{"status": fmt.Sprintf("Action '%s' requires %s", action, wantMethod)}}
	}
	if v := form.Get("version"); v != "" && v != "2" && v != "3" {
		return statusErr("Unsupported version " + v)
	}
	if method == http.MethodGet {
		if out := form.Get("output"); out != "" && !strings.EqualFold(out, "json") {
			return reply{400, map[string]string{"status": "output " + out + " is not supported by the fake"}}
		}
		if t := form.Get("authToken"); t != "" && !f.validToken(acct, t) {
			return f.authFailure()
		}
	} else if rep, ok := f.checkPost(acct, form); !ok {
		return rep
	}
	switch action {
	case "authToken":
		return f.authToken(acct, form)
	case "secretkey":
		return reply{200, map[string]string{"secretkey": acct.secret}}
	case "addMonitor":
		return f.addMonitor(acct, form)
	case "editMonitor":
		return f.editMonitor(acct, form)
	case "deleteMonitor":
		return f.deleteMonitor(acct, form)
	case "addResult":
		return f.addResult(acct, form)
	case "addAdditionalResults":
		return f.addAdditionalResults(acct, form)
	case "getMonitors":
		return f.getMonitors(acct, form)
	case "getMonitorInfo":
		return f.getMonitorInfo(acct, form)
	case "getMonitorResults":
		return f.getMonitorResults(acct, form)
	case "getAdditionalResults":
		return f.getAdditionalResults(acct, form)
	}
	return reply{500, map[string]string{"error": "unhandled action " + action}}
}

// checkPost verifies a POST's timestamp and its checksum or token (spec §3.3, §3.4).
func (f *Fake) checkPost(acct *account, form url.Values) (reply, bool) {
	ts := form.Get("timestamp")
	if ts == "" {
		return statusErr("Missing parameter: timestamp"), false
	}
	t, err := time.Parse("2006-01-02 15:04:05", ts)
	if err != nil {
		return statusErr("Invalid timestamp format, expected yyyy-MM-dd HH:mm:ss: " + ts), false
	}
	if w := f.window(); w > 0 {
		if d := f.now().Sub(t); d > w || d < -w {
			return reply{f.authStatus(), map[string]string{"error": "Authentication failure: timestamp out of the allowed window"}}, false
		}
	}
	if sum := form.Get("checksum"); sum != "" {
		if !hmac.Equal([]byte(sum), []byte(checksum(acct.secret, form))) {
			return f.authFailure(), false
		}
		return reply{}, true
	}
	if tok := form.Get("authToken"); tok != "" {
		if !f.validToken(acct, tok) {
			return reply{f.authStatus(), map[string]string{"error": "Authentication failure: invalid or expired authToken"}}, false
		}
		return reply{}, true
	}
	return f.authFailure(), false
}

// checksum is the spec's algorithm, written independently of the client.
func checksum(secret string, form url.Values) string {
	names := make([]string, 0, len(form))
	for k := range form {
		if k != "checksum" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	m := hmac.New(sha1.New, []byte(secret))
	for _, k := range names {
		for _, v := range form[k] {
			io.WriteString(m, k)
			io.WriteString(m, v)
		}
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (f *Fake) validToken(acct *account, tok string) bool {
	issued, ok := acct.tokens[tok]
	return ok && f.now().Sub(issued) < f.tokenTTL()
}

func (f *Fake) authToken(acct *account, form url.Values) reply {
	if !hmac.Equal([]byte(form.Get("secretkey")), []byte(acct.secret)) {
		return f.authFailure()
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 26)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	tok := string(b)
	acct.tokens[tok] = f.now()
	return reply{200, map[string]string{"authToken": tok}}
}

func required(form url.Values, names ...string) (reply, bool) {
	for _, n := range names {
		if form.Get(n) == "" {
			return statusErr(fmt.Sprintf("Missing parameter: %s", n)), false
		}
	}
	return reply{}, true
}

func (f *Fake) monitorByID(acct *account, form url.Values) (*monitor, reply, bool) {
	id, err := strconv.ParseInt(form.Get("monitorId"), 10, 64)
	if err != nil {
		return nil, statusErr("Invalid parameter: monitorId"), false
	}
	m := acct.monitors[id]
	if m == nil {
		return nil, statusErr(fmt.Sprintf("Monitor with id %d does not exist", id)), false
	}
	return m, reply{}, true
}

func nameTaken(acct *account, name string, except int64) bool {
	for _, m := range acct.monitors {
		if m.Name == name && m.ID != except {
			return true
		}
	}
	return false
}

func (f *Fake) addMonitor(acct *account, form url.Values) reply {
	if rep, ok := required(form, "name", "tag", "resultParams"); !ok {
		return rep
	}
	rps, err := f.parseParams(form.Get("resultParams"), 4, 7)
	if err != nil || len(rps) == 0 {
		return statusErr(fmt.Sprintf("Invalid parameter: resultParams: %v", err))
	}
	var arps, mps []param
	if s := form.Get("additionalResultParams"); s != "" {
		if arps, err = f.parseParams(s, 4, 7); err != nil {
			return statusErr(fmt.Sprintf("Invalid parameter: additionalResultParams: %v", err))
		}
	}
	if s := form.Get("monitorParams"); s != "" {
		if mps, err = f.parseParams(s, 5, 5); err != nil {
			return statusErr(fmt.Sprintf("Invalid parameter: monitorParams: %v", err))
		}
	}
	name := form.Get("name")
	if nameTaken(acct, name, 0) {
		return statusErr("monitorNameExists")
	}
	f.nextID++
	m := &monitor{
		ID: f.nextID, Name: name, Tag: form.Get("tag"), Type: form.Get("type"),
		MultiValue:             form.Get("multiValue") == "true",
		ResultParams:           rps,
		AdditionalResultParams: arps,
		MonitorParams:          mps,
		Results:                map[int64]map[string]string{},
		Additional:             map[int64][]json.RawMessage{},
	}
	acct.monitors[m.ID] = m
	return ok(m.ID)
}

func (f *Fake) editMonitor(acct *account, form url.Values) reply {
	if rep, ok := required(form, "monitorId"); !ok {
		return rep
	}
	m, rep, found := f.monitorByID(acct, form)
	if !found {
		return rep
	}
	if name := form.Get("name"); name != "" {
		if nameTaken(acct, name, m.ID) {
			return statusErr("monitorNameExists")
		}
		m.Name = name
	}
	if tag := form.Get("tag"); tag != "" {
		m.Tag = tag
	}
	if s := form.Get("monitorParams"); s != "" {
		mps, err := f.parseParams(s, 5, 5)
		if err != nil {
			return statusErr(fmt.Sprintf("Invalid parameter: monitorParams: %v", err))
		}
		for _, p := range mps {
			i := indexParam(m.MonitorParams, p.Name)
			if i < 0 {
				m.MonitorParams = append(m.MonitorParams, p)
				continue
			}
			// The value sticks; changing the dataType does not (spec §5.2).
			m.MonitorParams[i].Value = p.Value
			m.MonitorParams[i].DisplayName = p.DisplayName
		}
	}
	if s := form.Get("resultParams"); s != "" {
		// [U] resultParams on edit: new names are added, known names keep
		// their data type; params are never removed.
		rps, err := f.parseParams(s, 4, 7)
		if err != nil {
			return statusErr(fmt.Sprintf("Invalid parameter: resultParams: %v", err))
		}
		for _, p := range rps {
			i := indexParam(m.ResultParams, p.Name)
			if i < 0 {
				m.ResultParams = append(m.ResultParams, p)
				continue
			}
			m.ResultParams[i].DisplayName, m.ResultParams[i].UOM = p.DisplayName, p.UOM
		}
	}
	return ok(nil)
}

func indexParam(ps []param, name string) int {
	for i, p := range ps {
		if p.Name == name {
			return i
		}
	}
	return -1
}

func (f *Fake) deleteMonitor(acct *account, form url.Values) reply {
	if rep, ok := required(form, "monitorId"); !ok {
		return rep
	}
	var ids []int64
	for _, s := range strings.Split(form.Get("monitorId"), ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return statusErr("Invalid parameter: monitorId")
		}
		if acct.monitors[id] == nil {
			return statusErr(fmt.Sprintf("Monitor with id %d does not exist", id))
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		delete(acct.monitors, id)
	}
	return ok(nil)
}

func (f *Fake) addResult(acct *account, form url.Values) reply {
	if rep, ok := required(form, "monitorId", "checktime", "results"); !ok {
		return rep
	}
	m, rep, found := f.monitorByID(acct, form)
	if !found {
		return rep
	}
	ct, err := strconv.ParseInt(form.Get("checktime"), 10, 64)
	if err != nil || ct < 0 {
		return statusErr("Invalid parameter: checktime")
	}
	items, err := parseItems(form.Get("results"), 2, 2)
	if err != nil || len(items) == 0 {
		return statusErr(fmt.Sprintf("Invalid parameter: results: %v", err))
	}
	vals := make(map[string]string, len(items))
	for _, it := range items {
		if indexParam(m.ResultParams, it[0]) < 0 {
			return statusErr(fmt.Sprintf("Invalid parameter: results: unknown result param %q", it[0]))
		}
		vals[it[0]] = it[1]
	}
	if s := form.Get("additionalResults"); s != "" {
		var arr []json.RawMessage
		if json.Unmarshal([]byte(s), &arr) != nil {
			return statusErr("Invalid parameter: additionalResults")
		}
		m.Additional[ct] = append(m.Additional[ct], arr...)
	}
	// Stored keyed by checktime: a second post for the same checktime
	// replaces the first.
	m.Results[ct] = vals
	return ok(nil)
}

func (f *Fake) addAdditionalResults(acct *account, form url.Values) reply {
	if rep, ok := required(form, "monitorId", "checktime", "results"); !ok {
		return rep
	}
	m, rep, found := f.monitorByID(acct, form)
	if !found {
		return rep
	}
	ct, err := strconv.ParseInt(form.Get("checktime"), 10, 64)
	if err != nil || ct < 0 {
		return statusErr("Invalid parameter: checktime")
	}
	var arr []json.RawMessage
	if json.Unmarshal([]byte(form.Get("results")), &arr) != nil {
		return statusErr("Invalid parameter: results")
	}
	m.Additional[ct] = append(m.Additional[ct], arr...)
	return ok(nil)
}

func (f *Fake) getMonitors(acct *account, form url.Values) reply {
	tag, typ, name := form.Get("tag"), form.Get("type"), form.Get("name")
	list := []map[string]string{}
	for _, m := range sortedMonitors(acct) {
		if (tag != "" && m.Tag != tag) || (typ != "" && m.Type != typ) || (name != "" && m.Name != name) {
			continue
		}
		list = append(list, map[string]string{"id": strconv.FormatInt(m.ID, 10), "name": m.Name, "tag": m.Tag, "type": m.Type})
	}
	return reply{200, list}
}

func sortedMonitors(acct *account) []*monitor {
	ms := make([]*monitor, 0, len(acct.monitors))
	for _, m := range acct.monitors {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].ID < ms[j].ID })
	return ms
}

func (f *Fake) getMonitorInfo(acct *account, form url.Values) reply {
	if rep, ok := required(form, "monitorId"); !ok {
		return rep
	}
	id, _ := strconv.ParseInt(form.Get("monitorId"), 10, 64)
	m := acct.monitors[id]
	if m == nil {
		return errorBody(fmt.Sprintf("Monitor with id %s does not exist", form.Get("monitorId")))
	}
	excludeHidden := form.Get("excludeHidden") == "true"
	rp := func(ps []param) []map[string]any {
		out := []map[string]any{}
		for _, p := range ps {
			out = append(out, map[string]any{"id": p.ID, "name": p.Name, "displayName": p.DisplayName, "uom": p.UOM, "dataType": p.DataType})
		}
		return out
	}
	mps := []map[string]any{}
	for _, p := range m.MonitorParams {
		if excludeHidden && p.Hidden {
			continue
		}
		// The hidden flag is not returned (spec §5.5).
		mps = append(mps, map[string]any{"id": p.ID, "name": p.Name, "displayName": p.DisplayName, "value": p.Value, "dataType": p.DataType})
	}
	return reply{200, map[string]any{
		"id": strconv.FormatInt(m.ID, 10), "name": m.Name, "tag": m.Tag, "type": m.Type,
		"resultParams": rp(m.ResultParams), "additionalResultParams": rp(m.AdditionalResultParams),
		"monitorParams": mps,
	}}
}

func (f *Fake) getMonitorResults(acct *account, form url.Values) reply {
	if rep, ok := required(form, "monitorId", "year", "month", "day"); !ok {
		return rep
	}
	m, rep, found := f.monitorByID(acct, form)
	if !found {
		return errorBody(rep.body.(map[string]string)["status"])
	}
	y, err1 := strconv.Atoi(form.Get("year"))
	mo, err2 := strconv.Atoi(form.Get("month"))
	d, err3 := strconv.Atoi(form.Get("day"))
	if err1 != nil || err2 != nil || err3 != nil || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return statusErr("Invalid parameter: year, month or day")
	}
	tz := 0
	if s := form.Get("timezone"); s != "" {
		if tz, err1 = strconv.Atoi(s); err1 != nil {
			return statusErr("Invalid parameter: timezone")
		}
	}
	shift := int64(tz) * 60 * 1000
	start := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC).UnixMilli()
	end := start + 24*3600*1000
	var cts []int64
	for ct := range m.Results {
		if local := ct + shift; local >= start && local < end {
			cts = append(cts, ct)
		}
	}
	sort.Slice(cts, func(i, j int) bool { return cts[i] < cts[j] })
	list := []map[string]any{}
	for _, ct := range cts {
		o := map[string]any{"checkTime": ct + shift, "checkTimeInGMT": ct}
		for k, v := range m.Results[ct] {
			o[k] = typedValue(m, k, v)
		}
		list = append(list, o)
	}
	return reply{200, list}
}

// typedValue returns numbers of numeric params as JSON numbers ([U]: the
// service's types are unknown; clients must accept both).
func typedValue(m *monitor, name, v string) any {
	i := indexParam(m.ResultParams, name)
	if i >= 0 && (m.ResultParams[i].DataType == 2 || m.ResultParams[i].DataType == 4) {
		if json.Valid([]byte(v)) && v != "" && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
			return json.Number(v)
		}
	}
	return v
}

func (f *Fake) getAdditionalResults(acct *account, form url.Values) reply {
	if rep, ok := required(form, "monitorId", "checktime"); !ok {
		return rep
	}
	m, rep, found := f.monitorByID(acct, form)
	if !found {
		return errorBody(rep.body.(map[string]string)["status"])
	}
	ct, _ := strconv.ParseInt(form.Get("checktime"), 10, 64)
	arr := m.Additional[ct]
	if arr == nil {
		arr = []json.RawMessage{}
	}
	return reply{200, arr}
}

// parseParams parses resultParams (min 4, max 7 fields) or monitorParams
// (5 fields), spec §4.2, §4.3, §4.5.
func (f *Fake) parseParams(s string, min, max int) ([]param, error) {
	items, err := parseItems(s, min, max)
	if err != nil {
		return nil, err
	}
	out := make([]param, 0, len(items))
	seen := map[string]bool{}
	for _, it := range items {
		if it[0] == "" {
			return nil, fmt.Errorf("empty name in %q", strings.Join(it, ":"))
		}
		if seen[it[0]] {
			return nil, fmt.Errorf("duplicate name %q", it[0])
		}
		seen[it[0]] = true
		f.nextPID++
		p := param{ID: f.nextPID, Name: it[0], DisplayName: it[1]}
		dt := it[3]
		if min == 5 { // monitorParams: name:displayName:value:dataType:isHidden
			p.Value = it[2]
			p.Hidden = strings.EqualFold(it[4], "true")
			if !strings.EqualFold(it[4], "true") && !strings.EqualFold(it[4], "false") {
				return nil, fmt.Errorf("isHidden %q is not true or false", it[4])
			}
		} else {
			p.UOM = it[2]
		}
		n, err := strconv.Atoi(dt)
		if err != nil || n < 1 || n > 4 {
			return nil, fmt.Errorf("dataType %q of %q is not 1, 2, 3 or 4", dt, it[0])
		}
		p.DataType = n
		out = append(out, p)
	}
	return out, nil
}

// ParseItems splits a mini-format value (resultParams, monitorParams,
// results) into items of min..max fields, as the fake does, so clients can
// check that what they encode reads back.
func ParseItems(s string, min, max int) ([][]string, error) { return parseItems(s, min, max) }

// parseItems splits a mini-format value as spec §4.5 recommends: split on
// ';' (dropping empty items); an item without a literal ':' is
// percent-decoded once first (the Python SDK's style); then split on ':'
// into min..max fields, each percent-decoded (kept raw if that fails).
func parseItems(s string, min, max int) ([][]string, error) {
	var out [][]string
	for _, item := range strings.Split(s, ";") {
		if item == "" {
			continue
		}
		if !strings.Contains(item, ":") {
			if d, err := url.QueryUnescape(item); err == nil {
				item = d
			}
		}
		fields := strings.Split(item, ":")
		if len(fields) < min || len(fields) > max {
			return nil, fmt.Errorf("item %q has %d fields, want %d", item, len(fields), min)
		}
		for i, fl := range fields {
			if d, err := url.QueryUnescape(fl); err == nil {
				fields[i] = d
			}
		}
		out = append(out, fields)
	}
	return out, nil
}
