package netstat

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// solarisPair matches one "mibName = value" pair of Solaris `netstat -s`
// ("tcpOutDataBytes     =1216733"); a line holds one or two.
var solarisPair = regexp.MustCompile(`([A-Za-z][A-Za-z0-9]*)\s*=\s*(-?[0-9]+)`)

// ParseSolaris parses Solaris/illumos `netstat -s` text: MIB-II names and
// values in "name = value" pairs, with an optional protocol label ("TCP:")
// before the first pair of a block. The names are mapped to /proc naming
// ("tcpInSegs" becomes "Tcp.InSegs"), so the /proc column of the name table
// applies. MIB-II counters are 32 bits wide (Width 32). Negative values
// (tcpMaxConn -1) are constants, not counters, and are skipped.
func ParseSolaris(data []byte) (*Reading, error) {
	r := newReading(FormatSolaris)
	r.Width = 32
	text := string(data)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		r.warnf(false, "no newline at end of input; last line taken as complete")
	}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		ms := solarisPair.FindAllStringSubmatchIndex(trimmed, -1)
		if len(ms) == 0 {
			// A protocol label alone ("UDP") or a heading: no counters.
			if !strings.ContainsAny(trimmed, "0123456789=") {
				continue
			}
			r.warnf(true, "line %d: %q: no \"name = value\" pair; ignored", i+1, clip(trimmed))
			continue
		}
		// Whatever is left between the pairs must be blank or a label.
		rest := solarisPair.ReplaceAllString(trimmed, "")
		if strings.ContainsAny(rest, "0123456789=") {
			r.warnf(true, "line %d: %q: unreadable text between pairs; line dropped", i+1, clip(trimmed))
			continue
		}
		for _, m := range ms {
			name, val := trimmed[m[2]:m[3]], trimmed[m[4]:m[5]]
			if strings.HasPrefix(val, "-") {
				continue
			}
			v, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				r.warnf(true, "line %d: %s: number out of range; ignored", i+1, name)
				continue
			}
			r.setRaw(solarisKey(name), v)
		}
	}
	if len(r.Raw) == 0 {
		return nil, fmt.Errorf("netstat: %s: %w (%s)", FormatSolaris, ErrNoData, strings.Join(r.Warnings, "; "))
	}
	r.deriveFromProc()
	return r, nil
}

// solarisKey turns a MIB-II name into /proc naming: "tcpInSegs" ->
// "Tcp.InSegs", "udpInDatagrams" -> "Udp.InDatagrams". A name without an
// upper-case letter is kept as is.
func solarisKey(name string) string {
	i := strings.IndexFunc(name, unicode.IsUpper)
	if i <= 0 {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:i] + "." + name[i:]
}
