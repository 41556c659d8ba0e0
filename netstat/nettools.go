package netstat

import (
	"fmt"
	"strconv"
	"strings"
)

// netToolsWords maps net-tools' wordings (old and new) to /proc field names,
// per section. Wordings are normalised (see normalizeWording) when the table
// is built, so singular/plural variants ("active connections openings" in
// old net-tools, "active connection openings" in new) need one entry.
// Counters net-tools prints as "Name: value" need no entry.
var netToolsWords = func() map[string]map[string]string {
	raw := map[string][][2]string{
		"Ip": {
			{"N total packets received", "InReceives"},
			{"N forwarded", "ForwDatagrams"},
			{"N incoming packets discarded", "InDiscards"},
			{"N incoming packets delivered", "InDelivers"},
			{"N requests sent out", "OutRequests"},
			{"N with invalid headers", "InHdrErrors"},
			{"N with invalid addresses", "InAddrErrors"},
			{"N with unknown protocol", "InUnknownProtos"},
			{"N outgoing packets dropped", "OutDiscards"},
			{"N dropped because of missing route", "OutNoRoutes"},
			{"N fragments dropped after timeout", "ReasmTimeout"},
			{"N reassemblies required", "ReasmReqds"},
			{"N packets reassembled ok", "ReasmOKs"},
			{"N packet reassemblies failed", "ReasmFails"},
			{"N fragments received ok", "FragOKs"},
			{"N fragments failed", "FragFails"},
			{"N fragments created", "FragCreates"},
		},
		"Icmp": {
			{"N ICMP messages received", "InMsgs"},
			{"N input ICMP message failed", "InErrors"},
			{"N ICMP messages sent", "OutMsgs"},
			{"N ICMP messages failed", "OutErrors"},
		},
		"Tcp": {
			{"N active connection openings", "ActiveOpens"},
			{"N passive connection openings", "PassiveOpens"},
			{"N failed connection attempts", "AttemptFails"},
			{"N connection resets received", "EstabResets"},
			{"N connections established", "CurrEstab"},
			{"N segments received", "InSegs"},
			{"N segments sent out", "OutSegs"},
			{"N segments send out", "OutSegs"},
			{"N segments retransmitted", "RetransSegs"},
			{"N segments retransmited", "RetransSegs"},
			{"N bad segments received", "InErrs"},
			{"N resets sent", "OutRsts"},
		},
		"Udp": {
			{"N packets received", "InDatagrams"},
			{"N packets to unknown port received", "NoPorts"},
			{"N packet receive errors", "InErrors"},
			{"N packets sent", "OutDatagrams"},
			{"N receive buffer errors", "RcvbufErrors"},
			{"N send buffer errors", "SndbufErrors"},
		},
		"TcpExt": {
			{"N times the listen queue of a socket overflowed", "ListenOverflows"},
			{"N SYNs to LISTEN sockets dropped", "ListenDrops"},
			{"N SYNs to LISTEN sockets ignored", "ListenDrops"},
			{"N SYN cookies sent", "SyncookiesSent"},
			{"N SYN cookies received", "SyncookiesRecv"},
			{"N invalid SYN cookies received", "SyncookiesFailed"},
			{"N other TCP timeouts", "TCPTimeouts"},
			{"N fast retransmits", "TCPFastRetrans"},
			{"N TCP sockets finished time wait in fast timer", "TW"},
			{"N delayed acks sent", "DelayedACKs"},
			{"N resets received for embryonic SYN_RECV sockets", "EmbryonicRsts"},
			{"N connections reset due to unexpected data", "TCPAbortOnData"},
		},
	}
	raw["UdpLite"] = raw["Udp"]
	m := map[string]map[string]string{}
	for sec, words := range raw {
		m[sec] = map[string]string{}
		for _, w := range words {
			m[sec][normalizeWording(w[0])] = w[1]
		}
	}
	return m
}()

// netToolsAlways lists, per section, the fields net-tools prints even when
// zero. A section that shows all of them and is followed by another section
// header is complete; see ParseNetTools.
var netToolsAlways = map[string][]string{
	"Ip":   {"InReceives", "ForwDatagrams", "InDiscards", "InDelivers", "OutRequests"},
	"Icmp": {"InMsgs", "InErrors", "OutMsgs", "OutErrors"},
	"Tcp":  {"ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets", "CurrEstab", "InSegs", "OutSegs", "RetransSegs", "InErrs", "OutRsts"},
	"Udp":  {"InDatagrams", "NoPorts", "InErrors", "OutDatagrams"},
}

