package protocol

import (
	"bytes"
	"slices"
)

// Options configures a Parser. The zero value is the documented default:
// strict types, reference gauge deltas, reference name sanitising and at most
// 1024 values per line.
type Options struct {
	// UnknownTypeAsCounter makes an unknown type token with a numeric value
	// count as a counter, as the reference server does ("zz:4|zz" counts 4).
	// Off by default: an unknown type is ErrUnknownType.
	UnknownTypeAsCounter bool
	// NoGaugeDeltas turns off gauge deltas (gauge_deltas=false): "+N" and
	// "-N" set the gauge to +N / -N instead of adding, and Delta stays false.
	NoGaugeDeltas bool
	// NoSanitize keeps metric names as received instead of applying the
	// reference key sanitiser (whitespace runs to '_', '/' to '-', then every
	// byte outside [A-Za-z0-9_.;=-] deleted).
	NoSanitize bool
	// MaxValuesPerLine bounds the number of samples one line may carry
	// (DogStatsD packed values or legacy multi-sample chunks); a line with
	// more is rejected with ErrTooManyValues. 0 (or less) means 1024.
	MaxValuesPerLine int
}

// DefaultMaxValuesPerLine is the limit used when Options.MaxValuesPerLine is 0.
const DefaultMaxValuesPerLine = 1024

// Result is what one line parses to: metric samples, or one event, or one
// service check. The zero Result (an empty line) holds nothing.
type Result struct {
	// Samples are the metric samples of the line. The slice and the bytes
	// its samples point to belong to the Parser and are valid only until its
	// next Parse call.
	Samples []Sample
	// Event is set for a DogStatsD event line. It owns its memory.
	Event *Event
	// ServiceCheck is set for a DogStatsD service check line. It owns its
	// memory.
	ServiceCheck *ServiceCheck
}

// Parser parses lines of the StatsD protocol. Its zero value is not usable;
// call NewParser. A Parser reuses its scratch memory across calls, so it must
// not be used by more than one goroutine at a time; give each reader its own.
type Parser struct {
	opts    Options
	maxVals int

	buf     []byte    // names, canonical tags, set members, container IDs
	tagTmp  []byte    // tag text that had to be cleaned of ',', '\r', '\n'
	samples []Sample  // the samples of the current line
	spans   []tagSpan // the tags of the current line, before canonicalising
}

// tagSpan is one tag of the line being parsed: its text, "key", "key:value"
// or (name-embedded tags) "key=value", and the length of its key. A tag with
// a value has klen < len(text): text[klen] is the separator.
type tagSpan struct {
	text []byte
	klen int
}

func (s *tagSpan) key() []byte  { return s.text[:s.klen] }
func (s *tagSpan) hasVal() bool { return s.klen < len(s.text) }

// val returns the value of the tag, nil for a bare tag.
func (s *tagSpan) val() []byte {
	if !s.hasVal() {
		return nil
	}
	return s.text[s.klen+1:]
}

// fieldState collects the optional fields of a metric line.
type fieldState struct {
	rate      float64 // 0 when absent
	timestamp int64
	container []byte
	dogTags   bool // a |# section was present
}

// NewParser returns a Parser with the given options.
func NewParser(opts Options) *Parser {
	p := &Parser{opts: opts, maxVals: opts.MaxValuesPerLine}
	if p.maxVals <= 0 {
		p.maxVals = DefaultMaxValuesPerLine
	}
	p.buf = make([]byte, 0, 512)
	p.tagTmp = make([]byte, 0, 64)
	p.samples = make([]Sample, 0, 8)
	p.spans = make([]tagSpan, 0, 16)
	return p
}

