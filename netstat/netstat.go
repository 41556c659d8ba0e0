package netstat

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// The four values of the Monitis SDK's netstat monitor (TCP packets in/out,
// UDP datagrams in/out), under our documented names.
const (
	TCPSegmentsIn   = "tcp.segments_in"
	TCPSegmentsOut  = "tcp.segments_out"
	UDPDatagramsIn  = "udp.datagrams_in"
	UDPDatagramsOut = "udp.datagrams_out"
)

// Other documented metric names. The README and the package doc map each one
// to its source field on every platform.
const (
	TCPRetransmits      = "tcp.retransmits"
	TCPActiveOpens      = "tcp.active_opens"
	TCPPassiveOpens     = "tcp.passive_opens"
	TCPAttemptFails     = "tcp.attempt_fails"
	TCPEstabResets      = "tcp.estab_resets"
	TCPResetsOut        = "tcp.resets_out"
	TCPInErrors         = "tcp.in_errors"
	TCPChecksumErrors   = "tcp.checksum_errors"
	TCPEstablished      = "tcp.established" // a gauge
	TCPTimeouts         = "tcp.timeouts"
	TCPListenOverflows  = "tcp.listen_overflows"
	TCPListenDrops      = "tcp.listen_drops"
	TCPSyncookiesSent   = "tcp.syncookies_sent"
	TCPSyncookiesRecv   = "tcp.syncookies_recv"
	TCPSyncookiesFailed = "tcp.syncookies_failed"

	UDPNoPorts        = "udp.no_ports"
	UDPInErrors       = "udp.in_errors"
	UDPRcvbufErrors   = "udp.rcvbuf_errors"
	UDPSndbufErrors   = "udp.sndbuf_errors"
	UDPChecksumErrors = "udp.checksum_errors"

	IPPacketsIn   = "ip.packets_in"
	IPPacketsOut  = "ip.packets_out"
	IPDelivered   = "ip.delivered"
	IPForwarded   = "ip.forwarded"
	IPInDiscards  = "ip.in_discards"
	IPOutDiscards = "ip.out_discards"
	IPOutNoRoutes = "ip.out_no_routes"
	IPOctetsIn    = "ip.octets_in"
	IPOctetsOut   = "ip.octets_out"

	ICMPMsgsIn    = "icmp.msgs_in"
	ICMPMsgsOut   = "icmp.msgs_out"
	ICMPErrorsIn  = "icmp.errors_in"
	ICMPErrorsOut = "icmp.errors_out"

	IP6PacketsIn       = "ip6.packets_in"
	IP6PacketsOut      = "ip6.packets_out"
	UDP6DatagramsIn    = "udp6.datagrams_in"
	UDP6DatagramsOut   = "udp6.datagrams_out"
	UDP6NoPorts        = "udp6.no_ports"
	UDP6InErrors       = "udp6.in_errors"
	UDP6RcvbufErrors   = "udp6.rcvbuf_errors"
	UDP6SndbufErrors   = "udp6.sndbuf_errors"
	UDP6ChecksumErrors = "udp6.checksum_errors"
	ICMP6MsgsIn        = "icmp6.msgs_in"
	ICMP6MsgsOut       = "icmp6.msgs_out"
)

// Input formats accepted by ParseFile and Parse.
const (
	FormatLinuxProc     = "linux-proc"     // /proc/net/snmp, /proc/net/netstat, /proc/net/snmp6
	FormatLinuxNetTools = "linux-nettools" // Linux net-tools `netstat -s`
	FormatDarwin        = "darwin"         // macOS `netstat -s` (-p tcp, -p udp)
	FormatFreeBSD       = "freebsd"        // FreeBSD `netstat -s` text
	FormatFreeBSDJSON   = "freebsd-json"   // FreeBSD `netstat -s --libxo json`
	FormatBSD           = "bsd"            // other BSD-derived text: AIX, Junos, NetBSD, OpenBSD
	FormatSolaris       = "solaris"        // Solaris/illumos `netstat -s` (name = value)
)

// Formats lists every accepted format name.
var Formats = []string{FormatLinuxProc, FormatLinuxNetTools, FormatDarwin, FormatFreeBSD, FormatFreeBSDJSON, FormatBSD, FormatSolaris}

// Errors. Parse errors wrap ErrMalformed; errors.Is works on them.
var (
	// ErrMalformed reports input that is not in the expected format.
	ErrMalformed = errors.New("malformed netstat input")
	// ErrNoData reports input that held no usable counter at all.
	ErrNoData = errors.New("no usable netstat counters")
	// ErrUnknownFormat reports a format name not in Formats.
	ErrUnknownFormat = errors.New("unknown netstat format")
)

// Reading is one snapshot of the system's network counters.
//
// A Reading is a plain value: the maps are owned by whoever holds the
// Reading and nothing else refers to them.
type Reading struct {
	// Counters holds cumulative counters by documented name, e.g.
	// "tcp.segments_in". A name is absent when the source does not provide
	// it; it is never filled with a guess.
	Counters map[string]uint64
	// Gauges holds current values by documented name ("tcp.established").
	Gauges map[string]float64
	// Raw holds every value read, by source field name: "Tcp.InSegs" and
	// "Ip6InReceives" for /proc and net-tools, the normalised line wording
	// ("tcp: N packet sent") for BSD text, "tcp.tcpOutSegs"-style MIB names
	// for Solaris.
	Raw map[string]uint64
	// Format is the input format the reading came from (one of Formats).
	Format string
	// Width is the width in bits of the source's counters: 32 when they
	// wrap at 2^32 (macOS), else 64. The delta logic uses it to tell a wrap
	// from a reset.
	Width int
	// Partial is true when some input was truncated or malformed. What is
	// present is still trustworthy: a malformed part is dropped whole.
	Partial bool
	// Warnings describes every part of the input that was dropped or
	// looked odd, one message each.
	Warnings []string
}

func newReading(format string) *Reading {
	return &Reading{
		Counters: map[string]uint64{},
		Gauges:   map[string]float64{},
		Raw:      map[string]uint64{},
		Format:   format,
		Width:    64,
	}
}

func (r *Reading) warnf(partial bool, format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
	if partial {
		r.Partial = true
	}
}

// Names returns the counter and gauge names of r, sorted.
func (r *Reading) Names() []string {
	names := make([]string, 0, len(r.Counters)+len(r.Gauges))
	for n := range r.Counters {
		names = append(names, n)
	}
	for n := range r.Gauges {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Source produces readings. Read may be called from one goroutine at a
// time; implementations in this package are safe for concurrent use.
type Source interface {
	Read(ctx context.Context) (*Reading, error)
}

// SourceFunc adapts a function to the Source interface.
type SourceFunc func(ctx context.Context) (*Reading, error)

// Read calls f(ctx).
func (f SourceFunc) Read(ctx context.Context) (*Reading, error) { return f(ctx) }

// Read takes one reading from src. It returns an error when src fails or
// returns no reading; a partial reading is returned with a nil error and
// Partial set.
func Read(ctx context.Context, src Source) (*Reading, error) {
	if src == nil {
		return nil, errors.New("netstat: nil source")
	}
	r, err := src.Read(ctx)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("netstat: source returned no reading")
	}
	return r, nil
}
