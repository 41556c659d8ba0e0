package netstat

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// seed adds every fixture of the given folders (when the shared tree is
// there), the package's testdata and the inline seeds to f's corpus.
func seed(f *testing.F, dirs []string, inline ...string) {
	f.Helper()
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(fixtureDir, d, "*"))
		for _, p := range files {
			// Large captures (Junos, 38 KB) slow the fuzzer down; the
			// fixture table tests them whole.
			if data, err := os.ReadFile(p); err == nil && len(data) <= 8<<10 {
				f.Add(data)
			}
		}
	}
	files, _ := filepath.Glob("testdata/*.txt")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	for _, s := range inline {
		f.Add([]byte(s))
	}
}

// checkReading checks the properties every successful parse must have.
func checkReading(t *testing.T, input []byte, r *Reading, err error) {
	t.Helper()
	if err != nil {
		if r != nil {
			t.Fatalf("reading and error both returned: %v", err)
		}
		return
	}
	if r == nil || r.Counters == nil || r.Gauges == nil || r.Raw == nil {
		t.Fatalf("incomplete reading %+v", r)
	}
	if len(r.Raw) == 0 {
		t.Fatal("success with no raw value")
	}
	if r.Width != 32 && r.Width != 64 {
		t.Fatalf("width %d", r.Width)
	}
	if r.Partial && len(r.Warnings) == 0 {
		t.Fatal("partial without a warning")
	}
	for name := range r.Counters {
		if !isDocumented(name) || IsGauge(name) {
			t.Fatalf("counter %q is not a documented counter", name)
		}
	}
	for name := range r.Gauges {
		if !IsGauge(name) {
			t.Fatalf("gauge %q is not a documented gauge", name)
		}
	}
	// No garbage: every raw value is a number written in the input (or a
	// 0 filled in for a counter net-tools omits when zero).
	text := string(input)
	for k, v := range r.Raw {
		if v == 0 {
			continue
		}
		if !strings.Contains(text, strconv.FormatUint(v, 10)) {
			t.Fatalf("raw %q = %d does not appear in the input", k, v)
		}
	}
}

func FuzzParseLinuxProc(f *testing.F) {
	seed(f, []string{"linux-proc"},
		"Tcp: InSegs OutSegs\nTcp: 1 2\n",
		"IcmpMsg: InType3\nIcmpMsg: 1\nIcmpMsg: OutType3\nIcmpMsg: 2\n",
		"Tcp: A B\nTcp: 1\n",
		"Ip6InReceives 5\nIp6InDiscards\n",
		"Tcp: A\nUdp: B\nUdp: 3\n",
		"Tcp: MaxConn X\nTcp: -1 7\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseLinuxProc(data)
		checkReading(t, data, r, err)
		if err != nil {
			return
		}
		// Counters equal the raw field they come from.
		for _, d := range metricDefs {
			v, ok := r.Raw[d.proc]
			if d.gauge {
				if g, gok := r.Gauges[d.name]; gok != ok || (ok && g != float64(v)) {
					t.Fatalf("gauge %s = %v, raw %s = %d (%v)", d.name, g, d.proc, v, ok)
				}
			} else if c, cok := r.Counters[d.name]; cok != ok || c != v {
				t.Fatalf("counter %s = %d, raw %s = %d (%v)", d.name, c, d.proc, v, ok)
			}
		}
		// Round trip: write the raw values back in /proc layout and parse.
		again, err := ParseLinuxProc(formatProc(r.Raw))
		if err != nil {
			t.Fatalf("re-parse of formatted raw values: %v", err)
		}
		if !reflect.DeepEqual(r.Raw, again.Raw) {
			t.Fatalf("round trip changed raw values:\n%v\n%v", r.Raw, again.Raw)
		}
	})
}

// formatProc writes raw values as /proc/net/snmp pairs ("Sec.Name") and
// snmp6 lines (no dot), in two chunks joined as one snmp-style file plus a
// flat file; it returns them concatenated only when one kind is present.
func formatProc(raw map[string]uint64) []byte {
	sections := map[string][]string{}
	var flat []string
	for k := range raw {
		if sec, name, ok := strings.Cut(k, "."); ok && sec != "" && name != "" && !strings.ContainsAny(k, " \t") {
			sections[sec] = append(sections[sec], name)
		} else {
			flat = append(flat, k)
		}
	}
	var b strings.Builder
	secNames := make([]string, 0, len(sections))
	for s := range sections {
		secNames = append(secNames, s)
	}
	sort.Strings(secNames)
	for _, s := range secNames {
		names := sections[s]
		sort.Strings(names)
		fmt.Fprintf(&b, "%s: %s\n%s:", s, strings.Join(names, " "), s)
		for _, n := range names {
			fmt.Fprintf(&b, " %d", raw[s+"."+n])
		}
		b.WriteString("\n")
	}
	if len(flat) > 0 && b.Len() == 0 {
		sort.Strings(flat)
		for _, k := range flat {
			fmt.Fprintf(&b, "%s %d\n", k, raw[k])
		}
	}
	return []byte(b.String())
}

func FuzzParseNetTools(f *testing.F) {
	seed(f, []string{"linux-nettools"},
		"Tcp:\n    5 segments send out\n    3 segments retransmited\n    InCsumErrors: 2\nUdp:\n",
		"Icmp:\n    ICMP input histogram:\n        echo requests: 4\nIp:\n",
		"error parsing /proc/net/snmp: x\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseNetTools(data)
		checkReading(t, data, r, err)
		if err == nil {
			r2, err2 := ParseNetTools(data)
			if err2 != nil || !reflect.DeepEqual(r, r2) {
				t.Fatal("parse is not deterministic")
			}
		}
	})
}

func FuzzParseBSD(f *testing.F) {
	seed(f, []string{"darwin", "freebsd", "other"},
		"tcp:\n\t1 packet sent\n\t2 packets received\n",
		"            Tcp:\n                    5 acks(for 6 bytes)\n",
		"udp:\n\tOutput histogram:\n\t\techo: 3\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func([]byte) (*Reading, error){ParseDarwin, ParseFreeBSD, ParseBSD} {
			r, err := parse(data)
			checkReading(t, data, r, err)
		}
	})
}

func FuzzParseSolaris(f *testing.F) {
	seed(f, []string{"other"},
		"TCP: tcpRtoAlgorithm=     4 tcpRtoMin           =   200\ntcpInSegs = 9 tcpOutSegs=10\n",
		"UDP\n\tudpInDatagrams      =  5 udpOutDatagrams =  6\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseSolaris(data)
		checkReading(t, data, r, err)
	})
}

func FuzzParseFreeBSDJSON(f *testing.F) {
	f.Add([]byte(freebsdJSONSample))
	f.Add([]byte(`{"statistics":{"tcp":{"sent-packets":"12"}}}`))
	f.Add([]byte(`{"tcp":{"sent-packets":1.5}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseFreeBSDJSON(data)
		checkReading(t, data, r, err)
	})
}
