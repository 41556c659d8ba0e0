package netstat

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureDir is the shared fixture tree, relative to this package.
const fixtureDir = "../../shared/fixtures/netstat"

// fixtureCase is one captured file and what parsing it must give. Values
// were read off the files by hand (or by a separate script for the long
// /proc lines), not copied from the parser's output.
type fixtureCase struct {
	file     string // under fixtureDir
	format   string
	errIs    error    // the parse must fail with this error
	errHas   []string // ...and these substrings
	partial  bool
	counters map[string]uint64
	gauges   map[string]float64
	raw      map[string]uint64
	absent   []string // documented names that must not be present
	warnHas  []string // substrings that must appear in the warnings
}

var fixtureCases = []fixtureCase{
	// linux-proc
	{file: "linux-proc/debian12-k6.18-snmp.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPSegmentsIn: 653, TCPSegmentsOut: 482, TCPActiveOpens: 16, TCPPassiveOpens: 2, TCPResetsOut: 2, TCPRetransmits: 0,
			UDPDatagramsIn: 30, UDPDatagramsOut: 31, IPPacketsIn: 684, IPPacketsOut: 507, ICMPMsgsIn: 1},
		gauges: map[string]float64{TCPEstablished: 0},
		raw:    map[string]uint64{"Ip.OutTransmits": 507, "IcmpMsg.InType3": 1, "Udp.MemErrors": 0, "Icmp.OutRateLimitHost": 0, "Tcp.RtoMax": 120000},
		absent: []string{TCPTimeouts, IP6PacketsIn}},
	{file: "linux-proc/debian12-k6.18-netstat.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPTimeouts: 2, IPOctetsIn: 18730323, IPOctetsOut: 47300, TCPListenOverflows: 0},
		raw:      map[string]uint64{"TcpExt.TW": 14, "TcpExt.PAWSOldAck": 0, "TcpExt.TCPRcvCoalesce": 394, "MPTcpExt.MPCapableSYNRX": 0},
		absent:   []string{TCPSegmentsIn}},
	{file: "linux-proc/debian12-k6.18-snmp6.txt", format: FormatLinuxProc,
		counters: map[string]uint64{IP6PacketsIn: 1, IP6PacketsOut: 10, ICMP6MsgsIn: 1, ICMP6MsgsOut: 9, UDP6DatagramsIn: 0}},
	{file: "linux-proc/node_exporter-2015-snmp.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPSegmentsIn: 57252008, TCPSegmentsOut: 54915039, TCPRetransmits: 227, TCPActiveOpens: 3556, TCPPassiveOpens: 230,
			TCPAttemptFails: 341, TCPEstabResets: 161, TCPInErrors: 5, TCPResetsOut: 1003, UDPDatagramsIn: 88542, UDPDatagramsOut: 53028, UDPNoPorts: 120,
			IPForwarded: 397750, IPOutNoRoutes: 54},
		raw: map[string]uint64{"IcmpMsg.OutType3": 120}},
	{file: "linux-proc/node_exporter-2015-netstat.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPTimeouts: 115, IPOctetsIn: 6286396970, IPOctetsOut: 2786264347, TCPSyncookiesFailed: 2},
		raw:      map[string]uint64{"TcpExt.TW": 388812}},
	{file: "linux-proc/node_exporter-2017-snmp6.txt", format: FormatLinuxProc,
		counters: map[string]uint64{IP6PacketsIn: 7, IP6PacketsOut: 8, ICMP6MsgsOut: 8}},
	{file: "linux-proc/procfs-pid26231-snmp.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPSegmentsIn: 653161, TCPSegmentsOut: 594855, TCPRetransmits: 348, TCPInErrors: 98, UDPDatagramsIn: 10179, UDPDatagramsOut: 9846, UDPNoPorts: 50},
		gauges:   map[string]float64{TCPEstablished: 15},
		raw:      map[string]uint64{"Udp.IgnoredMulti": 58}},
	{file: "linux-proc/procfs-pid26231-netstat.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPTimeouts: 32, IPOctetsIn: 190585481, IPOctetsOut: 7512674},
		raw:      map[string]uint64{"TcpExt.TW": 83}},
	{file: "linux-proc/procfs-pid26231-snmp6.txt", format: FormatLinuxProc,
		counters: map[string]uint64{IP6PacketsIn: 92166, IP6PacketsOut: 57502, UDP6DatagramsIn: 2016, UDP6DatagramsOut: 1546, ICMP6MsgsIn: 142}},
	{file: "linux-proc/datadog-snmp.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPSegmentsIn: 141376444, TCPSegmentsOut: 163729357, TCPRetransmits: 2763, TCPActiveOpens: 6828054, TCPEstabResets: 761431,
			UDPDatagramsIn: 18367763, UDPDatagramsOut: 18368618, UDPNoPorts: 707, IPOutDiscards: 613},
		gauges: map[string]float64{TCPEstablished: 59},
		raw:    map[string]uint64{"IcmpMsg.InType3": 707, "IcmpMsg.InType11": 23, "IcmpMsg.OutType11": 23}},
	{file: "linux-proc/datadog-netstat.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPTimeouts: 621, IPOctetsIn: 117375621699, IPOctetsOut: 141530061960},
		raw:      map[string]uint64{"TcpExt.TW": 3959869}},
	{file: "linux-proc/diamond-old-kernel-snmp.txt", format: FormatLinuxProc,
		counters: map[string]uint64{IPPacketsIn: 148106737524, TCPSegmentsIn: 147752838797, TCPSegmentsOut: 20308565168, TCPRetransmits: 129223,
			UDPDatagramsIn: 352320636, UDPDatagramsOut: 352353358, UDPNoPorts: 449, ICMPErrorsIn: 39},
		gauges: map[string]float64{TCPEstablished: 3},
		absent: []string{TCPChecksumErrors, UDPRcvbufErrors, UDPSndbufErrors, UDPChecksumErrors}},
	{file: "linux-proc/diamond-old-kernel-netstat.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPTimeouts: 15265, IPOctetsIn: 4776296252, IPOctetsOut: 123042466248},
		raw:      map[string]uint64{"TcpExt.TW": 89479, "IpExt.OutBcastOctets": 0},
		warnHas:  []string{"no newline at end"}},
	{file: "linux-proc/diamond-snmp6-space-separated.txt", format: FormatLinuxProc,
		counters: map[string]uint64{IP6PacketsIn: 107795245, IP6PacketsOut: 106362739, UDP6DatagramsIn: 1746498, UDP6DatagramsOut: 1786775, UDP6NoPorts: 40277}},
	{file: "linux-proc/pcp-k2.6.32-snmp.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPSegmentsIn: 118656, TCPSegmentsOut: 137778, TCPRetransmits: 773, UDPDatagramsIn: 76584, UDPDatagramsOut: 76586, IPForwarded: 133866},
		gauges:   map[string]float64{TCPEstablished: 10},
		absent:   []string{TCPChecksumErrors, UDPChecksumErrors}},
	{file: "linux-proc/pcp-k2.6.32-snmp6.txt", format: FormatLinuxProc,
		counters: map[string]uint64{IP6PacketsIn: 20912, IP6PacketsOut: 84, ICMP6MsgsIn: 3, ICMP6MsgsOut: 80},
		absent:   []string{UDP6RcvbufErrors, UDP6ChecksumErrors}},
	{file: "linux-proc/pcp-k3.19.0-snmp6.txt", format: FormatLinuxProc,
		counters: map[string]uint64{IP6PacketsIn: 13460884, IP6PacketsOut: 13915185, UDP6DatagramsIn: 481081, UDP6DatagramsOut: 481085, UDP6NoPorts: 4, ICMP6MsgsOut: 502234}},
	{file: "linux-proc/pcp-2020-mptcp-netstat.txt", format: FormatLinuxProc,
		counters: map[string]uint64{TCPListenOverflows: 17, TCPListenDrops: 17, TCPSyncookiesSent: 2, TCPSyncookiesRecv: 2, TCPTimeouts: 13851, IPOctetsIn: 45756714199},
		raw:      map[string]uint64{"TcpExt.TW": 17471, "MPTcpExt.MPCapableSYNRX": 2}},
	// Synthetic 1, 2, 3... values: checks that every value lands on its
	// header name (column i holds i).
	{file: "linux-proc/pcp-centos-stream9-k5.14.0-snmp-seqvalues.txt", format: FormatLinuxProc,
		counters: map[string]uint64{IPPacketsIn: 3, IPForwarded: 6, IPDelivered: 9, IPPacketsOut: 10, IPOutNoRoutes: 12,
			ICMPMsgsIn: 1, ICMPErrorsIn: 2, ICMPMsgsOut: 15, ICMPErrorsOut: 16,
			TCPActiveOpens: 5, TCPPassiveOpens: 6, TCPAttemptFails: 7, TCPEstabResets: 8, TCPSegmentsIn: 10, TCPSegmentsOut: 11, TCPRetransmits: 12, TCPInErrors: 13, TCPResetsOut: 14, TCPChecksumErrors: 15,
			UDPDatagramsIn: 1, UDPNoPorts: 2, UDPInErrors: 3, UDPDatagramsOut: 4, UDPRcvbufErrors: 5, UDPSndbufErrors: 6, UDPChecksumErrors: 7},
		gauges: map[string]float64{TCPEstablished: 9},
		raw:    map[string]uint64{"Ip.Forwarding": 1, "Icmp.OutRateLimitGlobal": 17, "Icmp.OutRateLimitHost": 18, "Icmp.OutAddrMaskReps": 29, "Udp.MemErrors": 9, "UdpLite.MemErrors": 9, "IcmpMsg.OutType3": 1}},
	// Malformed on purpose: both sections have one more value than names.
	{file: "linux-proc/insights-core-malformed-netstat-header-value-mismatch.txt", format: FormatLinuxProc,
		errIs: ErrMalformed, errHas: []string{"section TcpExt: 112 names but 113 values", "section IpExt: 17 names but 18 values"}},
	// Malformed on purpose: the last line has no value.
	{file: "linux-proc/insights-core-malformed-snmp6-missing-value.txt", format: FormatLinuxProc, partial: true,
		counters: map[string]uint64{IP6PacketsIn: 757},
		raw:      map[string]uint64{"Ip6InHdrErrors": 0, "Icmp6InType130": 28, "Icmp6InType134": 62},
		absent:   []string{IP6PacketsOut},
		warnHas:  []string{`"Ip6InDiscards": want a name and a value`}},

	// linux-nettools
	{file: "linux-nettools/debian12-nettools2.10-k6.18.txt", format: FormatLinuxNetTools,
		counters: map[string]uint64{TCPSegmentsIn: 653, TCPSegmentsOut: 482, TCPActiveOpens: 16, TCPPassiveOpens: 2, TCPResetsOut: 2, TCPRetransmits: 0,
			UDPDatagramsIn: 30, UDPDatagramsOut: 31, IPPacketsIn: 684, IPPacketsOut: 507, IPDelivered: 684, ICMPMsgsIn: 1,
			TCPTimeouts: 2, IPOctetsIn: 18730323, IPOctetsOut: 47300,
			// Not printed by net-tools because zero; the sections are complete.
			TCPChecksumErrors: 0, UDPChecksumErrors: 0, TCPListenOverflows: 0},
		gauges: map[string]float64{TCPEstablished: 0},
		raw:    map[string]uint64{"Ip.OutTransmits": 507, "Ip.Forwarding": 2, "IcmpMsg.InType3": 1, "TcpExt.TW": 14, "TcpExt.TCPRcvCoalesce": 394, "TcpExt.TCPAbortOnData": 1}},
	// Partly hand-made: net-tools' error line, then a truncated Ip section
	// ending in an invented line.
	{file: "linux-nettools/insights-core-malformed-error-and-garbage-line.txt", format: FormatLinuxNetTools, partial: true,
		counters: map[string]uint64{IPPacketsIn: 6440, IPForwarded: 0, IPInDiscards: 0, IPDelivered: 6437, IPPacketsOut: 4777},
		raw:      map[string]uint64{"Ip.InAddrErrors": 3},
		absent:   []string{TCPSegmentsIn, IPOutDiscards},
		warnHas:  []string{"error parsing /proc/net/netstat", "three hundred and eighty eight packets glanced at"}},

	// darwin
	{file: "darwin/stripchart-osx-2014-tcp.txt", format: FormatDarwin,
		counters: map[string]uint64{TCPSegmentsOut: 6878757, TCPSegmentsIn: 7402898, TCPRetransmits: 158547, TCPActiveOpens: 472655, TCPPassiveOpens: 3573,
			TCPAttemptFails: 352030, TCPEstabResets: 35378, TCPListenOverflows: 21, TCPTimeouts: 262235, TCPChecksumErrors: 0, TCPInErrors: 0},
		raw:    map[string]uint64{"tcp: N window probe packet": 16, "tcp: # data packet ( N byte ) retransmitted": 106210357},
		absent: []string{UDPDatagramsIn, TCPEstablished}},
	{file: "darwin/datadog-macos-tcp-all-zero-singular.txt", format: FormatDarwin,
		counters: map[string]uint64{TCPSegmentsOut: 0, TCPSegmentsIn: 0, TCPRetransmits: 0, TCPActiveOpens: 0, TCPPassiveOpens: 0, TCPAttemptFails: 0,
			TCPEstabResets: 0, TCPListenOverflows: 0, TCPTimeouts: 0, TCPInErrors: 0},
		raw:     map[string]uint64{"tcp: N time tfo got disabled due to heuristicsn": 0, "tcp: N timer drift greater than to # ms": 0},
		warnHas: []string{"no newline at end"}},
	// Truncated by its author after "listen queue overflows", then dots.
	{file: "darwin/marikannan-osx-2015-truncated.txt", format: FormatDarwin, partial: true,
		counters: map[string]uint64{TCPSegmentsOut: 48491, TCPSegmentsIn: 50096, TCPRetransmits: 109, TCPActiveOpens: 1807, TCPPassiveOpens: 175, TCPListenOverflows: 0},
		absent:   []string{TCPAttemptFails, TCPEstabResets, TCPTimeouts},
		warnHas:  []string{`".............." has no number`}},

	// freebsd
	{file: "freebsd/pdns-issue1986-freebsd-udp.txt", format: FormatFreeBSD,
		counters: map[string]uint64{UDPDatagramsIn: 391298, UDPDatagramsOut: 392366, UDPNoPorts: 13567, UDPChecksumErrors: 20, UDPRcvbufErrors: 0, UDPInErrors: 20},
		raw:      map[string]uint64{"udp: N datagram received": 404885, "udp: N with no checksum": 777},
		absent:   []string{TCPSegmentsIn}},

	// other
	{file: "other/genieparser-junos-show-system-statistics.txt", format: FormatBSD,
		counters: map[string]uint64{TCPSegmentsOut: 265063785, TCPSegmentsIn: 568914028, TCPRetransmits: 106366, TCPActiveOpens: 12181850, TCPPassiveOpens: 1258,
			TCPAttemptFails: 12177708, TCPEstabResets: 438, TCPChecksumErrors: 1054, TCPTimeouts: 7925644,
			UDPDatagramsIn: 86615318, UDPDatagramsOut: 98245187, UDPNoPorts: 13553, UDPRcvbufErrors: 26, UDPInErrors: 26,
			IPPacketsIn: 791039285, IPDelivered: 820964812, IPPacketsOut: 894567482},
		raw:     map[string]uint64{"tcp: # ack ( for N byte )": 50912129, "icmp: output histogram: N echo reply": 18108704},
		warnHas: []string{`"show system statistics" before any protocol header`}},
	{file: "other/gopsutil-aix-netstat-s.txt", format: FormatBSD,
		counters: map[string]uint64{TCPSegmentsOut: 1001, TCPSegmentsIn: 2002, TCPRetransmits: 303, TCPActiveOpens: 404, TCPPassiveOpens: 505, TCPAttemptFails: 606,
			TCPEstabResets: 10, TCPChecksumErrors: 707, TCPInErrors: 707 + 801 + 802,
			UDPDatagramsIn: 1100, UDPDatagramsOut: 2200, UDPNoPorts: 3300, UDPChecksumErrors: 5500, UDPRcvbufErrors: 6600, UDPInErrors: 110 + 220 + 5500 + 6600,
			IPPacketsIn: 50000, IPDelivered: 40000, IPForwarded: 100, IPPacketsOut: 30000, IPOutDiscards: 800, IPOutNoRoutes: 700}},
	{file: "other/datadog-solaris-netstat-s-P-tcp.txt", format: FormatSolaris,
		counters: map[string]uint64{TCPActiveOpens: 57, TCPPassiveOpens: 50, TCPAttemptFails: 1, TCPEstabResets: 0, TCPSegmentsOut: 254, TCPRetransmits: 0},
		gauges:   map[string]float64{TCPEstablished: 0},
		raw:      map[string]uint64{"Tcp.RtoMin": 200, "Tcp.OutDataBytes": 1216733, "Tcp.OutAckDelayed": 4},
		absent:   []string{TCPSegmentsIn},
		warnHas:  []string{"no newline at end"}},
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if errors.Is(err, os.ErrNotExist) {
		// A few fixtures are copied into testdata so that their cases run
		// even without the shared tree.
		if data, err := os.ReadFile(filepath.Join("testdata", filepath.Base(name))); err == nil {
			return data
		}
		t.Skipf("fixture %s not found: the shared fixture tree must sit beside the repository (../shared); see testdata/ for the cases that always run", name)
	}
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFixtures(t *testing.T) {
	for _, tc := range fixtureCases {
		t.Run(tc.file, func(t *testing.T) {
			data := readFixture(t, tc.file)
			r, err := Parse(tc.format, data)
			checkCase(t, tc, r, err)
		})
	}
}

