package netuitive

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// The JSON shapes of the ingest API (spec sections 4 and 5), written by
// json.go in the field order of the spec's examples; element arrays are
// always present (empty rather than absent), as the reference client sends
// them.
type (
	element struct {
		ID, Name, Type, Location string
		Tags                     []tag
		Attributes               []tag
		Metrics                  []metric
		// Samples[i] is the sample of Metrics[i].
		Samples []sample
	}
	// tag is a {name, value} pair; Null writes a null value (bare tag).
	tag struct {
		Name, Value string
		Null        bool
	}
	metric struct {
		ID, Type, Unit, SparseDataStrategy string
		Tags                               []tag
	}
	// sample holds the values named by the bits of has (fVal...).
	sample struct {
		MetricID  string
		Timestamp int64 // epoch milliseconds
		v         [6]float64
		has       uint8
	}
	event struct {
		Type, Title, Source string
		Timestamp           int64
		Tags                []tag
		ElementID, Level    string
		Message             string // omitted when ""
	}
)

// Sample value slots, in output order.
const (
	fVal = iota
	fMin
	fMax
	fAvg
	fSum
	fCnt
)

var sampleKeys = [6]string{"val", "min", "max", "avg", "sum", "cnt"}

// valSample is a sample with val only.
func valSample(v float64) sample {
	return sample{v: [6]float64{fVal: v}, has: 1 << fVal}
}

// aggSample is a sample with the five aggregates.
func aggSample(lo, hi, avg, sum, cnt float64) sample {
	return sample{v: [6]float64{0, lo, hi, avg, sum, cnt}, has: 0b111110}
}

func strTag(name, value string) tag { return tag{Name: name, Value: value} }

// bareNull converts a series tag: a bare tag's value is null.
func bareNull(name, value string) tag {
	return tag{Name: name, Value: value, Null: value == ""}
}

// kind is the endpoint a post goes to.
type kind uint8

const (
	kindIngest kind = iota
	kindEvents
)

func (k kind) String() string {
	if k == kindEvents {
		return "events"
	}
	return "ingest"
}

// post is one encoded request body. Timestamps are inside body, so a post
// that waits in the queue keeps its original times.
type post struct {
	kind kind
	body []byte
	// items is the number of samples (ingest) or events carried, for the
	// queue bound and the dropped counts.
	items int
}

// encoder turns a snapshot into posts. It is pure: the same snapshot and
// configuration give the same bytes.
type encoder struct {
	cfg *resolved
	ts  int64 // flush time, epoch ms
	// invalid counts samples dropped for non-finite values.
	invalid int
}

// encode returns the posts for one snapshot: the element posts (split at
// MaxMetricsPerPost metrics each), then the event posts. invalid is the
// number of series dropped because a value was NaN or infinite (JSON has no
// representation for them).
func encode(snap *aggregate.Snapshot, cfg *resolved) (posts []post, invalid int) {
	e := &encoder{cfg: cfg, ts: snap.Time.UnixMilli()}
	var elems []*element
	if cfg.vendor {
		elems = e.vendorElements(snap)
	} else {
		elems = []*element{e.defaultElement(snap)}
	}
	for _, el := range elems {
		if len(el.Metrics) > 0 { // the check-in, not an empty post, shows liveness
			posts = append(posts, e.split(el)...)
		}
	}
	var events []event
	if cfg.vendor {
		events = e.vendorEvents(snap)
	} else {
		events = e.defaultEvents(snap)
	}
	per := cfg.MaxMetricsPerPost
	if cfg.vendor {
		per = 1 // netuitive-statsd posts every event on its own
	}
	for len(events) > 0 {
		n := min(per, len(events))
		posts = append(posts, post{kind: kindEvents, body: appendEvents(nil, events[:n]), items: n})
		events = events[n:]
	}
	return posts, e.invalid
}

