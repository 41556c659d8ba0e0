// Package netstat is the agent's built-in input: it reads the system's
// TCP, UDP, IP and ICMP protocol counters (what `netstat -s` prints) and
// feeds them into the aggregator like any other samples, so every backend
// gets them.
//
// # Sources
//
// On Linux, [System] reads the kernel's counters directly from
// /proc/net/snmp, /proc/net/netstat and /proc/net/snmp6 under a configurable
// procfs root, mapping every value by its header name. Elsewhere, and as a
// Linux fallback, it runs `netstat -s` (LC_ALL=C, a timeout, no shell) and
// parses the text: Linux net-tools (old and new wordings), macOS, FreeBSD
// (text and --libxo json), the BSD-derived text of AIX and Junos, and
// Solaris. [ParseFile] and [Parse] read saved captures in any of [Formats].
//
// A [Reading] holds cumulative counters and gauges under one set of
// documented names, every raw source value, and warnings. Malformed or
// truncated input gives an error or a reading marked Partial whose values are
// all trustworthy: a bad part is dropped, never guessed.
//
// # Names
//
// The table below maps each documented name to its Linux /proc field (also
// used for net-tools and Solaris, whose text is translated to those fields)
// and to the BSD text line it comes from ("N" is the number taken, "#" any
// other number). README.md has the full table with net-tools and libxo
// columns and notes on meaning across platforms.
//
//	NAME                   KIND     LINUX /proc              BSD TEXT (macOS, FreeBSD)
//	tcp.segments_in        counter  Tcp.InSegs               tcp: N packets received
//	tcp.segments_out       counter  Tcp.OutSegs              tcp: N packets sent
//	tcp.retransmits        counter  Tcp.RetransSegs          tcp: N data packets (# bytes) retransmitted
//	tcp.active_opens       counter  Tcp.ActiveOpens          tcp: N connection requests
//	tcp.passive_opens      counter  Tcp.PassiveOpens         tcp: N connection accepts
//	tcp.attempt_fails      counter  Tcp.AttemptFails         tcp: N embryonic connections dropped
//	tcp.estab_resets       counter  Tcp.EstabResets          tcp: # connections closed (including N drops)
//	tcp.resets_out         counter  Tcp.OutRsts              —
//	tcp.in_errors          counter  Tcp.InErrs               tcp: N discarded for bad checksums + tcp: N discarded for bad header offset fields + tcp: N discarded because packet too short
//	tcp.checksum_errors    counter  Tcp.InCsumErrors         tcp: N discarded for bad checksums
//	tcp.established        gauge    Tcp.CurrEstab            tcp: TCP connection count by state: N connections in ESTABLISHED state
//	tcp.timeouts           counter  TcpExt.TCPTimeouts       tcp: N retransmit timeouts
//	tcp.listen_overflows   counter  TcpExt.ListenOverflows   tcp: N listen queue overflows
//	tcp.listen_drops       counter  TcpExt.ListenDrops       —
//	tcp.syncookies_sent    counter  TcpExt.SyncookiesSent    tcp: N cookies sent
//	tcp.syncookies_recv    counter  TcpExt.SyncookiesRecv    tcp: N cookies received
//	tcp.syncookies_failed  counter  TcpExt.SyncookiesFailed  —
//	udp.datagrams_in       counter  Udp.InDatagrams          udp: N delivered
//	udp.datagrams_out      counter  Udp.OutDatagrams         udp: N datagrams output
//	udp.no_ports           counter  Udp.NoPorts              udp: N dropped due to no socket
//	udp.in_errors          counter  Udp.InErrors             udp: N with incomplete header + udp: N with bad data length field + udp: N with bad checksum + udp: N dropped due to full socket buffers
//	udp.rcvbuf_errors      counter  Udp.RcvbufErrors         udp: N dropped due to full socket buffers
//	udp.sndbuf_errors      counter  Udp.SndbufErrors         —
//	udp.checksum_errors    counter  Udp.InCsumErrors         udp: N with bad checksum; or udp: N bad checksums
//	ip.packets_in          counter  Ip.InReceives            ip: N total packets received
//	ip.packets_out         counter  Ip.OutRequests           ip: N packets sent from this host
//	ip.delivered           counter  Ip.InDelivers            ip: N packets for this host
//	ip.forwarded           counter  Ip.ForwDatagrams         ip: N packets forwarded
//	ip.in_discards         counter  Ip.InDiscards            —
//	ip.out_discards        counter  Ip.OutDiscards           ip: N output packets dropped due to no bufs, etc.
//	ip.out_no_routes       counter  Ip.OutNoRoutes           ip: N output packets discarded due to no route
//	ip.octets_in           counter  IpExt.InOctets           —
//	ip.octets_out          counter  IpExt.OutOctets          —
//	icmp.msgs_in           counter  Icmp.InMsgs              —
//	icmp.msgs_out          counter  Icmp.OutMsgs             —
//	icmp.errors_in         counter  Icmp.InErrors            —
//	icmp.errors_out        counter  Icmp.OutErrors           —
//	ip6.packets_in         counter  Ip6InReceives            —
//	ip6.packets_out        counter  Ip6OutRequests           —
//	udp6.datagrams_in      counter  Udp6InDatagrams          —
//	udp6.datagrams_out     counter  Udp6OutDatagrams         —
//	udp6.no_ports          counter  Udp6NoPorts              —
//	udp6.in_errors         counter  Udp6InErrors             —
//	udp6.rcvbuf_errors     counter  Udp6RcvbufErrors         —
//	udp6.sndbuf_errors     counter  Udp6SndbufErrors         —
//	udp6.checksum_errors   counter  Udp6InCsumErrors         —
//	icmp6.msgs_in          counter  Icmp6InMsgs              —
//	icmp6.msgs_out         counter  Icmp6OutMsgs             —
//
// TCPSegmentsIn, TCPSegmentsOut, UDPDatagramsIn and UDPDatagramsOut are the
// four values of the Monitis SDK's netstat monitor.
//
// # Input
//
// [Input] runs the probe on a ticker: it turns cumulative counters into
// per-interval increases sent as StatsD counters (sample rate 1, so the
// rate is per second) and sends gauges as gauges. The first reading only
// primes; a counter that goes backwards is a 32-bit wrap (on 32-bit sources)
// or a reset, never a spike (see [Deltas]). Failures are counted and logged
// at a limited rate, never fatal.
//
// # Concurrency
//
// Parsers are pure functions. [ProcSource] and [CommandSource] are safe for
// concurrent use. An [Input]'s Collect and Run serialise themselves; its
// sink is called from the goroutine running Collect.
package netstat