// TestEveryFixtureHasACase fails when a fixture file has no table case.
func TestEveryFixtureHasACase(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*", "*"))
	if len(files) == 0 {
		t.Skipf("no fixtures under %s", fixtureDir)
	}
	have := map[string]bool{}
	for _, tc := range fixtureCases {
		have[tc.file] = true
	}
	for _, f := range files {
		rel, _ := filepath.Rel(fixtureDir, f)
		if !have[filepath.ToSlash(rel)] {
			t.Errorf("fixture %s has no case in fixtureCases", rel)
		}
	}
}

func checkCase(t *testing.T, tc fixtureCase, r *Reading, err error) {
	t.Helper()
	if tc.errIs != nil {
		if !errors.Is(err, tc.errIs) {
			t.Fatalf("err = %v, want %v", err, tc.errIs)
		}
		for _, s := range tc.errHas {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not contain %q", err, s)
			}
		}
		if r != nil {
			t.Errorf("got a reading with the error")
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if r.Partial != tc.partial {
		t.Errorf("Partial = %v, want %v (warnings: %q)", r.Partial, tc.partial, r.Warnings)
	}
	for name, want := range tc.counters {
		got, ok := r.Counters[name]
		if !ok {
			t.Errorf("counter %s missing", name)
		} else if got != want {
			t.Errorf("counter %s = %d, want %d", name, got, want)
		}
	}
	for name, want := range tc.gauges {
		got, ok := r.Gauges[name]
		if !ok {
			t.Errorf("gauge %s missing", name)
		} else if got != want {
			t.Errorf("gauge %s = %v, want %v", name, got, want)
		}
	}
	for key, want := range tc.raw {
		got, ok := r.Raw[key]
		if !ok {
			t.Errorf("raw %q missing", key)
		} else if got != want {
			t.Errorf("raw %q = %d, want %d", key, got, want)
		}
	}
	for _, name := range tc.absent {
		if _, ok := r.Counters[name]; ok {
			t.Errorf("counter %s present (%d), want absent", name, r.Counters[name])
		}
		if _, ok := r.Gauges[name]; ok {
			t.Errorf("gauge %s present, want absent", name)
		}
	}
	all := strings.Join(r.Warnings, "\n")
	for _, s := range tc.warnHas {
		if !strings.Contains(all, s) {
			t.Errorf("warnings %q do not mention %q", r.Warnings, s)
		}
	}
	if !tc.partial && len(tc.warnHas) == 0 && len(r.Warnings) > 0 {
		t.Errorf("unexpected warnings: %q", r.Warnings)
	}
	// Every documented counter the parser found must be in the table.
	for name := range r.Counters {
		if !isDocumented(name) {
			t.Errorf("undocumented counter %s", name)
		}
	}
}

func isDocumented(name string) bool {
	for _, d := range metricDefs {
		if d.name == name {
			return true
		}
	}
	return false
}

func BenchmarkParseLinuxProc(b *testing.B) {
	snmp, _ := os.ReadFile("testdata/debian12-k6.18-snmp.txt")
	nst, _ := os.ReadFile("testdata/debian12-k6.18-netstat.txt")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLinuxProc(snmp, nst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseNetTools(b *testing.B) {
	text, _ := os.ReadFile("testdata/debian12-nettools2.10-k6.18.txt")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseNetTools(text); err != nil {
			b.Fatal(err)
		}
	}
}