// isNetToolsStatic reports whether line is one of the descriptive lines old
// net-tools printed for constants ("Forwarding is disabled", "RTO algorithm
// is vanj"): no counter, and not an error either.
func isNetToolsStatic(line string) bool {
	return strings.HasPrefix(line, "Forwarding is ") || strings.HasPrefix(line, "RTO algorithm is ")
}

// ParseNetTools parses the text of Linux net-tools `netstat -s`, old and
// new wordings, into /proc field names (so the same table maps both).
//
// net-tools omits many counters when they are zero (every "Name: value"
// line and the optional ones such as "with invalid headers"). So that a
// counter does not vanish when it is zero, a documented counter missing from
// a section is reported as 0, but only when that section is provably
// complete: every line net-tools always prints for it is present, no line in
// it was malformed, and another section header follows it. Otherwise the
// counter stays absent.
//
// A line that cannot be read (an error message such as "error parsing
// /proc/net/netstat", or text without a number) is dropped with a warning
// and marks the reading Partial.
func ParseNetTools(data []byte) (*Reading, error) {
	r := newReading(FormatLinuxNetTools)
	text := string(data)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		r.warnf(false, "no newline at end of input; last line taken as complete")
	}
	type secState struct {
		name     string
		bad      bool
		complete bool
	}
	var (
		secs      []*secState
		cur       *secState
		sub       string
		subIndent int
	)
	for i, line := range strings.Split(text, "\n") {
		ln := i + 1
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		if sub != "" && indent <= subIndent {
			sub = ""
		}
		// Section header: "Tcp:" at the left margin.
		if indent == 0 && strings.HasSuffix(trimmed, ":") && !strings.ContainsAny(trimmed, " \t") {
			if cur != nil {
				cur.complete = true
			}
			cur = &secState{name: strings.TrimSuffix(trimmed, ":")}
			secs = append(secs, cur)
			continue
		}
		if cur == nil {
			r.warnf(true, "line %d: %q before any section header; ignored", ln, clip(trimmed))
			continue
		}
		// "Name: value" (a counter net-tools has no wording for, or a
		// histogram entry when under a sub-header).
		if k, v, ok := strings.Cut(trimmed, ":"); ok {
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if v == "" {
				sub, subIndent = k, indent // "ICMP input histogram:"
				continue
			}
			if u, err := strconv.ParseUint(v, 10, 64); err == nil {
				if sub != "" {
					r.setRaw(cur.name+"."+sub+"."+k, u)
				} else if !strings.ContainsAny(k, " \t") {
					r.setRaw(cur.name+"."+k, u)
				} else {
					r.setRaw(cur.name+": "+normalizeWording(k)+": N", u)
				}
				continue
			}
			r.warnf(true, "line %d: %q is not a counter; ignored", ln, clip(trimmed))
			cur.bad = true
			continue
		}
		toks := tokenize(trimmed)
		nums := numberPositions(toks)
		if len(nums) == 0 {
			if isNetToolsStatic(trimmed) {
				continue
			}
			r.warnf(true, "line %d: %q has no number; ignored", ln, clip(trimmed))
			cur.bad = true
			continue
		}
		for _, pos := range nums {
			v, err := strconv.ParseUint(toks[pos], 10, 64)
			if err != nil {
				r.warnf(true, "line %d: %q: number out of range; ignored", ln, clip(toks[pos]))
				cur.bad = true
				continue
			}
			words := template(toks, nums, pos)
			if field, ok := netToolsWords[cur.name][words]; ok {
				r.setRaw(cur.name+"."+field, v)
			} else {
				r.setRaw(cur.name+": "+words, v)
			}
		}
	}
	if len(r.Raw) == 0 {
		return nil, fmt.Errorf("netstat: %s: %w (%s)", FormatLinuxNetTools, ErrNoData, strings.Join(r.Warnings, "; "))
	}
	// Zero-fill documented counters of complete sections (see above).
	for _, s := range secs {
		if !s.complete || s.bad {
			continue
		}
		missing := false
		for _, f := range netToolsAlways[s.name] {
			if _, ok := r.Raw[s.name+"."+f]; !ok {
				missing = true
				r.warnf(true, "section %s: %q missing (truncated?)", s.name, f)
			}
		}
		if missing {
			continue
		}
		for _, d := range metricDefs {
			if sec, _, _ := strings.Cut(d.proc, "."); sec == s.name {
				if _, ok := r.Raw[d.proc]; !ok {
					r.Raw[d.proc] = 0
				}
			}
		}
	}
	r.deriveFromProc()
	return r, nil
}
