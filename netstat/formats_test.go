package netstat

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var freebsdJSONSample = func() string {
	b, err := os.ReadFile("testdata/freebsd-libxo-constructed.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

// TestParseCases covers behaviour the captured fixtures do not show, one
// small hand-written input per line.
func TestParseCases(t *testing.T) {
	cases := []struct {
		name string
		fixtureCase
		input string
	}{
		// /proc layout
		{name: "proc: repeated IcmpMsg sections merge", input: "IcmpMsg: InType3 InType8\nIcmpMsg: 5 6\nIcmpMsg: OutType0\nIcmpMsg: 7\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, raw: map[string]uint64{"IcmpMsg.InType3": 5, "IcmpMsg.InType8": 6, "IcmpMsg.OutType0": 7}}},
		{name: "proc: fields mapped by name in any order", input: "Udp: OutDatagrams NewField InDatagrams\nUdp: 9 1 4\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, counters: map[string]uint64{UDPDatagramsIn: 4, UDPDatagramsOut: 9}, raw: map[string]uint64{"Udp.NewField": 1}, absent: []string{UDPNoPorts}}},
		{name: "proc: count mismatch drops that section only", input: "Tcp: InSegs OutSegs\nTcp: 1 2 3\nUdp: InDatagrams\nUdp: 4\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, partial: true, counters: map[string]uint64{UDPDatagramsIn: 4}, absent: []string{TCPSegmentsIn, TCPSegmentsOut},
				warnHas: []string{"section Tcp: 2 names but 3 values"}}},
		{name: "proc: header without values (truncated)", input: "Udp: InDatagrams\nUdp: 4\nTcp: InSegs OutSegs\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, partial: true, counters: map[string]uint64{UDPDatagramsIn: 4}, warnHas: []string{"section Tcp: header line without a value line"}}},
		{name: "proc: header followed by another section", input: "Tcp: InSegs\nUdp: InDatagrams\nUdp: 4\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, partial: true, counters: map[string]uint64{UDPDatagramsIn: 4}, absent: []string{TCPSegmentsIn}, warnHas: []string{"section Tcp: header line without a value line"}}},
		{name: "proc: value line without header", input: "Tcp: 1 2\nUdp: InDatagrams\nUdp: 4\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, partial: true, counters: map[string]uint64{UDPDatagramsIn: 4}, warnHas: []string{"section Tcp: value line without a header line"}}},
		{name: "proc: non-number value drops the section", input: "Tcp: InSegs OutSegs\nTcp: 1 x2\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, errIs: ErrMalformed, errHas: []string{`section Tcp: value "x2" of OutSegs is not a number`}}},
		{name: "proc: negative constant skipped", input: "Tcp: MaxConn InSegs\nTcp: -1 8\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, counters: map[string]uint64{TCPSegmentsIn: 8}}},
		{name: "proc: counter above 2^63", input: "IpExt: InOctets\nIpExt: 18446744073709551615\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, counters: map[string]uint64{IPOctetsIn: 18446744073709551615}}},
		{name: "proc: counter above 2^64 is malformed", input: "IpExt: InOctets\nIpExt: 18446744073709551616\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, errIs: ErrMalformed}},
		{name: "proc: conflicting duplicate warns, keeps last", input: "Tcp: InSegs\nTcp: 1\nTcp: InSegs\nTcp: 2\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, counters: map[string]uint64{TCPSegmentsIn: 2}, warnHas: []string{"Tcp.InSegs appears twice"}}},
		{name: "proc: empty input", input: "",
			fixtureCase: fixtureCase{format: FormatLinuxProc, errIs: ErrNoData}},
		{name: "snmp6: tabs, spaces, CRLF", input: "Udp6InDatagrams \t 5\r\nUdp6OutDatagrams 6\r\n",
			fixtureCase: fixtureCase{format: FormatLinuxProc, counters: map[string]uint64{UDP6DatagramsIn: 5, UDP6DatagramsOut: 6}}},

		// net-tools
		{name: "net-tools: old wording", input: "Tcp:\n    1648 active connections openings\n    1525 passive connection openings\n    105 failed connection attempts\n    69 connection resets received\n    139 connections established\n    2886370 segments received\n    2890303 segments send out\n    428 segments retransmited\n    0 bad segments received.\n    212 resets sent\nUdp:\n    4901 packets received\n    107 packets to unknown port received.\n    0 packet receive errors\n    1793 packets sent\nTcpExt:\n    4 SYNs to LISTEN sockets ignored\n",
			fixtureCase: fixtureCase{format: FormatLinuxNetTools,
				counters: map[string]uint64{TCPActiveOpens: 1648, TCPPassiveOpens: 1525, TCPAttemptFails: 105, TCPEstabResets: 69, TCPSegmentsIn: 2886370, TCPSegmentsOut: 2890303, TCPRetransmits: 428, TCPInErrors: 0, TCPResetsOut: 212,
					TCPChecksumErrors: 0,                                                                // Tcp complete: InCsumErrors omitted because zero
					UDPDatagramsIn:    4901, UDPNoPorts: 107, UDPDatagramsOut: 1793, UDPRcvbufErrors: 0, // old net-tools had no rcvbuf line: zero-filled
					TCPListenDrops: 4},
				gauges: map[string]float64{TCPEstablished: 139},
				// TcpExt is the last section, so not provably complete: no zero-fill.
				absent: []string{TCPListenOverflows}}},
		{name: "net-tools: InCsumErrors printed as Name: value", input: "Tcp:\n    1 active connection openings\n    2 passive connection openings\n    0 failed connection attempts\n    0 connection resets received\n    0 connections established\n    5 segments received\n    6 segments sent out\n    0 segments retransmitted\n    14 bad segments received\n    0 resets sent\n    InCsumErrors: 14\nUdp:\n",
			fixtureCase: fixtureCase{format: FormatLinuxNetTools, counters: map[string]uint64{TCPChecksumErrors: 14, TCPInErrors: 14}}},
		{name: "net-tools: truncated section is not zero-filled", input: "Tcp:\n    1 active connection openings\n    2 passive connection openings\nUdp:\n    4 packets received\n",
			fixtureCase: fixtureCase{format: FormatLinuxNetTools, partial: true, counters: map[string]uint64{TCPActiveOpens: 1, UDPDatagramsIn: 4},
				absent: []string{TCPChecksumErrors, TCPSegmentsIn, UDPNoPorts}, warnHas: []string{`section Tcp: "InSegs" missing`}}},
		{name: "net-tools: histogram entries are not counters", input: "Icmp:\n    3 ICMP messages received\n    ICMP input histogram:\n        echo requests: 3\n    0 ICMP messages sent\n",
			fixtureCase: fixtureCase{format: FormatLinuxNetTools, counters: map[string]uint64{ICMPMsgsIn: 3, ICMPMsgsOut: 0}, raw: map[string]uint64{"Icmp.ICMP input histogram.echo requests": 3}}},
		{name: "net-tools: old static lines are not errors", input: "Ip:\n    Forwarding is disabled.\n    5 total packets received\n    0 forwarded\n    0 incoming packets discarded\n    5 incoming packets delivered\n    4 requests sent out\nTcp:\n    RTO algorithm is vanj\n    3 active connections openings\n",
			fixtureCase: fixtureCase{format: FormatLinuxNetTools, counters: map[string]uint64{IPPacketsIn: 5, TCPActiveOpens: 3}}},
		{name: "net-tools: nothing readable", input: "netstat: no support for `AF INET (tcp)' on this system.\n",
			fixtureCase: fixtureCase{format: FormatLinuxNetTools, errIs: ErrNoData, errHas: []string{"no support"}}},

		// BSD text
		{name: "darwin: singular and plural are one key", input: "tcp:\n\t1 packet sent\n\t2 packets received\n\t\t1 data packet (4 bytes) retransmitted\n",
			fixtureCase: fixtureCase{format: FormatDarwin, counters: map[string]uint64{TCPSegmentsOut: 1, TCPSegmentsIn: 2, TCPRetransmits: 1}}},
		{name: "bsd: data before any header", input: "1 packets sent\ntcp:\n\t2 packets received\n",
			fixtureCase: fixtureCase{format: FormatBSD, partial: true, counters: map[string]uint64{TCPSegmentsIn: 2}, absent: []string{TCPSegmentsOut}, warnHas: []string{"before any protocol header"}}},
		{name: "freebsd: established gauge from connection counts", input: "tcp:\n\t7 packets sent\nTCP connection count by state:\n\t0 connections in CLOSED state\n\t41 connections in ESTABLISHED state\nudp:\n\t3 delivered\n",
			fixtureCase: fixtureCase{format: FormatFreeBSD, counters: map[string]uint64{TCPSegmentsOut: 7, UDPDatagramsIn: 3}, gauges: map[string]float64{TCPEstablished: 41}}},
		{name: "bsd: no section at all", input: "hello\n",
			fixtureCase: fixtureCase{format: FormatBSD, errIs: ErrNoData}},

		// Solaris
		{name: "solaris: MIB names to /proc names", input: "\nTCP     tcpRtoAlgorithm     =     4     tcpRtoMin           =   400\n        tcpInSegs           =  9000     tcpOutSegs          =  8000\n        tcpCurrEstab        =     3     tcpMaxConn          =    -1\nUDP     udpInDatagrams      =  5     udpOutDatagrams     =  6\n",
			fixtureCase: fixtureCase{format: FormatSolaris, counters: map[string]uint64{TCPSegmentsIn: 9000, TCPSegmentsOut: 8000, UDPDatagramsIn: 5, UDPDatagramsOut: 6},
				gauges: map[string]float64{TCPEstablished: 3}, raw: map[string]uint64{"Tcp.RtoMin": 400}}},
		{name: "solaris: garbage between pairs", input: "tcpInSegs = 5 12 tcpOutSegs = 6\ntcpActiveOpens = 1\n",
			fixtureCase: fixtureCase{format: FormatSolaris, partial: true, counters: map[string]uint64{TCPActiveOpens: 1}, absent: []string{TCPSegmentsIn}, warnHas: []string{"unreadable text between pairs"}}},

		// FreeBSD libxo JSON (constructed from FreeBSD's inet.c field names)
		{name: "freebsd json", input: freebsdJSONSample,
			fixtureCase: fixtureCase{format: FormatFreeBSDJSON,
				counters: map[string]uint64{TCPSegmentsOut: 6878757, TCPSegmentsIn: 7402898, TCPRetransmits: 158547, TCPActiveOpens: 472655, TCPPassiveOpens: 3573, TCPAttemptFails: 352030,
					TCPEstabResets: 35378, TCPInErrors: 12, TCPChecksumErrors: 3, TCPListenOverflows: 21, TCPTimeouts: 262235, TCPSyncookiesSent: 7, TCPSyncookiesRecv: 6,
					UDPDatagramsIn: 391298, UDPDatagramsOut: 392366, UDPNoPorts: 13567, UDPChecksumErrors: 20, UDPRcvbufErrors: 0, UDPInErrors: 20},
				gauges: map[string]float64{TCPEstablished: 41}}},
		{name: "freebsd json: not JSON", input: "tcp:\n\t1 packet sent\n",
			fixtureCase: fixtureCase{format: FormatFreeBSDJSON, errIs: ErrMalformed}},
		{name: "freebsd json: fraction is not a counter", input: `{"statistics":{"tcp":{"sent-packets":1.5,"received-packets":4}}}`,
			fixtureCase: fixtureCase{format: FormatFreeBSDJSON, partial: true, counters: map[string]uint64{TCPSegmentsIn: 4}, absent: []string{TCPSegmentsOut}, warnHas: []string{"tcp.sent-packets"}}},

		{name: "unknown format", input: "x",
			fixtureCase: fixtureCase{format: "windows", errIs: ErrUnknownFormat}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(tc.format, []byte(tc.input))
			checkCase(t, tc.fixtureCase, r, err)
		})
	}
}

// TestNetToolsMatchesProc parses two captures of one machine taken within a
// minute, /proc and `netstat -s`: every documented name both give must agree.
func TestNetToolsMatchesProc(t *testing.T) {
	snmp, _ := os.ReadFile("testdata/debian12-k6.18-snmp.txt")
	nst, _ := os.ReadFile("testdata/debian12-k6.18-netstat.txt")
	text, _ := os.ReadFile("testdata/debian12-nettools2.10-k6.18.txt")
	proc, err := ParseLinuxProc(snmp, nst)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := ParseNetTools(text)
	if err != nil {
		t.Fatal(err)
	}
	common := 0
	for name, pv := range proc.Counters {
		tv, ok := tools.Counters[name]
		if !ok {
			continue
		}
		common++
		if tv != pv {
			t.Errorf("%s: /proc %d, net-tools %d", name, pv, tv)
		}
	}
	if common < 25 {
		t.Errorf("only %d names in common", common)
	}
	for _, name := range []string{TCPSegmentsIn, TCPSegmentsOut, UDPDatagramsIn, UDPDatagramsOut} {
		if _, ok := tools.Counters[name]; !ok {
			t.Errorf("Monitis value %s missing from net-tools", name)
		}
	}
}

func TestProcDirAndFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ParseProcDir(dir); !errors.Is(err, ErrNoData) {
		t.Errorf("empty dir: err = %v", err)
	}
	data, _ := os.ReadFile("testdata/debian12-k6.18-snmp.txt")
	if err := os.WriteFile(filepath.Join(dir, "snmp"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ParseFile(dir, FormatLinuxProc)
	if err != nil || r.Counters[TCPSegmentsIn] != 653 {
		t.Fatalf("dir: %v %v", r, err)
	}
	r, err = ParseFile(filepath.Join(dir, "snmp"), FormatLinuxProc)
	if err != nil || r.Counters[TCPSegmentsIn] != 653 {
		t.Fatalf("file: %v %v", r, err)
	}
	if _, err := ParseFile(filepath.Join(dir, "missing"), FormatDarwin); err == nil {
		t.Error("missing file accepted")
	}
}

func TestProcSource(t *testing.T) {
	root := t.TempDir()
	if _, err := (ProcSource{Root: root}).Read(context.Background()); err == nil {
		t.Error("missing snmp accepted")
	}
	if err := os.Mkdir(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile("testdata/debian12-k6.18-snmp.txt")
	if err := os.WriteFile(filepath.Join(root, "net", "snmp"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := ProcSource{Root: root}.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Counters[TCPSegmentsIn] != 653 || r.Partial {
		t.Errorf("reading %+v", r)
	}
	if !strings.Contains(strings.Join(r.Warnings, ""), "TcpExt and IpExt counters unavailable") {
		t.Errorf("missing netstat file not reported: %q", r.Warnings)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (ProcSource{Root: root}).Read(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: %v", err)
	}
}

func TestLiveSystem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("live /proc test runs on Linux")
	}
	if _, err := os.Stat("/proc/net/snmp"); err != nil {
		t.Skip("no /proc/net/snmp here")
	}
	r, err := Read(context.Background(), System(""))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{TCPSegmentsIn, TCPSegmentsOut, UDPDatagramsIn, UDPDatagramsOut} {
		if _, ok := r.Counters[name]; !ok {
			t.Errorf("%s missing from the live reading", name)
		}
	}
	if r.Partial {
		t.Errorf("live reading partial: %q", r.Warnings)
	}
}

// TestHelperNetstat is not a test: it is the fake netstat command that
// TestCommandSource runs (os.Args[0] with NETSTAT_HELPER set).
func TestHelperNetstat(t *testing.T) {
	mode := os.Getenv("NETSTAT_HELPER")
	if mode == "" {
		t.Skip("helper process only")
	}
	switch mode {
	case "print":
		if os.Getenv("LC_ALL") != "C" || os.Getenv("LANG") != "" {
			os.Stderr.WriteString("locale not C")
			os.Exit(3)
		}
		args := strings.Join(os.Args[len(os.Args)-3:], " ")
		switch args {
		case "-s -p tcp":
			os.Stdout.WriteString("tcp:\n\t10 packets sent\n\t20 packets received")
		case "-s -p udp":
			os.Stdout.WriteString("udp:\n\t5 delivered\n\t6 datagrams output\n")
		default:
			os.Stderr.WriteString("bad args " + args)
			os.Exit(4)
		}
	case "fail":
		os.Stderr.WriteString("netstat: kvm_openfiles: permission denied\n")
		os.Exit(1)
	case "hang":
		time.Sleep(time.Minute) // killed by the source's timeout
	}
	os.Exit(0)
}

func helperSource(t *testing.T, mode string, runs [][]string) *CommandSource {
	t.Helper()
	t.Setenv("NETSTAT_HELPER", mode)
	t.Setenv("LANG", "de_DE.UTF-8")
	var full [][]string
	for _, r := range runs {
		full = append(full, append([]string{"-test.run=^TestHelperNetstat$", "--"}, r...))
	}
	return &CommandSource{Path: os.Args[0], Runs: full, Format: FormatDarwin, Timeout: 5 * time.Second}
}

func TestCommandSource(t *testing.T) {
	if _, err := exec.LookPath(os.Args[0]); err != nil && !filepath.IsAbs(os.Args[0]) {
		t.Skip("test binary not runnable")
	}
	src := helperSource(t, "print", [][]string{{"-s", "-p", "tcp"}, {"-s", "-p", "udp"}})
	r, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{TCPSegmentsOut: 10, TCPSegmentsIn: 20, UDPDatagramsIn: 5, UDPDatagramsOut: 6}
	for k, v := range want {
		if r.Counters[k] != v {
			t.Errorf("%s = %d, want %d", k, r.Counters[k], v)
		}
	}
	if r.Width != 32 || r.Partial {
		t.Errorf("width %d partial %v", r.Width, r.Partial)
	}

	_, err = helperSource(t, "fail", [][]string{{"-s"}}).Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("failing command: %v", err)
	}

	hang := helperSource(t, "hang", [][]string{{"-s"}})
	hang.Timeout = 100 * time.Millisecond
	_, err = hang.Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("hanging command: %v", err)
	}

	missing := &CommandSource{Path: filepath.Join(t.TempDir(), "netstat"), Runs: [][]string{{"-s"}}, Format: FormatBSD}
	if _, err := missing.Read(context.Background()); err == nil {
		t.Error("missing command accepted")
	}
}

func TestCEnv(t *testing.T) {
	got := cEnv([]string{"PATH=/bin", "LANG=de_DE.UTF-8", "LC_NUMERIC=de_DE", "LANGUAGE=de", "HOME=/root"})
	want := "PATH=/bin HOME=/root LC_ALL=C"
	if strings.Join(got, " ") != want {
		t.Errorf("cEnv = %q, want %q", got, want)
	}
}

func TestSystemFor(t *testing.T) {
	for goos, format := range map[string]string{"darwin": FormatDarwin, "freebsd": FormatFreeBSD, "solaris": FormatSolaris, "openbsd": FormatBSD, "aix": FormatBSD} {
		cs, ok := systemFor(goos, "").(*CommandSource)
		if !ok || cs.Format != format {
			t.Errorf("%s: %#v", goos, systemFor(goos, ""))
		}
	}
	if _, ok := systemFor("linux", "/host/proc/1").(ProcSource); !ok {
		t.Error("linux with a proc root must read /proc only")
	}
}

func TestLinuxFallback(t *testing.T) {
	empty := ProcSource{Root: t.TempDir()}
	text, err := os.ReadFile("testdata/debian12-nettools2.10-k6.18.txt")
	if err != nil {
		t.Fatal(err)
	}
	tools := SourceFunc(func(context.Context) (*Reading, error) { return ParseNetTools(text) })
	r, err := withFallback(empty, tools).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Format != FormatLinuxNetTools || r.Counters[TCPSegmentsIn] != 653 {
		t.Errorf("fallback reading: %s %v", r.Format, r.Counters)
	}
	if !strings.Contains(strings.Join(r.Warnings, ""), "because /proc failed") {
		t.Errorf("fallback not reported: %q", r.Warnings)
	}
	broken := SourceFunc(func(context.Context) (*Reading, error) { return nil, errors.New("exec: netstat: not found") })
	if _, err := withFallback(empty, broken).Read(context.Background()); err == nil ||
		!strings.Contains(err.Error(), "snmp") || !strings.Contains(err.Error(), "not found") {
		t.Errorf("both failing: %v", err)
	}
	// Bad content in /proc is not a reason to run netstat.
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "net", "snmp"), []byte("Tcp: A B\nTcp: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := withFallback(ProcSource{Root: root}, tools).Read(context.Background()); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed /proc: err = %v, want ErrMalformed", err)
	}
}