// Parse parses one line. The line carries no terminator; one trailing '\r'
// is accepted and ignored. An empty line gives the zero Result and no error.
//
// The samples of the Result point into the Parser's scratch memory and are
// valid until the next call. A line that carries several samples (DogStatsD
// packed values "n:1:2:3|ms" or reference multi-sample "n:1|c:2|ms") where
// some values are bad gives the good samples and the first error; every
// other error rejects the whole line and gives no samples. Every error is
// (or wraps) one of the package's sentinel errors; Reason labels it.
//
// Parse does not allocate for metric lines once the Parser's scratch memory
// has grown to fit them. Event and service check lines allocate.
func (p *Parser) Parse(line []byte) (Result, error) {
	p.buf = p.buf[:0]
	p.tagTmp = p.tagTmp[:0]
	p.samples = p.samples[:0]
	p.spans = p.spans[:0]

	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		return Result{}, nil
	}
	if line[0] == '_' && len(line) >= 3 {
		if line[1] == 'e' && line[2] == '{' {
			ev, err := p.parseEvent(line)
			if err != nil {
				return Result{}, err
			}
			return Result{Event: ev}, nil
		}
		if len(line) >= 4 && line[1] == 's' && line[2] == 'c' && line[3] == '|' {
			sc, err := p.parseServiceCheck(line)
			if err != nil {
				return Result{}, err
			}
			return Result{ServiceCheck: sc}, nil
		}
	}
	samples, err := p.parseMetric(line)
	return Result{Samples: samples}, err
}

// parseMetric parses a metric line in any of its dialects.
func (p *Parser) parseMetric(line []byte) ([]Sample, error) {
	// One pass over the name finds its end (the first ':'), the first
	// name-embedded tag delimiter, and whether the sanitiser has work to do.
	colon, delim, dirty := -1, -1, false
scan:
	for i := 0; i < len(line); i++ {
		// Four bytes a step (scanPlain is 0), then one at a time.
		for i+4 <= len(line) && scanClass[line[i]]|scanClass[line[i+1]]|
			scanClass[line[i+2]]|scanClass[line[i+3]] == scanPlain {
			i += 4
		}
		for i < len(line) && scanClass[line[i]] == scanPlain {
			i++
		}
		if i == len(line) {
			break
		}
		switch scanClass[line[i]] {
		case scanColon:
			colon = i
			break scan
		case scanPipe:
			return nil, ErrNoValue
		case scanDelim:
			if delim < 0 {
				delim = i
			}
		default:
			dirty = true
		}
	}
	if colon < 0 {
		return nil, ErrNoValue
	}
	if colon == 0 {
		return nil, ErrEmptyName
	}
	rest := line[colon+1:]
	// The value field is short: a byte loop finds its end faster than an
	// IndexByte call, and notes whether it packs several values.
	pipe, packed := -1, false
	for i, c := range rest {
		if c == '|' {
			pipe = i
			break
		}
		if c == ':' {
			packed = true
		}
	}
	if pipe < 0 {
		if len(rest) == 0 {
			return nil, ErrNoValue
		}
		return nil, ErrNoType
	}

	name, styled, err := p.parseName(line[:colon], delim, dirty)
	if err != nil {
		return nil, err
	}

	typeField, opt := typeField(rest[pipe+1:])
	for _, c := range typeField { // one or two bytes: no IndexByte call
		if c == ':' {
			return p.parseLegacy(name, styled, rest)
		}
	}
	// A legacy line needs an '@' field holding a ':', which never parses
	// as a rate: only a line whose type or fields fail can be legacy, so
	// isLegacy runs on the error paths only.
	typ, err := p.parseType(typeField)
	if err != nil {
		if isLegacy(typeField, opt) {
			return p.parseLegacy(name, styled, rest)
		}
		return nil, err
	}
	var st fieldState
	if opt != nil {
		nspans, ntmp := len(p.spans), len(p.tagTmp)
		if err := p.parseFields(opt, &st); err != nil {
			if isLegacy(typeField, opt) {
				// Drop what the failed pass added; parseLegacy parses
				// the fields again.
				p.spans, p.tagTmp = p.spans[:nspans], p.tagTmp[:ntmp]
				return p.parseLegacy(name, styled, rest)
			}
			return nil, err
		}
		if styled && st.dogTags {
			return nil, ErrMixedTagStyles
		}
	}
	p.samples = append(p.samples, Sample{})
	p.template(&p.samples[0], name, typ, &st)
	return p.appendValues(rest[:pipe], packed)
}

