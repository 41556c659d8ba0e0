package netstat

import "strings"

// metricDef maps one documented name to its source fields.
type metricDef struct {
	name  string
	gauge bool
	help  string
	// proc is the field in /proc naming ("Tcp.InSegs"); the net-tools and
	// Solaris parsers translate their input to this naming too.
	proc string
	// bsd lists alternative wordings of BSD-derived `netstat -s` text
	// (macOS, FreeBSD, AIX, Junos), first match wins. Each alternative is a
	// list of lines whose "N" values are summed; all of them must be present.
	// "N" marks the wanted number, "#" any other number on the line.
	bsd [][]string
	// xo lists alternatives like bsd, in FreeBSD `netstat -s --libxo json`
	// field paths ("tcp.sent-packets").
	xo [][]string
}

// metricDefs is the one table of documented names. The README table and the
// package doc are written from it; a test checks they agree.
var metricDefs = []metricDef{
	{name: TCPSegmentsIn, help: "TCP segments received", proc: "Tcp.InSegs",
		bsd: [][]string{{"tcp: N packets received"}},
		xo:  [][]string{{"tcp.received-packets"}}},
	{name: TCPSegmentsOut, help: "TCP segments sent", proc: "Tcp.OutSegs",
		bsd: [][]string{{"tcp: N packets sent"}},
		xo:  [][]string{{"tcp.sent-packets"}}},
	{name: TCPRetransmits, help: "TCP segments retransmitted", proc: "Tcp.RetransSegs",
		bsd: [][]string{{"tcp: N data packets (# bytes) retransmitted"}, {"tcp: N data packets retransmitted (# bytes)"}},
		xo:  [][]string{{"tcp.sent-retransmitted-packets"}}},
	{name: TCPActiveOpens, help: "TCP active opens (connect)", proc: "Tcp.ActiveOpens",
		bsd: [][]string{{"tcp: N connection requests"}},
		xo:  [][]string{{"tcp.connection-requests"}}},
	{name: TCPPassiveOpens, help: "TCP passive opens (accept)", proc: "Tcp.PassiveOpens",
		bsd: [][]string{{"tcp: N connection accepts"}},
		xo:  [][]string{{"tcp.connections-accepts"}}},
	{name: TCPAttemptFails, help: "TCP connection attempts failed before established", proc: "Tcp.AttemptFails",
		bsd: [][]string{{"tcp: N embryonic connections dropped"}},
		xo:  [][]string{{"tcp.embryonic-connections-dropped"}}},
	{name: TCPEstabResets, help: "established TCP connections reset/dropped", proc: "Tcp.EstabResets",
		bsd: [][]string{{"tcp: # connections closed (including N drops)"}},
		xo:  [][]string{{"tcp.connection-drops"}}},
	{name: TCPResetsOut, help: "TCP resets sent", proc: "Tcp.OutRsts"},
	{name: TCPInErrors, help: "TCP segments received in error", proc: "Tcp.InErrs",
		bsd: [][]string{{"tcp: N discarded for bad checksums", "tcp: N discarded for bad header offset fields", "tcp: N discarded because packet too short"}},
		xo:  [][]string{{"tcp.discard-bad-checksum", "tcp.discard-bad-header-offset", "tcp.discard-too-short"}}},
	{name: TCPChecksumErrors, help: "TCP segments with bad checksum", proc: "Tcp.InCsumErrors",
		bsd: [][]string{{"tcp: N discarded for bad checksums"}},
		xo:  [][]string{{"tcp.discard-bad-checksum"}}},
	{name: TCPEstablished, gauge: true, help: "TCP connections currently established (gauge)", proc: "Tcp.CurrEstab",
		bsd: [][]string{{"tcp: TCP connection count by state: N connections in ESTABLISHED state"}},
		xo:  [][]string{{"tcp.TCP connection count by state.ESTABLISHED"}}},
	{name: TCPTimeouts, help: "TCP retransmission timeouts", proc: "TcpExt.TCPTimeouts",
		bsd: [][]string{{"tcp: N retransmit timeouts"}},
		xo:  [][]string{{"tcp.retransmit-timeouts"}}},
	{name: TCPListenOverflows, help: "TCP listen queue overflows", proc: "TcpExt.ListenOverflows",
		bsd: [][]string{{"tcp: N listen queue overflows"}},
		xo:  [][]string{{"tcp.listen-queue-overflows"}}},
	{name: TCPListenDrops, help: "SYNs to listening sockets dropped", proc: "TcpExt.ListenDrops"},
	{name: TCPSyncookiesSent, help: "SYN cookies sent", proc: "TcpExt.SyncookiesSent",
		bsd: [][]string{{"tcp: N cookies sent"}},
		xo:  [][]string{{"tcp.syncache.sent-cookies"}}},
	{name: TCPSyncookiesRecv, help: "SYN cookies received", proc: "TcpExt.SyncookiesRecv",
		bsd: [][]string{{"tcp: N cookies received"}},
		xo:  [][]string{{"tcp.syncache.receivd-cookies"}}},
	{name: TCPSyncookiesFailed, help: "invalid SYN cookies received", proc: "TcpExt.SyncookiesFailed"},

	{name: UDPDatagramsIn, help: "UDP datagrams delivered", proc: "Udp.InDatagrams",
		bsd: [][]string{{"udp: N delivered"}},
		xo:  [][]string{{"udp.delivered-packets"}}},
	{name: UDPDatagramsOut, help: "UDP datagrams sent", proc: "Udp.OutDatagrams",
		bsd: [][]string{{"udp: N datagrams output"}},
		xo:  [][]string{{"udp.output-packets"}}},
	{name: UDPNoPorts, help: "UDP datagrams to a port with no listener", proc: "Udp.NoPorts",
		bsd: [][]string{{"udp: N dropped due to no socket"}},
		xo:  [][]string{{"udp.dropped-no-socket"}}},
	{name: UDPInErrors, help: "UDP datagrams not delivered for other reasons", proc: "Udp.InErrors",
		bsd: [][]string{
			{"udp: N with incomplete header", "udp: N with bad data length field", "udp: N with bad checksum", "udp: N dropped due to full socket buffers"},
			{"udp: N incomplete headers", "udp: N bad data length fields", "udp: N bad checksums", "udp: N socket buffer overflows"},
		},
		xo: [][]string{{"udp.dropped-incomplete-headers", "udp.dropped-bad-data-length", "udp.dropped-bad-checksum", "udp.dropped-full-socket-buffer"}}},
	{name: UDPRcvbufErrors, help: "UDP datagrams dropped: receive buffer full", proc: "Udp.RcvbufErrors",
		bsd: [][]string{{"udp: N dropped due to full socket buffers"}, {"udp: N socket buffer overflows"}},
		xo:  [][]string{{"udp.dropped-full-socket-buffer"}}},
	{name: UDPSndbufErrors, help: "UDP datagrams dropped: send buffer full", proc: "Udp.SndbufErrors"},
	{name: UDPChecksumErrors, help: "UDP datagrams with bad checksum", proc: "Udp.InCsumErrors",
		bsd: [][]string{{"udp: N with bad checksum"}, {"udp: N bad checksums"}},
		xo:  [][]string{{"udp.dropped-bad-checksum"}}},

	{name: IPPacketsIn, help: "IPv4 packets received", proc: "Ip.InReceives",
		bsd: [][]string{{"ip: N total packets received"}}},
	{name: IPPacketsOut, help: "IPv4 packets sent by this host", proc: "Ip.OutRequests",
		bsd: [][]string{{"ip: N packets sent from this host"}}},
	{name: IPDelivered, help: "IPv4 packets delivered to this host", proc: "Ip.InDelivers",
		bsd: [][]string{{"ip: N packets for this host"}}},
	{name: IPForwarded, help: "IPv4 packets forwarded", proc: "Ip.ForwDatagrams",
		bsd: [][]string{{"ip: N packets forwarded"}}},
	{name: IPInDiscards, help: "IPv4 input packets discarded", proc: "Ip.InDiscards"},
	{name: IPOutDiscards, help: "IPv4 output packets discarded", proc: "Ip.OutDiscards",
		bsd: [][]string{{"ip: N output packets dropped due to no bufs, etc."}}},
	{name: IPOutNoRoutes, help: "IPv4 output packets without a route", proc: "Ip.OutNoRoutes",
		bsd: [][]string{{"ip: N output packets discarded due to no route"}}},
	{name: IPOctetsIn, help: "IP octets received", proc: "IpExt.InOctets"},
	{name: IPOctetsOut, help: "IP octets sent", proc: "IpExt.OutOctets"},

	{name: ICMPMsgsIn, help: "ICMP messages received", proc: "Icmp.InMsgs"},
	{name: ICMPMsgsOut, help: "ICMP messages sent", proc: "Icmp.OutMsgs"},
	{name: ICMPErrorsIn, help: "ICMP messages received in error", proc: "Icmp.InErrors"},
	{name: ICMPErrorsOut, help: "ICMP messages not sent due to errors", proc: "Icmp.OutErrors"},

	{name: IP6PacketsIn, help: "IPv6 packets received", proc: "Ip6InReceives"},
	{name: IP6PacketsOut, help: "IPv6 packets sent by this host", proc: "Ip6OutRequests"},
	{name: UDP6DatagramsIn, help: "UDP over IPv6 datagrams delivered", proc: "Udp6InDatagrams"},
	{name: UDP6DatagramsOut, help: "UDP over IPv6 datagrams sent", proc: "Udp6OutDatagrams"},
	{name: UDP6NoPorts, help: "UDP over IPv6 datagrams to a port with no listener", proc: "Udp6NoPorts"},
	{name: UDP6InErrors, help: "UDP over IPv6 datagrams not delivered", proc: "Udp6InErrors"},
	{name: UDP6RcvbufErrors, help: "UDP over IPv6: receive buffer full", proc: "Udp6RcvbufErrors"},
	{name: UDP6SndbufErrors, help: "UDP over IPv6: send buffer full", proc: "Udp6SndbufErrors"},
	{name: UDP6ChecksumErrors, help: "UDP over IPv6 datagrams with bad checksum", proc: "Udp6InCsumErrors"},
	{name: ICMP6MsgsIn, help: "ICMPv6 messages received", proc: "Icmp6InMsgs"},
	{name: ICMP6MsgsOut, help: "ICMPv6 messages sent", proc: "Icmp6OutMsgs"},
}

