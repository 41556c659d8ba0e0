package netstat

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseDarwin parses macOS `netstat -s` text (typically `netstat -s -p tcp`
// followed by `netstat -s -p udp`). macOS counters are 32 bits wide and wrap;
// the reading's Width is 32. Singular and plural wordings ("0 packet sent",
// "2 packets sent") are both understood.
func ParseDarwin(data []byte) (*Reading, error) {
	return parseBSD(data, FormatDarwin, 32)
}

// ParseFreeBSD parses FreeBSD `netstat -s` text (64-bit counters).
func ParseFreeBSD(data []byte) (*Reading, error) {
	return parseBSD(data, FormatFreeBSD, 64)
}

// ParseBSD parses other BSD-derived `netstat -s` text: NetBSD, OpenBSD,
// AIX, Junos `show system statistics`. It is the FreeBSD parser with a
// different Format label.
func ParseBSD(data []byte) (*Reading, error) {
	return parseBSD(data, FormatBSD, 64)
}

// parseBSD reads the BSD layout: a protocol header ("tcp:") at the left
// margin, then one counter per line, "<number> <wording>", indented. Each
// number is stored in Raw under "<protocol>: <normalised wording>" with the
// number replaced by N and any other number on the line by # (see
// normalizeWording), so singular and plural wordings share one key.
//
// A line with no number that is not a header is dropped with a warning and
// marks the reading Partial (a truncated capture usually ends in one). Lines
// before the first protocol header (an echoed command) are dropped with a
// warning only.
func parseBSD(data []byte, format string, width int) (*Reading, error) {
	r := newReading(format)
	r.Width = width
	text := string(data)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		r.warnf(false, "no newline at end of input; last line taken as complete")
	}
	var (
		section    string
		baseIndent = -1
		sub        string // current sub-header ("output histogram")
		subIndent  int
	)
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		ln := i + 1
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		toks := tokenize(trimmed)
		nums := numberPositions(toks)
		if sub != "" && indent <= subIndent {
			sub = ""
		}
		if len(nums) == 0 {
			if strings.HasSuffix(trimmed, ":") {
				name := strings.TrimSuffix(trimmed, ":")
				if !strings.ContainsAny(name, " \t") && (baseIndent < 0 || indent <= baseIndent) {
					section, sub = strings.ToLower(name), ""
					if baseIndent < 0 {
						baseIndent = indent
					}
					continue
				}
				if section != "" {
					sub, subIndent = normalizeWording(name), indent
					continue
				}
			}
			if section == "" {
				r.warnf(false, "line %d: %q before any protocol header; ignored", ln, clip(trimmed))
				continue
			}
			// Junos prints sub-headers without a colon ("Output
			// Histogram"): a line followed by deeper-indented lines.
			if next := nextIndent(lines[i+1:]); next > indent {
				sub, subIndent = normalizeWording(trimmed), indent
				continue
			}
			r.warnf(true, "line %d: %q has no number; ignored", ln, clip(trimmed))
			continue
		}
		if section == "" {
			r.warnf(true, "line %d: %q before any protocol header; ignored", ln, clip(trimmed))
			continue
		}
		prefix := section + ": "
		if sub != "" {
			prefix += sub + ": "
		}
		for _, pos := range nums {
			v, err := strconv.ParseUint(toks[pos], 10, 64)
			if err != nil { // too large
				r.warnf(true, "line %d: %q: number out of range; ignored", ln, clip(toks[pos]))
				continue
			}
			key := prefix + template(toks, nums, pos)
			if _, dup := r.Raw[key]; !dup { // the first of two same wordings wins
				r.Raw[key] = v
			}
		}
	}
	if len(r.Raw) == 0 {
		return nil, fmt.Errorf("netstat: %s: %w (%s)", format, ErrNoData, strings.Join(r.Warnings, "; "))
	}
	r.deriveFrom(bsdDefs)
	return r, nil
}

// nextIndent returns the indentation of the first non-blank line, or -1.
func nextIndent(lines []string) int {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			return len(l) - len(strings.TrimLeft(l, " \t"))
		}
	}
	return -1
}

// tokenize splits a line on white space, with "(" and ")" as tokens of
// their own (Junos prints "acks(for 5 bytes)").
func tokenize(s string) []string {
	if strings.ContainsAny(s, "()") {
		s = strings.NewReplacer("(", " ( ", ")", " ) ").Replace(s)
	}
	return strings.Fields(s)
}

// numberPositions returns the indexes of the tokens that are unsigned
// decimal numbers.
func numberPositions(toks []string) []int {
	var pos []int
	for i, t := range toks {
		if isDigits(t) {
			pos = append(pos, i)
		}
	}
	return pos
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// template builds the normalised wording of toks with the number at want
// written as N and every other number as #.
func template(toks []string, nums []int, want int) string {
	out := make([]string, len(toks))
	copy(out, toks)
	for _, p := range nums {
		if p == want {
			out[p] = "N"
		} else {
			out[p] = "#"
		}
	}
	return normalizeWording(strings.Join(out, " "))
}

// normalizeWording makes wordings comparable: tokens split as by tokenize,
// lower case, a final "." dropped, and every word in the singular (a
// trailing "s" dropped, except after "s"), because macOS prints "1 packet"
// and "2 packets" and older net-tools printed "connections openings". The
// placeholders N and # are kept as they are.
func normalizeWording(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	toks := tokenize(s)
	for i, t := range toks {
		if t == "N" || t == "#" {
			continue
		}
		t = strings.ToLower(t)
		if len(t) > 2 && t[len(t)-1] == 's' && t[len(t)-2] != 's' {
			t = t[:len(t)-1]
		}
		toks[i] = t
	}
	return strings.Join(toks, " ")
}
