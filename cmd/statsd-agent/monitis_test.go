package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/flush/monitis/monitistest"
	"github.com/statsd-agent/statsd-agent/netstat"
)

// monitisRun runs the CLI against url with env, a netstat source that
// returns readings in turn, and a clock that advances only when the
// command sleeps.
func monitisRun(t *testing.T, url string, env map[string]string, readings []map[string]uint64, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	now := time.Date(2024, 5, 6, 7, 8, 0, 0, time.UTC)
	i := 0
	cli := &monitisCLI{
		stdout: &out,
		stderr: &errb,
		getenv: func(k string) string { return env[k] },
		netstat: netstat.SourceFunc(func(ctx context.Context) (*netstat.Reading, error) {
			if i >= len(readings) {
				return nil, fmt.Errorf("no more readings")
			}
			r := &netstat.Reading{Counters: readings[i]}
			i++
			return r, nil
		}),
		now:   func() time.Time { return now },
		sleep: func(ctx context.Context, d time.Duration) error { now = now.Add(d); return nil },
	}
	if url != "" {
		args = append([]string{"-url", url}, args...)
	}
	code = cli.run(args)
	return code, out.String(), errb.String()
}

var monitisEnv = map[string]string{
	"MONITIS_APIKEY":    monitistest.DefaultAPIKey,
	"MONITIS_SECRETKEY": monitistest.DefaultSecretKey,
}