// normDefs holds metricDefs' bsd (which == "bsd") or xo column with every
// entry normalised once.
func normDefs(which string) map[string][][]string {
	m := map[string][][]string{}
	for _, d := range metricDefs {
		alts := d.bsd
		if which == "xo" {
			alts = d.xo
		}
		for _, alt := range alts {
			norm := make([]string, len(alt))
			for i, line := range alt {
				if which == "xo" {
					norm[i] = line
					continue
				}
				sec, text, _ := strings.Cut(line, ": ")
				norm[i] = strings.ToLower(sec) + ": " + normalizeWording(text)
			}
			m[d.name] = append(m[d.name], norm)
		}
	}
	return m
}

var (
	bsdDefs = normDefs("bsd")
	xoDefs  = normDefs("xo")
)

// deriveFromProc fills r.Counters and r.Gauges from r.Raw in /proc naming.
func (r *Reading) deriveFromProc() {
	for _, d := range metricDefs {
		v, ok := r.Raw[d.proc]
		if !ok || d.proc == "" {
			continue
		}
		r.set(d, v)
	}
}

// deriveFrom fills r.Counters and r.Gauges from r.Raw using defs (bsdDefs
// or xoDefs): for each name the first alternative whose fields are all
// present gives the sum of their values.
func (r *Reading) deriveFrom(defs map[string][][]string) {
	for _, d := range metricDefs {
	alts:
		for _, alt := range defs[d.name] {
			var sum uint64
			for _, key := range alt {
				v, ok := r.Raw[key]
				if !ok {
					continue alts
				}
				sum += v
			}
			r.set(d, sum)
			break
		}
	}
}

func (r *Reading) set(d metricDef, v uint64) {
	if d.gauge {
		r.Gauges[d.name] = float64(v)
	} else {
		r.Counters[d.name] = v
	}
}

// IsGauge reports whether name is a documented gauge (as opposed to a
// cumulative counter).
func IsGauge(name string) bool {
	for _, d := range metricDefs {
		if d.name == name {
			return d.gauge
		}
	}
	return false
}
