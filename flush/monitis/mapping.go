package monitis

import (
	"fmt"
	"hash/fnv"
	"math"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// DefaultStats are the statistics sent per series type when Config.Stats
// does not name the type. Entries are path.Match patterns over the keys of
// aggregate.Series.Values ("upper_*" selects every upper_P percentile).
var DefaultStats = map[string][]string{
	"counter":      {"count", "rate"},
	"gauge":        {"value"},
	"set":          {"count"},
	"timer":        {"count", "mean", "lower", "upper", "median", "upper_*"},
	"histogram":    {"count", "mean", "lower", "upper", "median", "upper_*"},
	"distribution": {"count", "mean", "lower", "upper", "median", "upper_*"},
}

// The netstat monitor's result params (spec §8), fed from the netstat
// probe's series. The names after the prefix are the netstat package's
// documented names (a test checks they agree).
var netstatParams = []struct {
	series string
	param  ResultParam
}{
	{"tcp.segments_in", ResultParam{"tcp_packets_in", "TCP Packets In", "pkts/s", Integer}},
	{"tcp.segments_out", ResultParam{"tcp_packets_out", "TCP Packets Out", "pkts/s", Integer}},
	{"udp.datagrams_in", ResultParam{"udp_packets_in", "UDP Packets In", "pkts/s", Integer}},
	{"udp.datagrams_out", ResultParam{"udp_packets_out", "UDP Packets Out", "pkts/s", Integer}},
}

// NetstatResultParams returns the four result params of the netstat
// monitor, as the Monitis SDK's netstat example creates them.
func NetstatResultParams() []ResultParam {
	ps := make([]ResultParam, len(netstatParams))
	for i, n := range netstatParams {
		ps[i] = n.param
	}
	return ps
}

// Name limits. Monitis documents none (spec §7); these keep names readable
// and far from any plausible limit. Longer names are cut and end in a hash
// of the whole name, so distinct series stay distinct.
const (
	maxMonitorName = 200
	maxParamName   = 100
)

// pending is one addResult call waiting in the queue, with what is needed
// to provision its monitor.
type pending struct {
	monitor string        // monitor name
	tag     string        // tag for a new monitor
	params  []ResultParam // the params this result uses, for provisioning
	values  []ResultValue // parallel to params
	at      time.Time     // checktime: the flush time
}

// mapper turns snapshots into pending results (the pure encode step).
type mapper struct {
	tag           string
	include       []string
	exclude       []string
	groups        []string // longest first
	stats         map[protocol.Type][]string
	netstatOn     bool
	netstatPrefix string
	netstatName   string
}

func newMapper(cfg *Config) (*mapper, error) {
	m := &mapper{
		tag:           cfg.Tag,
		include:       cfg.Include,
		exclude:       cfg.Exclude,
		stats:         map[protocol.Type][]string{},
		netstatPrefix: cfg.NetstatPrefix,
		netstatName:   cfg.NetstatMonitor,
	}
	if m.tag == "" {
		m.tag = "statsd"
	}
	switch m.netstatPrefix {
	case "":
		m.netstatPrefix = "netstat."
	case "none":
		m.netstatPrefix = ""
	}
	if m.netstatName == "" {
		m.netstatName = "netstat"
	}
	m.netstatOn = m.netstatName != "-"
	for _, pats := range [][]string{cfg.Include, cfg.Exclude} {
		for _, p := range pats {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("monitis: pattern %q: %w", p, err)
			}
		}
	}
	for _, g := range cfg.Groups {
		g = strings.TrimSuffix(g, ".")
		if g == "" {
			return nil, fmt.Errorf("monitis: empty group prefix")
		}
		m.groups = append(m.groups, g)
	}
	sort.Slice(m.groups, func(i, j int) bool { return len(m.groups[i]) > len(m.groups[j]) })
	types := map[string]protocol.Type{"counter": protocol.Counter, "gauge": protocol.Gauge, "set": protocol.Set,
		"timer": protocol.Timer, "histogram": protocol.Histogram, "distribution": protocol.Distribution}
	for name, pats := range cfg.Stats {
		if _, ok := types[name]; !ok {
			return nil, fmt.Errorf("monitis: stats: unknown series type %q (want counter, gauge, set, timer, histogram or distribution)", name)
		}
		for _, p := range pats {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("monitis: stats.%s: pattern %q: %w", name, p, err)
			}
		}
	}
	for name, t := range types {
		pats, ok := cfg.Stats[name]
		if !ok {
			pats = DefaultStats[name]
		}
		m.stats[t] = pats
	}
	return m, nil
}