// typeField splits b, everything after the value's '|', into the type
// field and the fields after it (nil when there are none), like nextField,
// but looks for the '|' byte by byte first: the type field is one or two
// bytes long.
func typeField(b []byte) (field, rest []byte) {
	for i := 0; i < len(b) && i < 3; i++ {
		if b[i] == '|' {
			return b[:i], b[i+1:]
		}
	}
	if len(b) <= 3 {
		return b, nil // the whole of b was looked at
	}
	return nextField(b)
}

// Byte classes for the scan of a metric name.
const (
	scanPlain = iota // kept as is by the sanitiser
	scanColon
	scanPipe
	scanDelim // starts name-embedded tags: ',' ';' '#' '['
	scanDirty // changed or deleted by the sanitiser
)

var scanClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c == ':':
			t[c] = scanColon
		case c == '|':
			t[c] = scanPipe
		case c == ',', c == ';', c == '#', c == '[':
			t[c] = scanDelim
		case nameClass[c] == clsKeep:
			t[c] = scanPlain
		default:
			t[c] = scanDirty
		}
	}
	return t
}()

// isLegacy reports whether a line is a reference multi-sample line
// ("n:1|c:2|ms") rather than a DogStatsD one, given its type field and the
// fields after it: the type field holds a ':', or a later field starts with
// '@' and holds a ':' ("n:1|c|@0.5:2|c"). Colons in other fields (tags,
// "c:", "e:", "card:") never make a line legacy.
func isLegacy(typeField, opt []byte) bool {
	for _, c := range typeField { // one or two bytes: no IndexByte call
		if c == ':' {
			return true
		}
	}
	for opt != nil {
		var f []byte
		f, opt = nextField(opt)
		if len(f) > 0 && f[0] == '@' && bytes.IndexByte(f, ':') >= 0 {
			return true
		}
	}
	return false
}

// parseLegacy parses a reference multi-sample line. rest is everything after
// the name's ':'. The part before the first "|#" is split on ':' into chunks
// "value|type[|@rate]"; the fields from "|#" on apply to every chunk.
func (p *Parser) parseLegacy(name []byte, styled bool, rest []byte) ([]Sample, error) {
	body := rest
	var shared []byte
	if i := bytes.Index(rest, []byte("|#")); i >= 0 {
		body, shared = rest[:i], rest[i+1:]
	}
	var st fieldState
	if err := p.parseFields(shared, &st); err != nil {
		return nil, err
	}
	if styled && st.dogTags {
		return nil, ErrMixedTagStyles
	}
	if bytes.Count(body, []byte{':'})+1 > p.maxVals {
		return nil, ErrTooManyValues
	}
	var tmpl Sample
	p.template(&tmpl, name, 0, &st)
	var first error
	for body != nil {
		var chunk []byte
		if i := bytes.IndexByte(body, ':'); i >= 0 {
			chunk, body = body[:i], body[i+1:]
		} else {
			chunk, body = body, nil
		}
		if err := p.parseChunk(&tmpl, chunk); err != nil && first == nil {
			first = err
		}
	}
	return p.result(), first
}

// parseChunk parses one "value|type[|@rate]" chunk of a legacy line and
// appends its sample.
func (p *Parser) parseChunk(shared *Sample, chunk []byte) error {
	pipe := bytes.IndexByte(chunk, '|')
	if pipe < 0 {
		if len(chunk) == 0 {
			return ErrNoValue
		}
		return ErrNoType
	}
	typeField, opt := nextField(chunk[pipe+1:])
	typ, err := p.parseType(typeField)
	if err != nil {
		return err
	}
	st := fieldState{rate: shared.SampleRate, timestamp: shared.Timestamp}
	if err := p.parseFields(opt, &st); err != nil {
		return err
	}
	if st.dogTags {
		// Unreachable: the line was cut before its first "|#".
		return ErrInvalidTags
	}
	tmpl := *shared
	tmpl.Type = typ
	tmpl.SampleRate = st.rate
	tmpl.Timestamp = st.timestamp
	if st.container != nil {
		tmpl.ContainerID = p.copyClean(st.container)
	}
	val := chunk[:pipe]
	if typ == Set {
		tmpl.SetMember = p.member(val)
	} else {
		if len(val) == 0 {
			return ErrNoValue
		}
		if tmpl.Value, tmpl.Delta, err = p.number(typ, val); err != nil {
			return err
		}
	}
	p.samples = append(p.samples, tmpl)
	return nil
}

