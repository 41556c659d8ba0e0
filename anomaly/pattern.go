package anomaly

import (
	"fmt"
	"strings"

	"github.com/statsd-agent/statsd-agent/protocol"
)

// pattern is one parsed "TYPE:NAME:STAT" selector.
type pattern struct {
	typ  protocol.Type // 0 means any type
	name string        // glob
	stat string        // glob
}

var typeNames = map[string]protocol.Type{
	"counter": protocol.Counter, "gauge": protocol.Gauge, "timer": protocol.Timer,
	"histogram": protocol.Histogram, "distribution": protocol.Distribution, "set": protocol.Set,
}

// parseType returns the type named by s (protocol.Type.String's names).
func parseType(s string) (protocol.Type, bool) {
	t, ok := typeNames[s]
	return t, ok
}

func parsePattern(s string) (pattern, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return pattern{}, fmt.Errorf("anomaly: pattern %q: want TYPE:NAME:STAT, e.g. timer:api.*:upper_90", s)
	}
	p := pattern{name: parts[1], stat: parts[2]}
	if parts[0] != "*" {
		t, ok := parseType(parts[0])
		if !ok {
			return pattern{}, fmt.Errorf("anomaly: pattern %q: unknown type %q (counter, gauge, timer, histogram, distribution, set or *)", s, parts[0])
		}
		p.typ = t
	}
	return p, nil
}

// glob reports whether s matches g, where '*' matches any run of bytes
// (dots included) and '?' one byte. It runs in O(len(g)*len(s)) at worst.
func glob(g, s string) bool {
	gi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case gi < len(g) && (g[gi] == '?' || g[gi] == s[si]):
			gi++
			si++
		case gi < len(g) && g[gi] == '*':
			star, mark = gi, si
			gi++
		case star >= 0:
			gi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for gi < len(g) && g[gi] == '*' {
		gi++
	}
	return gi == len(g)
}