func TestMonitisCLI(t *testing.T) {
	srv := monitistest.NewServer(monitistest.Options{})
	defer srv.Close()
	reads := []map[string]uint64{
		{netstat.TCPSegmentsIn: 1000, netstat.TCPSegmentsOut: 500, netstat.UDPDatagramsIn: 10, netstat.UDPDatagramsOut: 7},
		{netstat.TCPSegmentsIn: 1300, netstat.TCPSegmentsOut: 650, netstat.UDPDatagramsIn: 11, netstat.UDPDatagramsOut: 7},
	}
	// Steps share the fake's state; ids start at 1001.
	steps := []struct {
		name     string
		env      map[string]string
		args     []string
		code     int
		stdout   string // exact
		stderrIn string // substring
	}{
		{"list empty", monitisEnv, []string{"list"}, 0, "", ""},
		{"create-netstat", monitisEnv, []string{"create-netstat", "box1 netstat"}, 0, "Created monitor 1001: box1 netstat\n", ""},
		{"create-netstat duplicate", monitisEnv, []string{"create-netstat", "box1 netstat"}, 1, "", `a monitor named "box1 netstat" already exists`},
		{"create custom", monitisEnv, []string{"create", "queue", "-param", "depth:Queue Depth:items:integer", "-param", "age:Oldest:s:4", "-tag", "app"}, 0, "Created monitor 1002: queue\n", ""},
		{"list all", monitisEnv, []string{"list"}, 0, "1001\tbox1 netstat\n1002\tqueue\n", ""},
		{"list by tag, flag after command", monitisEnv, []string{"list", "-tag", "netstat"}, 0, "1001\tbox1 netstat\n", ""},
		{"list other tag", monitisEnv, []string{"list", "-tag", "nope"}, 0, "", ""},
		{"update", monitisEnv, []string{"update", "1001", "-window", "2s"}, 0,
			"Posted to monitor 1001 (pkts/s over 2s): tcp_packets_in=150 tcp_packets_out=75 udp_packets_in=1 udp_packets_out=0\n", ""},
		{"results", monitisEnv, []string{"results", "1001", "-date", "2024-05-06"}, 0,
			"2024-05-06T07:08:02Z\ttcp_packets_in=150\ttcp_packets_out=75\tudp_packets_in=1\tudp_packets_out=0\n", ""},
		{"results other day", monitisEnv, []string{"results", "-date", "2024-05-07", "1001"}, 0, "", ""},
		{"results default today", monitisEnv, []string{"results", "1001"}, 0,
			"2024-05-06T07:08:02Z\ttcp_packets_in=150\ttcp_packets_out=75\tudp_packets_in=1\tudp_packets_out=0\n", ""},
		{"delete", monitisEnv, []string{"delete", "1002"}, 0, "Monitor 1002 deleted\n", ""},
		{"list after delete", monitisEnv, []string{"list"}, 0, "1001\tbox1 netstat\n", ""},

		{"delete unknown ID", monitisEnv, []string{"delete", "4242"}, 1, "", "Monitis refused deleteMonitor: Monitor with id 4242 does not exist"},
		{"update unknown ID", monitisEnv, []string{"update", "4242"}, 1, "", "Monitis refused addResult: Monitor with id 4242 does not exist"},
		{"results unknown ID", monitisEnv, []string{"results", "4242"}, 1, "", "Monitis refused getMonitorResults: Monitor with id 4242 does not exist"},
		{"bad ID", monitisEnv, []string{"delete", "abc"}, 2, "", `invalid monitor ID "abc"`},
		{"missing ID", monitisEnv, []string{"update"}, 2, "", "want exactly one monitor ID"},
		{"bad date", monitisEnv, []string{"results", "1001", "-date", "06/05/2024"}, 2, "", `-date "06/05/2024": want YYYY-MM-DD`},
		{"bad window", monitisEnv, []string{"update", "1001", "-window", "0s"}, 2, "", "-window 0s: must be positive"},
		{"bad param spec", monitisEnv, []string{"create", "x", "-param", "depth:Depth:items"}, 2, "", `"depth:Depth:items": want name:Display Name:uom:type`},
		{"bad param type", monitisEnv, []string{"create", "x", "-param", "depth:Depth:items:double"}, 2, "", `type "double": want 1-4 or boolean, integer, string, float`},
		{"no params", monitisEnv, []string{"create", "x"}, 2, "", "want at least one -param"},
		{"unknown flag", monitisEnv, []string{"list", "-frobnicate"}, 2, "", "flag provided but not defined: -frobnicate"},
		{"extra argument", monitisEnv, []string{"list", "extra"}, 2, "", `unexpected argument "extra"`},
		{"unknown command", monitisEnv, []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"missing keys", map[string]string{}, []string{"list"}, 1, "", "missing keys: set MONITIS_APIKEY and MONITIS_SECRETKEY"},
		{"missing sandbox keys", monitisEnv, []string{"-sandbox", "list"}, 1, "", "set MONITIS_SANDBOX_APIKEY and MONITIS_SANDBOX_SECRETKEY"},
		{"sandbox keys", map[string]string{"MONITIS_SANDBOX_APIKEY": monitistest.DefaultAPIKey, "MONITIS_SANDBOX_SECRETKEY": monitistest.DefaultSecretKey},
			[]string{"list", "-sandbox"}, 0, "1001\tbox1 netstat\n", ""},
		{"wrong secret", map[string]string{"MONITIS_APIKEY": monitistest.DefaultAPIKey, "MONITIS_SECRETKEY": "WRONGSECRETKEY0000000000AB"},
			[]string{"create-netstat", "n2"}, 1, "", "authentication failed (check the keys in MONITIS_APIKEY/MONITIS_SECRETKEY"},
		{"token validation", monitisEnv, []string{"-validation", "token", "create-netstat", "n3"}, 0, "Created monitor 1003: n3\n", ""},
		{"bad validation", monitisEnv, []string{"-validation", "md5", "list"}, 2, "", `validation "md5"`},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, stdout, stderr := monitisRun(t, srv.URL, st.env, reads, st.args...)
			if code != st.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, st.code, stderr)
			}
			if stdout != st.stdout {
				t.Errorf("stdout:\n%q\nwant\n%q", stdout, st.stdout)
			}
			if !strings.Contains(stderr, st.stderrIn) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", stderr, st.stderrIn)
			}
			if st.code == 2 && (!strings.Contains(stderr, "for help use") || strings.Count(stderr, "\n") != 2) {
				t.Errorf("usage error is not one message and a hint:\n%s", stderr)
			}
			if strings.Contains(stderr, "WRONGSECRETKEY") || strings.Contains(stderr, monitistest.DefaultSecretKey) || strings.Contains(stderr, monitistest.DefaultAPIKey) {
				t.Errorf("stderr shows a key:\n%s", stderr)
			}
		})
	}
}