// selected reports whether the include/exclude patterns let name through.
func (m *mapper) selected(name string) bool {
	for _, p := range m.exclude {
		if ok, _ := path.Match(p, name); ok {
			return false
		}
	}
	if len(m.include) == 0 {
		return true
	}
	for _, p := range m.include {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func (m *mapper) wantStat(t protocol.Type, key string) bool {
	for _, p := range m.stats[t] {
		if ok, _ := path.Match(p, key); ok {
			return true
		}
	}
	return false
}

// encode maps a snapshot to pending results, one per monitor, in monitor
// name order. conflicts counts statistics skipped because two series
// mapped to the same result param of the same monitor.
func (m *mapper) encode(s *aggregate.Snapshot) (out []*pending, conflicts int) {
	byMonitor := map[string]*pending{}
	type key struct{ monitor, param string }
	seen := map[key]struct{}{}
	get := func(name, tag string) *pending {
		p := byMonitor[name]
		if p == nil {
			p = &pending{monitor: name, tag: tag, at: s.Time}
			byMonitor[name] = p
		}
		return p
	}
	add := func(p *pending, rp ResultParam, value string) {
		k := key{p.monitor, rp.Name}
		if _, dup := seen[k]; dup {
			conflicts++
			return
		}
		seen[k] = struct{}{}
		p.params = append(p.params, rp)
		p.values = append(p.values, ResultValue{rp.Name, value})
	}
	var vals []aggregate.Value
	for i := range s.Series {
		sr := &s.Series[i]
		if !m.selected(sr.Name) {
			continue
		}
		if m.netstatOn && m.netstat(sr, get, add) {
			continue
		}
		monitor, paramBase, display := m.target(sr)
		p := get(monitor, m.tag)
		vals = sr.AppendValues(vals[:0])
		for _, v := range vals {
			if !m.wantStat(sr.Type, v.Key) {
				continue
			}
			text, ok := FormatValue(v.Value)
			if !ok {
				continue
			}
			name := sanitizeParam(v.Key)
			disp := v.Key
			if paramBase != "" {
				name = limit(paramBase+"_"+name, maxParamName)
				disp = display + " " + v.Key
			}
			add(p, ResultParam{Name: name, DisplayName: disp, UOM: uom(sr.Type, v.Key), DataType: Float}, text)
		}
	}
	out = make([]*pending, 0, len(byMonitor))
	for _, p := range byMonitor {
		if len(p.values) > 0 {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].monitor < out[j].monitor })
	return out, conflicts
}

// netstat maps the netstat probe's series to the netstat monitor, as
// integers: the four of the SDK's example (tcp_packets_in, ...) and every
// other counter as packets (or events) per second over the interval, named
// after the probe's name ("tcp.retransmits" -> "tcp_retransmits"); gauges
// ("tcp.established") as their value. It reports whether sr was the
// probe's.
func (m *mapper) netstat(sr *aggregate.Series, get func(string, string) *pending, add func(*pending, ResultParam, string)) bool {
	if len(sr.Tags) != 0 || !strings.HasPrefix(sr.Name, m.netstatPrefix) || (sr.Type != protocol.Counter && sr.Type != protocol.Gauge) {
		return false
	}
	rest := sr.Name[len(m.netstatPrefix):]
	if rest == "" {
		return false
	}
	p := get(m.netstatName, "netstat")
	if sr.Type == protocol.Gauge {
		if text, ok := FormatValue(math.Round(sr.Value)); ok {
			add(p, ResultParam{Name: limit(sanitizeParam(rest), maxParamName), DisplayName: rest, UOM: "N/A", DataType: Integer}, text)
		}
		return true
	}
	text, ok := FormatValue(math.Round(sr.Rate))
	if !ok {
		return true
	}
	for _, n := range netstatParams {
		if rest == n.series {
			add(p, n.param, text)
			return true
		}
	}
	add(p, ResultParam{Name: limit(sanitizeParam(rest), maxParamName), DisplayName: rest, UOM: "/s", DataType: Integer}, text)
	return true
}

// target returns the monitor of a series and, for a grouped series, the
// base of its param names and its display name.
func (m *mapper) target(sr *aggregate.Series) (monitor, paramBase, display string) {
	for _, g := range m.groups {
		if sr.Name == g || strings.HasPrefix(sr.Name, g+".") {
			rest := strings.TrimPrefix(strings.TrimPrefix(sr.Name, g), ".")
			if rest == "" {
				rest = "value"
			}
			display = rest
			base := rest
			if len(sr.Tags) > 0 {
				display += " " + sr.TagString()
				for _, t := range sr.Tags {
					base += "_" + t.Key
					if t.Value != "" {
						base += "_" + t.Value
					}
				}
			}
			return limit(sanitizeName(g), maxMonitorName), sanitizeParam(base), display
		}
	}
	return monitorName(sr), "", ""
}

// monitorName is the default monitor name of a series: the sanitised name,
// then ",key=value" per tag (",key" for a bare tag), InfluxDB style.
func monitorName(sr *aggregate.Series) string {
	var b strings.Builder
	b.WriteString(sanitizeName(sr.Name))
	for _, t := range sr.Tags {
		b.WriteByte(',')
		b.WriteString(sanitizeName(t.Key))
		if t.Value != "" {
			b.WriteByte('=')
			b.WriteString(sanitizeName(t.Value))
		}
	}
	return limit(b.String(), maxMonitorName)
}

// sanitizeName keeps letters, digits, '_', '.' and '-' and replaces every
// other byte with '_'. Monitis documents no character set for names
// (spec §7); this set survives every encoding scheme its clients used.
func sanitizeName(s string) string {
	return sanitize(s, func(c byte) bool { return isAlnum(c) || c == '_' || c == '.' || c == '-' })
}

// sanitizeParam keeps letters, digits and '_' (param names are identifiers
// in the SDKs and keys of getMonitorResults' JSON).
func sanitizeParam(s string) string {
	return sanitize(s, func(c byte) bool { return isAlnum(c) || c == '_' })
}

func sanitize(s string, keep func(byte) bool) string {
	if s == "" {
		return "_"
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !keep(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !keep(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// limit cuts s to max bytes, ending it in "~" and 8 hex digits of a hash
// of the whole of s.
func limit(s string, max int) string {
	if len(s) <= max {
		return s
	}
	h := fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("%s~%08x", s[:max-9], h.Sum32())
}

// uom is the unit of a statistic: "ms" for a timer's values, "/s" for
// rates, "N/A" otherwise.
func uom(t protocol.Type, key string) string {
	switch {
	case key == "rate" || key == "count_ps":
		return "/s"
	case t == protocol.Timer && !strings.HasPrefix(key, "count") && !strings.HasPrefix(key, "sum_squares"):
		return "ms"
	}
	return "N/A"
}