// newElement returns the configured element with empty arrays.
func (e *encoder) newElement() *element {
	c := e.cfg
	el := &element{ID: c.ElementID, Name: c.ElementName, Type: c.ElementType, Location: c.Location}
	for _, k := range sortedKeys(c.Tags) {
		el.Tags = append(el.Tags, strTag(k, c.Tags[k]))
	}
	for _, k := range sortedKeys(c.Attributes) {
		el.Attributes = append(el.Attributes, strTag(k, c.Attributes[k]))
	}
	return el
}

// split cuts an element into posts of at most MaxMetricsPerPost metrics,
// each carrying the samples of its metrics and the element's metadata.
func (e *encoder) split(el *element) []post {
	per := e.cfg.MaxMetricsPerPost
	var posts []post
	for i := 0; i < len(el.Metrics); i += per {
		j := min(i+per, len(el.Metrics))
		body := make([]byte, 0, 400*(j-i)+1024) // about 350 bytes per metric and sample
		body = append(body, '[')
		body = appendElement(body, el, el.Metrics[i:j], el.Samples[i:j])
		body = append(body, ']')
		posts = append(posts, post{kind: kindIngest, body: body, items: j - i})
	}
	return posts
}

// finite reports whether every value is a finite number.
func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// unit is the unit the default mapping gives a StatsD type: StatsD timers
// are milliseconds by convention; other types carry no unit.
func unit(t protocol.Type) string {
	if t == protocol.Timer {
		return "ms"
	}
	return ""
}

// sparse is the sparse-data strategy of the default mapping: an interval
// without a counter or set sample counted nothing, so zero is the truth; a
// gauge or distribution without a sample has no value to invent.
func sparse(t protocol.Type) string {
	if t == protocol.Counter || t == protocol.Set {
		return "ReplaceWithZero"
	}
	return "None"
}

// seriesTags converts series tags to metric tags after the statsdType tag.
func seriesTags(s *aggregate.Series) []tag {
	tags := make([]tag, 0, len(s.Tags)+1)
	tags = append(tags, strTag("statsdType", s.Type.Code()))
	for _, t := range s.Tags {
		tags = append(tags, bareNull(t.Key, t.Value))
	}
	return tags
}

// defaultID is the metric id of a series in the default mapping: the prefix,
// the sanitized name, then every tag as ".key_value" (".key" when bare), so
// that series that differ only by tags stay distinct metrics.
func (e *encoder) defaultID(s *aggregate.Series) string {
	var b strings.Builder
	b.WriteString(e.cfg.prefix)
	b.WriteString(sanitize(s.Name))
	for _, t := range s.Tags {
		b.WriteByte('.')
		b.WriteString(sanitize(t.Key))
		if t.Value != "" {
			b.WriteByte('_')
			b.WriteString(sanitize(t.Value))
		}
	}
	return b.String()
}