// -v prints requests and responses with the keys, checksum and token
// redacted.
func TestMonitisCLIVerbose(t *testing.T) {
	srv := monitistest.NewServer(monitistest.Options{})
	defer srv.Close()
	for _, v := range []string{"checksum", "token"} {
		code, _, stderr := monitisRun(t, srv.URL, monitisEnv, nil, "-v", "-validation", v, "create-netstat", "n-"+v)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, want := range []string{"-> POST " + srv.URL + "/customMonitorApi", "action=addMonitor", "apikey=[redacted]", `<- HTTP 200 {"data":`} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%s: -v output lacks %q:\n%s", v, want, stderr)
			}
		}
		if strings.Contains(stderr, monitistest.DefaultAPIKey) || strings.Contains(stderr, monitistest.DefaultSecretKey) {
			t.Errorf("%s: -v output shows a key:\n%s", v, stderr)
		}
	}
}

// A netstat source that fails, or lacks a counter, gives a clear error.
func TestMonitisCLIUpdateNetstatErrors(t *testing.T) {
	srv := monitistest.NewServer(monitistest.Options{})
	defer srv.Close()
	if code, _, stderr := monitisRun(t, srv.URL, monitisEnv, nil, "create-netstat", "n"); code != 0 {
		t.Fatal(stderr)
	}
	tests := []struct {
		name  string
		reads []map[string]uint64
		want  string
	}{
		{"no reading", nil, "reading the netstat counters: no more readings"},
		{"missing counter", []map[string]uint64{{netstat.TCPSegmentsIn: 1}}, "this system does not provide tcp.segments_out"},
		{"backwards", []map[string]uint64{
			{netstat.TCPSegmentsIn: 10, netstat.TCPSegmentsOut: 1, netstat.UDPDatagramsIn: 1, netstat.UDPDatagramsOut: 1},
			{netstat.TCPSegmentsIn: 5, netstat.TCPSegmentsOut: 1, netstat.UDPDatagramsIn: 1, netstat.UDPDatagramsOut: 1}}, "went backwards (10 -> 5)"},
	}
	for _, tt := range tests {
		code, _, stderr := monitisRun(t, srv.URL, monitisEnv, tt.reads, "update", "1001")
		if code != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", tt.name, code, stderr, tt.want)
		}
	}
	if n := srv.ResultCount(monitistest.DefaultAPIKey); n != 0 {
		t.Errorf("%d results posted", n)
	}
}

func TestMonitisCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}} {
		code, stdout, stderr := monitisRun(t, "", monitisEnv, nil, args...)
		if code != 0 || !strings.Contains(stdout+stderr, "create-netstat NAME") {
			t.Errorf("%v: exit %d, output %q", args, code, stdout+stderr)
		}
	}
	code, _, stderr := monitisRun(t, "", monitisEnv, nil)
	if code != 2 || !strings.Contains(stderr, "missing command") {
		t.Errorf("no args: exit %d, %q", code, stderr)
	}
	code, _, stderr = monitisRun(t, "", monitisEnv, nil, "list", "-h")
	if code != 0 || !strings.Contains(stderr, "usage: statsd-agent monitis list") {
		t.Errorf("list -h: exit %d, %q", code, stderr)
	}
	// The real entry point, with a key in the environment: never printed.
	var out, errb bytes.Buffer
	if code := runMonitis([]string{"help"}, &out, &errb, func(string) string { return "SECRETVALUE" }); code != 0 || strings.Contains(out.String(), "SECRETVALUE") {
		t.Errorf("runMonitis help: %d %q", code, out.String())
	}
}
