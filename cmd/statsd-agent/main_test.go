package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/flush/monitis/monitistest"
	"github.com/statsd-agent/statsd-agent/flush/netuitive/netuitivetest"
)

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badConf := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(badConf, []byte("udp = \"127.0.0.1:0\"\nflush_intervall = \"1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined: -bogus"},
		{"bad duration", []string{"-flush-interval", "soon"}, "invalid value \"soon\" for flag -flush-interval"},
		{"bad percentile", []string{"-percentiles", "90,abc"}, `percentile "abc" is not a number`},
		{"percentile range", []string{"-percentiles", "150"}, "percentile 150 out of range"},
		{"unknown backend", []string{"-backend", "graphite"}, `unknown backend "graphite"`},
		{"config unknown key", []string{"-config", badConf}, `line 2: unknown key "flush_intervall"`},
		{"missing config", []string{"-config", filepath.Join(dir, "nope.toml")}, "no such file"},
		{"extra argument", []string{"serve"}, `unexpected argument "serve"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errs := runMain(t, c.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errs, c.want) || !strings.Contains(errs, "statsd-agent -h") || out != "" {
				t.Errorf("stderr %q, want %q and a hint; stdout %q", errs, c.want, out)
			}
			if strings.Contains(errs, "goroutine") || strings.Count(errs, "\n") > 2 {
				t.Errorf("not one clear message: %q", errs)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := runMain(t, "-h")
	if code != 0 || !strings.Contains(out, "-flush-interval") || !strings.Contains(out, "NETUITIVE_API_KEY") {
		t.Errorf("-h: exit %d, output %q", code, out)
	}
	code, out, _ = runMain(t, "-version")
	if code != 0 || !strings.HasPrefix(out, "statsd-agent ") {
		t.Errorf("-version: exit %d, output %q", code, out)
	}
}

func TestSecretsNotInHelp(t *testing.T) {
	t.Setenv("MONITIS_APIKEY", "sekrit-api-key-123")
	t.Setenv("NETUITIVE_API_KEY", "sekrit-netuitive-456")
	_, out, _ := runMain(t, "-h")
	if strings.Contains(out, "sekrit") {
		t.Error("-h output contains a secret")
	}
}

func TestConfigFileAndFlagOverride(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte("flush_interval = \"3s\"\npercentiles = [50]\nudp = \"127.0.0.1:9\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, code := parseAgentFlags([]string{"-config", p, "-flush-interval=2s"}, io.Discard, io.Discard)
	if o == nil {
		t.Fatalf("exit %d", code)
	}
	if got := time.Duration(o.file.FlushInterval); got != 2*time.Second {
		t.Errorf("flush interval %v, want the flag's 2s", got)
	}
	if o.file.Percentiles[0] != 50 || o.file.UDP != "127.0.0.1:9" {
		t.Errorf("file values lost: %+v", o.file)
	}
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for the agent's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The agent as a user runs it: defaults plus addresses, JSON lines on
// stdout, /metrics and /healthz, and a final flush on shutdown.
func TestServeEndToEnd(t *testing.T) {
	udpAddr, httpAddr := freePort(t, "udp"), freePort(t, "tcp")
	o, code := parseAgentFlags([]string{"-udp", udpAddr, "-http", httpAddr, "-flush-interval", "1h"}, io.Discard, io.Discard)
	if o == nil {
		t.Fatalf("exit %d", code)
	}
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, &stdout, &stderr) }()

	// Wait for /healthz.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("agent not up: %v\n%s", err, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("api.req:1|c|#env:prod\napi.req:2|c|@0.5|#env:prod\nlat:5|ms\nbad:x|c")); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(metrics(t, httpAddr), "statsd_agent_lines_received_total 4") {
		if time.Now().After(deadline) {
			t.Fatalf("lines not counted:\n%s", metrics(t, httpAddr))
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := metrics(t, httpAddr)
	for _, want := range []string{`statsd_agent_lines_invalid_total{reason="invalid_value"} 1`, "statsd_agent_packets_received_total 1",
		"statsd_agent_udp_kernel_drops_total 0", `statsd_agent_flush_errors_total{backend="stdout"} 0`} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel() // SIGTERM
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("stdout line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 2 {
		t.Fatalf("stdout has %d lines, want 2:\n%s", len(lines), stdout.String())
	}
	if lines[0]["name"] != "api.req" || lines[0]["values"].(map[string]any)["count"] != 5.0 ||
		lines[0]["tags"].(map[string]any)["env"] != "prod" || lines[1]["type"] != "timer" {
		t.Errorf("final flush lines: %v", lines)
	}
}

func metrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestServeReportsListenErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o, _ := parseAgentFlags([]string{"-udp", "127.0.0.1:0", "-http", l.Addr().String()}, io.Discard, io.Discard)
	err = serve(context.Background(), o, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("serve on a busy HTTP port: %v", err)
	}
}

func TestCheckConfig(t *testing.T) {
	code, out, errs := runMain(t, "-config", "../../statsd-agent.example.toml", "-check-config")
	if code != 0 || !strings.Contains(out, "configuration OK") {
		t.Errorf("example config: exit %d, %q %q", code, out, errs)
	}
	t.Setenv("MONITIS_APIKEY", "")
	t.Setenv("MONITIS_SECRETKEY", "")
	code, _, errs = runMain(t, "-backend", "monitis", "-check-config")
	if code != 2 || !strings.Contains(strings.ToLower(errs), "key") {
		t.Errorf("monitis without keys: exit %d, %q", code, errs)
	}
	code, _, _ = runMain(t, "-percentiles", "0", "-check-config")
	if code != 2 {
		t.Errorf("bad percentile: exit %d", code)
	}
}

// Reload through POST /-/reload: an invalid file is rejected and the running
// configuration stays; a valid one applies new percentiles while keeping the
// values aggregated so far.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.toml")
	udpAddr, httpAddr := freePort(t, "udp"), freePort(t, "tcp")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("flush_interval = \"1h\"\npercentiles = [90]\n")
	o, code := parseAgentFlags([]string{"-config", conf, "-udp", udpAddr, "-http", httpAddr}, io.Discard, io.Discard)
	if o == nil {
		t.Fatalf("exit %d", code)
	}
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, &stdout, &stderr) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("agent not up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 1; i <= 4; i++ {
		if _, err := c.Write([]byte("t:" + string(rune('0'+i)) + "|ms")); err != nil {
			t.Fatal(err)
		}
	}
	for !strings.Contains(metrics(t, httpAddr), "statsd_agent_lines_received_total 4") {
		if time.Now().After(deadline) {
			t.Fatal("lines not received")
		}
		time.Sleep(5 * time.Millisecond)
	}
	post := func() (int, string) {
		resp, err := http.Post("http://"+httpAddr+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	write("flush_interval = \"1h\"\npercentiles = [50]\nbogus = 1\n")
	if code, body := post(); code != 400 || !strings.Contains(body, `unknown key "bogus"`) {
		t.Errorf("invalid reload: %d %q", code, body)
	}
	write("flush_interval = \"1h\"\npercentiles = [50]\n")
	if code, body := post(); code != 200 {
		t.Errorf("valid reload: %d %q", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	out := stdout.String()
	if !strings.Contains(out, `"count":4`) || !strings.Contains(out, `"upper_50":2`) || strings.Contains(out, "upper_90") {
		t.Errorf("after reload the final flush should keep the 4 values with the 50th percentile only:\n%s", out)
	}
}

// A reload that changes a spooled backend's settings hands the spool
// directory over to the new backend (closed before the new one opens it).
func TestReloadSpooledBackend(t *testing.T) {
	fake := monitistest.NewServer(monitistest.Options{})
	defer fake.Close()
	t.Setenv("MONITIS_APIKEY", monitistest.DefaultAPIKey)
	t.Setenv("MONITIS_SECRETKEY", monitistest.DefaultSecretKey)
	dir := t.TempDir()
	conf := filepath.Join(dir, "agent.toml")
	write := func(rate string) {
		t.Helper()
		s := "flush_interval = \"1h\"\nbackends = [\"monitis\"]\nstate_dir = \"" + filepath.Join(dir, "state") + "\"\n[monitis]\nurl = \"" + fake.URL + "\"\nrate = " + rate + "\n"
		if err := os.WriteFile(conf, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("10")
	udpAddr, httpAddr := freePort(t, "udp"), freePort(t, "tcp")
	o, code := parseAgentFlags([]string{"-config", conf, "-udp", udpAddr, "-http", httpAddr}, io.Discard, io.Discard)
	if o == nil {
		t.Fatalf("exit %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() { done <- serve(ctx, o, io.Discard, &stderr) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("agent not up:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	write("20")
	resp, err := http.Post("http://"+httpAddr+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("reload with a changed spooled backend: %d %s", resp.StatusCode, body)
	}
	c, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("after.reload:3|c")); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(metrics(t, httpAddr), "statsd_agent_lines_received_total 1") {
		if time.Now().After(deadline) {
			t.Fatal("line not received")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	if n := fake.ResultCount(monitistest.DefaultAPIKey); n == 0 {
		t.Errorf("the reloaded Monitis backend delivered nothing:\n%s", stderr.String())
	}
}

// runAgent runs serve with args until the returned stop is called; stop
// returns the agent's log.
func runAgent(t *testing.T, args []string) (stop func() string) {
	t.Helper()
	o, code := parseAgentFlags(args, io.Discard, io.Discard)
	if o == nil {
		t.Fatalf("flags %v: exit %d", args, code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() { done <- serve(ctx, o, io.Discard, &stderr) }()
	return func() string {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, stderr.String())
		}
		return stderr.String()
	}
}

// Netuitive down at shutdown: the posts wait in the state directory's
// spool and reach Netuitive, with their original timestamps, after a
// restart.
func TestNetuitiveOutageAcrossRestart(t *testing.T) {
	fake := netuitivetest.NewServer("KEY")
	defer fake.Close()
	fake.InjectFault(netuitivetest.Fault{Status: 503})
	t.Setenv("NETUITIVE_API_KEY", "KEY")
	state := t.TempDir()
	udpAddr, httpAddr := freePort(t, "udp"), freePort(t, "tcp")
	args := []string{"-udp", udpAddr, "-http", httpAddr, "-flush-interval", "1h", "-backend", "netuitive",
		"-netuitive-url", fake.HTTP.URL + "/ingest", "-state-dir", state, "-netuitive-element-id", "host1"}
	stop := runAgent(t, args)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + httpAddr + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("agent not up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("outage.count:7|c")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for !strings.Contains(metrics(t, httpAddr), "statsd_agent_lines_received_total 1") {
		if time.Now().After(deadline) {
			t.Fatal("line not received")
		}
		time.Sleep(5 * time.Millisecond)
	}
	logs := stop()
	if n := len(fake.Elements()); n != 0 {
		t.Fatalf("%d elements accepted during the outage", n)
	}
	fake.ClearFaults()
	stop = runAgent(t, args)
	// The restarted agent delivers the spooled posts on its next flush: the
	// final one at shutdown.
	logs += stop()
	var found bool
	for _, e := range fake.Elements() {
		for _, s := range e.Samples {
			if strings.Contains(s.MetricID, "outage.count") && s.Val != nil && *s.Val == 7 {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("the sample sent during the outage never arrived; elements %+v\nlogs:\n%s", fake.Elements(), logs)
	}
}