// defaultElement maps every series onto the configured element (see the
// package doc for the table).
func (e *encoder) defaultElement(snap *aggregate.Snapshot) *element {
	el := e.newElement()
	n := 0
	for i := range snap.Series {
		if d := snap.Series[i].Dist; d != nil {
			n += 2 + len(d.Percentiles)
		} else {
			n++
		}
	}
	el.Metrics, el.Samples = make([]metric, 0, n), make([]sample, 0, n)
	used := make(map[string]bool, n)
	unique := func(id string) string {
		if !used[id] {
			used[id] = true
			return id
		}
		for i := 2; ; i++ {
			alt := id + "_" + strconv.Itoa(i)
			if !used[alt] {
				used[alt] = true
				return alt
			}
		}
	}
	add := func(id, unit, sds string, tags []tag, smp sample) {
		el.Metrics = append(el.Metrics, metric{ID: id, Type: "GAUGE", Unit: unit, SparseDataStrategy: sds, Tags: tags})
		smp.MetricID, smp.Timestamp = id, e.ts
		el.Samples = append(el.Samples, smp)
	}
	for i := range snap.Series {
		s := &snap.Series[i]
		switch s.Type {
		case protocol.Counter, protocol.Gauge, protocol.Set:
			if !finite(s.Value) {
				e.invalid++
				continue
			}
			add(unique(e.defaultID(s)), unit(s.Type), sparse(s.Type), seriesTags(s), valSample(s.Value))
		case protocol.Timer, protocol.Histogram, protocol.Distribution:
			d := s.Dist
			if d == nil || d.N == 0 {
				continue // no observations: nothing to report
			}
			sum := d.Sum
			if d.Count != float64(d.N) {
				// Scale by the sample rate like cnt, so that avg = sum/cnt
				// holds in Netuitive's rollups.
				sum = d.Mean * d.Count
			}
			vals := []float64{d.Lower, d.Upper, d.Mean, sum, d.Count, d.Median}
			for _, p := range d.Percentiles {
				vals = append(vals, p.Bound)
			}
			if !finite(vals...) {
				e.invalid++
				continue
			}
			base := e.defaultID(s)
			tags := seriesTags(s)
			u := unit(s.Type)
			add(unique(base), u, "None", tags, aggSample(d.Lower, d.Upper, d.Mean, sum, d.Count))
			add(unique(base+".median"), u, "None", tags, valSample(d.Median))
			for _, p := range d.Percentiles {
				stat := "upper_" + aggregate.Suffix(p.Threshold)
				if p.Threshold < 0 {
					stat = "lower_" + aggregate.Suffix(p.Threshold)
				}
				add(unique(base+"."+stat), u, "None", tags, valSample(p.Bound))
			}
		}
	}
	return el
}

// Default-mapping event levels from the DogStatsD alert type.
func alertLevel(alertType string) string {
	switch strings.ToLower(alertType) {
	case "error":
		return "CRITICAL"
	case "warning":
		return "WARNING"
	}
	return "INFO"
}

var checkStatus = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

func statusWord(s int) string {
	if s >= 0 && s < len(checkStatus) {
		return checkStatus[s]
	}
	return "UNKNOWN"
}

// eventTime is the event's own time in epoch ms, or the flush time.
func (e *encoder) eventTime(unix int64) int64 {
	if unix > 0 {
		return unix * 1000
	}
	return e.ts
}

func (e *encoder) elementFor(host string) string {
	if h := sanitize(host); h != "" {
		return h
	}
	return e.cfg.ElementID
}

func convertTags(dst []tag, ts []protocol.Tag) []tag {
	for _, t := range ts {
		dst = append(dst, bareNull(t.Key, t.Value))
	}
	return dst
}

func appendTagIf(dst []tag, name, value string) []tag {
	if value == "" {
		return dst
	}
	return append(dst, strTag(name, value))
}

// defaultEvents maps DogStatsD events and service checks to INFO events.
func (e *encoder) defaultEvents(snap *aggregate.Snapshot) []event {
	var out []event
	for _, ev := range snap.Events {
		tags := convertTags(nil, ev.Tags)
		tags = appendTagIf(tags, "priority", ev.Priority)
		tags = appendTagIf(tags, "aggregation_key", ev.AggregationKey)
		tags = appendTagIf(tags, "source_type_name", ev.SourceType)
		tags = appendTagIf(tags, "alert_type", ev.AlertType)
		src := ev.SourceType
		if src == "" {
			src = "statsd-agent"
		}
		out = append(out, event{
			Type: "INFO", Title: ev.Title, Source: src, Timestamp: e.eventTime(ev.Timestamp), Tags: tags,
			ElementID: e.elementFor(ev.Hostname), Level: alertLevel(ev.AlertType), Message: ev.Text,
		})
	}
	for _, sc := range snap.ServiceChecks {
		word := statusWord(sc.Status)
		level := "INFO"
		switch sc.Status {
		case 1, 3: // an UNKNOWN check deserves attention too
			level = "WARNING"
		case 2:
			level = "CRITICAL"
		}
		tags := convertTags(nil, sc.Tags)
		tags = append(tags, strTag("check", sc.Name), strTag("status", word))
		out = append(out, event{
			Type: "INFO", Title: sc.Name + " - " + word, Source: "statsd-agent", Timestamp: e.eventTime(sc.Timestamp), Tags: tags,
			ElementID: e.elementFor(sc.Hostname), Level: level, Message: sc.Message,
		})
	}
	return out
}