// template builds the fields shared by every sample of a line: name,
// canonical tags, rate, timestamp and container ID.
func (p *Parser) template(s *Sample, name []byte, typ Type, st *fieldState) {
	s.Name, s.Type, s.SampleRate, s.Timestamp = name, typ, st.rate, st.timestamp
	if s.SampleRate == 0 {
		s.SampleRate = 1
	}
	if len(p.spans) > 0 {
		s.Tags = p.canonicalTags()
	}
	if len(st.container) > 0 {
		s.ContainerID = p.copyClean(st.container)
	}
}

// appendValues appends the samples of a DogStatsD value field: one set
// member, or one or more ':'-separated numbers (empty ones skipped). The
// line's first sample, p.samples[0], already holds every other field: it is
// filled in with the first value and copied for the others.
//
// packed reports whether values holds a ':'; without one it is a single
// value and needs no split.
func (p *Parser) appendValues(values []byte, packed bool) ([]Sample, error) {
	if p.samples[0].Type == Set {
		// Sets take the whole field as one opaque member; DogStatsD does not
		// allow packing for sets.
		p.samples[0].SetMember = p.member(values)
		return p.result(), nil
	}
	if !packed {
		// One value, the common case.
		s := &p.samples[0]
		if len(values) == 0 {
			p.samples = p.samples[:0]
			return nil, ErrNoValue
		}
		v, delta, err := p.number(s.Type, values)
		if err != nil {
			p.samples = p.samples[:0]
			return nil, err
		}
		s.Value, s.Delta = v, delta
		return p.samples[:1:1], nil
	}
	var first error
	n, made := 0, 0
	for values != nil {
		var b []byte
		if i := bytes.IndexByte(values, ':'); i >= 0 {
			b, values = values[:i], values[i+1:]
		} else {
			b, values = values, nil
		}
		if len(b) == 0 {
			continue
		}
		if n++; n > p.maxVals {
			p.samples = p.samples[:0]
			return nil, ErrTooManyValues
		}
		v, delta, err := p.number(p.samples[0].Type, b)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		if made > 0 {
			p.samples = append(p.samples, p.samples[0])
		}
		s := &p.samples[len(p.samples)-1]
		s.Value, s.Delta = v, delta
		made++
	}
	if made == 0 {
		p.samples = p.samples[:0]
		if n == 0 {
			return nil, ErrNoValue
		}
		return nil, first
	}
	return p.result(), first
}

// number parses one value of a sample of type t.
func (p *Parser) number(t Type, b []byte) (v float64, delta bool, err error) {
	v, signed, ok := parseNumber(b)
	if !ok {
		return 0, false, ErrInvalidValue
	}
	switch t {
	case Timer:
		// The reference rejects negative timers (R3.6); -0 is fine.
		// Histograms and distributions take negative values, as DogStatsD
		// does.
		if v < 0 {
			return 0, false, ErrNegativeTimer
		}
	case Gauge:
		delta = signed && !p.opts.NoGaugeDeltas
	}
	return v, delta, nil
}

// member copies a set member into p.buf; an empty member is "0", as in the
// reference server.
func (p *Parser) member(b []byte) []byte {
	if len(b) == 0 {
		return zeroMember
	}
	start := len(p.buf)
	p.buf = append(p.buf, b...)
	return p.buf[start:len(p.buf):len(p.buf)]
}

var zeroMember = []byte{'0'}

// result returns the samples of the current line, capped so that appending
// to the returned slice cannot overwrite the Parser's memory.
func (p *Parser) result() []Sample {
	if len(p.samples) == 0 {
		return nil
	}
	return p.samples[:len(p.samples):len(p.samples)]
}