// vendorElements reproduces netuitive-statsd (spec section 8): metric id
// "<prefix>.<name>" without tags (series that differ only by tags merge
// into one metric, the first series' tags win), type GAUGE, the statsdType
// tag first, reserved tags h (element), ty (element type), un (unit),
// sds (sparse data strategy) and v (element tag app.version).
func (e *encoder) vendorElements(snap *aggregate.Snapshot) []*element {
	main := e.newElement()
	main.Metrics = make([]metric, 0, len(snap.Series))
	main.Samples = make([]sample, 0, len(snap.Series))
	elems := []*element{main}
	byID := map[string]*element{main.ID: main}
	// where a metric id sits within its element and its type, for merging.
	type key struct{ el, metric string }
	type slot struct {
		i int
		t protocol.Type
	}
	at := make(map[key]slot, len(snap.Series))
	for i := range snap.Series {
		s := &snap.Series[i]
		var host, elType, un, sds, version string
		tags := []tag{strTag("statsdType", s.Type.Code())}
		for _, t := range s.Tags {
			switch t.Key {
			case "ty":
				elType = t.Value
				continue
			case "v":
				version = t.Value
				continue
			case "h":
				host = t.Value
			case "un":
				un = t.Value
			case "sds":
				sds = t.Value
			}
			tags = append(tags, bareNull(t.Key, t.Value))
		}
		el := main
		if h := sanitize(host); h != "" && h != main.ID {
			if el = byID[h]; el == nil {
				el = &element{ID: h, Name: h, Type: e.cfg.ElementType}
				byID[h] = el
				elems = append(elems, el)
			}
		}
		if elType != "" {
			el.Type = elType
		}
		if version != "" {
			el.Tags = setTag(el.Tags, "app.version", version)
		}
		if sds == "" {
			sds = "None"
		}
		var smp sample
		switch s.Type {
		case protocol.Counter, protocol.Gauge, protocol.Set:
			if !finite(s.Value) {
				e.invalid++
				continue
			}
			smp = valSample(s.Value)
		default:
			d := s.Dist
			if d == nil || d.N == 0 {
				continue
			}
			if !finite(d.Sum, d.Lower, d.Upper, d.Mean) {
				e.invalid++
				continue
			}
			// netuitive-statsd ignores the sample rate of timers: val = sum.
			n := float64(d.N)
			smp = aggSample(d.Lower, d.Upper, d.Mean, d.Sum, n)
			smp.v[fVal], smp.has = d.Sum, smp.has|1<<fVal
		}
		id := e.cfg.prefix + vendorName(s.Name)
		k := key{el.ID, id}
		smp.MetricID, smp.Timestamp = id, e.ts
		if sl, ok := at[k]; ok {
			if sl.t == s.Type {
				mergeVendor(&el.Samples[sl.i], &smp, s.Type)
				continue
			}
			// A type change restarts the metric with the new type.
			el.Metrics[sl.i] = metric{ID: id, Type: "GAUGE", Unit: un, SparseDataStrategy: sds, Tags: tags}
			el.Samples[sl.i] = smp
			at[k] = slot{sl.i, s.Type}
			continue
		}
		at[k] = slot{len(el.Metrics), s.Type}
		el.Metrics = append(el.Metrics, metric{ID: id, Type: "GAUGE", Unit: un, SparseDataStrategy: sds, Tags: tags})
		el.Samples = append(el.Samples, smp)
	}
	return elems
}