// parseType parses a type token.
func (p *Parser) parseType(b []byte) (Type, error) {
	switch len(b) {
	case 0:
		return 0, ErrNoType
	case 1:
		switch b[0] {
		case 'c':
			return Counter, nil
		case 'g':
			return Gauge, nil
		case 'h':
			return Histogram, nil
		case 'd':
			return Distribution, nil
		case 's':
			return Set, nil
		}
	case 2:
		if b[0] == 'm' && b[1] == 's' {
			return Timer, nil
		}
	}
	if p.opts.UnknownTypeAsCounter {
		return Counter, nil
	}
	return 0, ErrUnknownType
}

// parseFields parses the '|'-separated optional fields of a metric line
// (everything after the type field) into st.
func (p *Parser) parseFields(opt []byte, st *fieldState) error {
	for opt != nil {
		if len(opt) > 0 && opt[0] == '#' {
			// The tag section is scanned once, for its end and its tags.
			st.dogTags = true
			var err error
			if opt, err = p.parseDogTags(opt[1:]); err != nil {
				return err
			}
			continue
		}
		var f []byte
		f, opt = nextField(opt)
		if err := p.parseField(f, st); err != nil {
			return err
		}
	}
	return nil
}

// parseField parses one optional field of a metric line other than a "#tags"
// section, which parseFields hands to parseDogTags. Known fields: "@rate",
// "T<unix>", "c:<container>"; "e:" and "card:" (DogStatsD
// origin detection) and any other "key:..." field are ignored, as the Datadog
// agent does, so newer protocol versions never cost a sample. Empty fields
// are ignored. A bare number is a sample rate missing its '@'
// (ErrInvalidRate); anything else is ErrUnknownField.
func (p *Parser) parseField(f []byte, st *fieldState) error {
	if len(f) == 0 {
		return nil
	}
	switch f[0] {
	case '@':
		r, _, ok := parseNumber(f[1:])
		if !ok || !(r > 0 && r <= 1) {
			return ErrInvalidRate
		}
		st.rate = r
		return nil
	case 'T':
		ts, ok := parseUnix(f[1:])
		if !ok {
			return ErrInvalidTimestamp
		}
		st.timestamp = ts
		return nil
	case 'c':
		if len(f) >= 2 && f[1] == ':' {
			st.container = f[2:]
			return nil
		}
	}
	if isExtensionField(f) {
		return nil
	}
	if c := f[0]; c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' {
		return ErrInvalidRate
	}
	return ErrUnknownField
}

// isExtensionField reports whether f looks like a DogStatsD "key:value"
// extension field: a letter, then letters, digits, '_' or '-', then ':'.
func isExtensionField(f []byte) bool {
	if len(f) == 0 || !isLetter(f[0]) {
		return false
	}
	for i := 1; i < len(f); i++ {
		c := f[i]
		switch {
		case c == ':':
			return true
		case isLetter(c), c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// nextField splits b at its first '|'. rest is nil when b holds no '|'.
func nextField(b []byte) (field, rest []byte) {
	if i := bytes.IndexByte(b, '|'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// parseName parses the name part of a metric line: it extracts tags in the
// InfluxDB (name,k=v,k2=v2), Graphite (name;k=v;k2=v2), Librato
// (name#k=v,k2=v2) or SignalFx (name[k=v,k2=v2]suffix) style into p.spans,
// and copies the base name, sanitised unless disabled, into p.buf. delim is
// the index of the first of ',', ';', '#' or '[' (which decides the style),
// or -1; dirty reports whether raw holds bytes the sanitiser changes. styled
// reports whether the name used a tag style.
func (p *Parser) parseName(raw []byte, delim int, dirty bool) (name []byte, styled bool, err error) {
	start := len(p.buf)
	if delim < 0 {
		p.buf = append(p.buf, raw...)
		if dirty && !p.opts.NoSanitize {
			p.buf = p.buf[:start+sanitize(p.buf[start:])]
			if len(p.buf) == start {
				return nil, false, ErrEmptyName
			}
		}
		return p.buf[start:len(p.buf):len(p.buf)], false, nil
	}

	tags := raw[delim+1:]
	sep := byte(',')
	var suffix []byte
	switch raw[delim] {
	case ';':
		sep = ';'
	case '[':
		end := bytes.IndexByte(tags, ']')
		if end < 0 {
			return nil, false, ErrInvalidTags
		}
		suffix = tags[end+1:]
		for _, c := range suffix {
			if scanClass[c] == scanDelim {
				return nil, false, ErrInvalidTags
			}
		}
		tags = tags[:end]
	}
	if bytes.IndexByte(tags, '=') < 0 {
		// Not a tag style after all: every style writes tags as k=v, so
		// with no '=' at all "cache#hits" or "a,b" is a plain name,
		// sanitised like any other (the reference server's "cachehits").
		return p.parseName(raw, -1, true)
	}
	p.buf = append(p.buf, raw[:delim]...)
	p.buf = append(p.buf, suffix...)
	if err := p.parseNameTags(tags, sep); err != nil {
		return nil, false, err
	}
	if !p.opts.NoSanitize {
		p.buf = p.buf[:start+sanitize(p.buf[start:])]
	} else if bytes.HasPrefix(p.buf[start:], []byte("_e{")) {
		// Only reachable through the SignalFx style ("[k=v]_e{x"): such a
		// name could not be written back as a metric line.
		return nil, false, ErrInvalidTags
	}
	if len(p.buf) == start {
		return nil, false, ErrEmptyName
	}
	return p.buf[start:len(p.buf):len(p.buf)], true, nil
}

// parseNameTags parses name-embedded tags "k=v<sep>k2=v2" into p.spans.
// Empty entries are skipped; an entry without '=' is a bare tag; an entry
// with '=' but an empty key is ErrInvalidTags.
func (p *Parser) parseNameTags(b []byte, sep byte) error {
	for b != nil {
		var t []byte
		if i := bytes.IndexByte(b, sep); i >= 0 {
			t, b = b[:i], b[i+1:]
		} else {
			t, b = b, nil
		}
		if err := p.addTag(t, '='); err != nil {
			return err
		}
	}
	return nil
}

// parseDogTags parses a DogStatsD tag section "k:v,k2,k3:v3", which ends at
// the first '|' of b or at its end, into p.spans. It returns what follows
// the '|', or nil when b holds none.
func (p *Parser) parseDogTags(b []byte) (rest []byte, err error) {
	start, colon, dirty := 0, -1, false
	for i := 0; ; i++ {
		for i < len(b) && dogClass[b[i]] == dogPlain {
			i++
		}
		end := i == len(b)
		if !end {
			switch dogClass[b[i]] {
			case dogColon:
				if colon < 0 {
					colon = i
				}
				continue
			case dogClean:
				dirty = true
				continue
			case dogPipe:
				end, rest = true, b[i+1:]
			}
		}
		if t := b[start:i]; dirty {
			if err := p.addTag(t, ':'); err != nil {
				return nil, err
			}
		} else if len(t) > 0 {
			switch {
			case colon < 0:
				p.addSpan(t, len(t))
			case colon == start:
				return nil, ErrInvalidTags
			default:
				k := colon - start
				p.addSpan(t, k)
			}
		}
		if end {
			return rest, nil
		}
		start, colon, dirty = i+1, -1, false
	}
}

// Byte classes for the scan of a DogStatsD tag section.
const (
	dogPlain = iota
	dogColon // splits key and value at its first occurrence in a tag
	dogComma // ends a tag
	dogPipe  // ends the section
	dogClean // '\r' or '\n': cleaned out of the tag
)

var dogClass = func() (t [256]uint8) {
	t[':'], t[','], t['|'], t['\r'], t['\n'] = dogColon, dogComma, dogPipe, dogClean, dogClean
	return t
}()

// addTag adds one tag, split at its first kv byte, to p.spans. The tag text
// is cleaned of ',', '\r' and '\n' (the only alteration tags ever get).
func (p *Parser) addTag(t []byte, kv byte) error {
	// One pass finds the separator and any byte to clean out.
	i := -1
	for j, c := range t {
		if c == kv {
			if i < 0 {
				i = j
			}
		} else if c == ',' || c == '\r' || c == '\n' {
			t = p.clean(t)
			i = bytes.IndexByte(t, kv)
			break
		}
	}
	if len(t) == 0 {
		return nil
	}
	if i < 0 {
		p.addSpan(t, len(t))
		return nil
	}
	if i == 0 {
		return ErrInvalidTags
	}
	p.addSpan(t, i)
	return nil
}

// addSpan appends a tag to p.spans: its text and key length. It stores the
// fields in place: appending a tagSpan literal builds it on the stack and
// copies it, which stalls on store forwarding.
func (p *Parser) addSpan(text []byte, klen int) {
	n := len(p.spans)
	if n < cap(p.spans) {
		p.spans = p.spans[:n+1]
	} else {
		p.spans = append(p.spans, tagSpan{})
	}
	s := &p.spans[n]
	s.text, s.klen = text, klen
}

// clean returns b without ',', '\r' and '\n', copying into p.tagTmp only
// when b holds one of them.
func (p *Parser) clean(b []byte) []byte {
	if !needsClean(b) {
		return b
	}
	start := len(p.tagTmp)
	for _, c := range b {
		if c != ',' && c != '\r' && c != '\n' {
			p.tagTmp = append(p.tagTmp, c)
		}
	}
	return p.tagTmp[start:len(p.tagTmp):len(p.tagTmp)]
}

// copyClean copies b, cleaned of ',', '\r' and '\n', into p.buf.
func (p *Parser) copyClean(b []byte) []byte {
	b = p.clean(b)
	if len(b) == 0 {
		return nil
	}
	start := len(p.buf)
	p.buf = append(p.buf, b...)
	return p.buf[start:len(p.buf):len(p.buf)]
}

func needsClean(b []byte) bool {
	for _, c := range b {
		if c == ',' || c == '\r' || c == '\n' {
			return true
		}
	}
	return false
}

// canonicalTags sorts p.spans by key, then value (bare tags before
// "key:value" tags with an equal key), and writes them to p.buf joined by
// ','. The sort is stable, so exact duplicates keep their received order.
func (p *Parser) canonicalTags() []byte {
	if len(p.spans) == 0 {
		return nil
	}
	p.sortSpans()
	// Each tag is copied whole, its separator (':' or a name tag's '=')
	// then set to ':'.
	n := len(p.spans) - 1
	for i := range p.spans {
		n += len(p.spans[i].text)
	}
	start := len(p.buf)
	p.buf = slices.Grow(p.buf, n)[:start+n]
	out := p.buf[start:]
	w := 0
	for i := range p.spans {
		s := &p.spans[i]
		if i > 0 {
			out[w] = ','
			w++
		}
		copy(out[w:], s.text)
		if s.hasVal() {
			out[w+s.klen] = ':'
		}
		w += len(s.text)
	}
	return out[:n:n]
}

// sortSpans sorts p.spans stably with compareSpans: an insertion sort
// (without allocating, fast on the short and often sorted tag lists of real
// traffic), or the standard library's stable sort for long lists.
func (p *Parser) sortSpans() {
	s := p.spans
	if len(s) > 24 {
		slices.SortStableFunc(s, func(a, b tagSpan) int { return compareSpans(&a, &b) })
		return
	}
	for i := 1; i < len(s); i++ {
		// Keys mostly differ in their first byte: an ordered pair is
		// mostly found without a call.
		if a, b := s[i-1].text, s[i].text; len(a) > 0 && len(b) > 0 && a[0] < b[0] ||
			compareSpans(&s[i-1], &s[i]) <= 0 {
			continue
		}
		t := s[i]
		j := i
		for ; j > 0 && compareSpans(&s[j-1], &t) > 0; j-- {
			s[j] = s[j-1]
		}
		s[j] = t
	}
}

func compareSpans(a, b *tagSpan) int {
	ak, bk := a.key(), b.key()
	// Keys mostly differ in their first byte: decide that without a call.
	if len(ak) > 0 && len(bk) > 0 && ak[0] != bk[0] {
		return int(ak[0]) - int(bk[0])
	}
	if c := bytes.Compare(ak, bk); c != 0 {
		return c
	}
	if a.hasVal() != b.hasVal() {
		if a.hasVal() {
			return 1
		}
		return -1
	}
	return bytes.Compare(a.val(), b.val())
}