// mergeVendor folds a series into an earlier one with the same metric id,
// as netuitive-statsd aggregates lines of one name regardless of tags:
// counts and set sizes add up (set members of different tag sets are
// assumed distinct), a gauge takes the later value, distributions combine.
func mergeVendor(dst, src *sample, t protocol.Type) {
	d, s := &dst.v, &src.v
	switch t {
	case protocol.Counter, protocol.Set:
		d[fVal] += s[fVal]
	case protocol.Gauge:
		d[fVal] = s[fVal]
	default:
		d[fMin] = math.Min(d[fMin], s[fMin])
		d[fMax] = math.Max(d[fMax], s[fMax])
		d[fSum] += s[fSum]
		d[fCnt] += s[fCnt]
		d[fVal] = d[fSum]
		d[fAvg] = d[fSum] / d[fCnt]
	}
}

// vendorEvents reproduces netuitive-statsd's events: level from the
// priority (only "critical" and "warning" are recognised, which DogStatsD
// priorities never are), source "netuitive-statsd", whole-second times;
// service checks become events too.
func (e *encoder) vendorEvents(snap *aggregate.Snapshot) []event {
	var out []event
	ts := e.ts / 1000 * 1000
	for _, ev := range snap.Events {
		level := "INFO"
		switch p := strings.ToUpper(ev.Priority); p {
		case "CRITICAL", "WARNING":
			level = p
		}
		tags := convertTags(nil, ev.Tags)
		tags = appendTagIf(tags, "priority", ev.Priority)
		if ev.Timestamp > 0 {
			tags = appendTagIf(tags, "date_happened", strconv.FormatInt(ev.Timestamp, 10))
		}
		tags = appendTagIf(tags, "aggregation_key", ev.AggregationKey)
		tags = appendTagIf(tags, "source_type_name", ev.SourceType)
		tags = appendTagIf(tags, "alert_type", ev.AlertType)
		out = append(out, event{
			Type: "INFO", Title: ev.Title, Source: "netuitive-statsd", Timestamp: ts, Tags: tags,
			ElementID: e.elementFor(ev.Hostname), Level: level, Message: ev.Text,
		})
	}
	for _, sc := range snap.ServiceChecks {
		word := statusWord(sc.Status)
		level := "INFO"
		if sc.Status == 1 || sc.Status == 2 {
			level = word
		}
		tags := convertTags(nil, sc.Tags)
		tags = append(tags, strTag("priority", word))
		out = append(out, event{
			Type: "INFO", Title: sc.Name + " - " + word, Source: "netuitive-statsd", Timestamp: ts, Tags: tags,
			ElementID: e.elementFor(sc.Hostname), Level: level, Message: sc.Message,
		})
	}
	return out
}

func setTag(tags []tag, name, value string) []tag {
	for i := range tags {
		if tags[i].Name == name {
			tags[i] = strTag(name, value)
			return tags
		}
	}
	return append(tags, strTag(name, value))
}

// sanitize applies the reference client's rule: every character outside
// [a-zA-Z0-9._-] becomes '_'.
func sanitize(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if !idChar(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < 0x80 && idChar(byte(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func idChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// vendorName applies netuitive-statsd's parse-time name rule (spec 8.4), in
// its order: whitespace runs and '/' become '_', one leading '.' is removed,
// then every character outside [a-zA-Z0-9_.-] is removed.
func vendorName(s string) string {
	if s == sanitize(s) && !strings.HasPrefix(s, ".") {
		return s // already clean: sanitize returns s without allocating
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			if !space {
				b.WriteByte('_')
			}
			space = true
			continue
		case '/':
			r = '_'
		}
		b.WriteRune(r)
		space = false
	}
	s = strings.TrimPrefix(b.String(), ".")
	b.Reset()
	for _, r := range s {
		if r < 0x80 && idChar(byte(r)) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
