package protocol

import (
	"bytes"
	"strings"
)

// parseEvent parses a DogStatsD event line:
//
//	_e{<title bytes>,<text bytes>}:<title>|<text>[|d:<unix>][|h:<host>][|k:<key>][|p:normal|low][|s:<source>][|t:info|warning|error|success][|#tags]
//
// The lengths count the bytes on the wire (the escaped text); "\n" in the
// title and text is decoded to a newline. The title must not be empty, the
// text must be exactly as long as declared, and p: and t: must hold one of
// their documented values. Unknown "key:value" fields (and the DogStatsD
// origin fields c:, e:, card:) are ignored. Any violation is ErrInvalidEvent.
func (p *Parser) parseEvent(line []byte) (*Event, error) {
	rest := line[len("_e{"):]
	tlen, rest, ok := cutLength(rest, ',')
	if !ok {
		return nil, ErrInvalidEvent
	}
	xlen, rest, ok := cutLength(rest, '}')
	if !ok || len(rest) == 0 || rest[0] != ':' {
		return nil, ErrInvalidEvent
	}
	rest = rest[1:]
	if tlen == 0 || tlen+1+xlen > len(rest) || rest[tlen] != '|' {
		return nil, ErrInvalidEvent
	}
	title, text := rest[:tlen], rest[tlen+1:tlen+1+xlen]
	rest = rest[tlen+1+xlen:]
	if len(rest) > 0 && rest[0] != '|' {
		return nil, ErrInvalidEvent // the text is longer than declared
	}
	ev := &Event{
		Title:     unescapeText(title),
		Text:      unescapeText(text),
		Priority:  "normal",
		AlertType: "info",
	}
	if len(rest) == 0 {
		return ev, nil
	}
	for opt := rest[1:]; opt != nil; {
		var f []byte
		f, opt = nextField(opt)
		switch {
		case len(f) == 0:
		case f[0] == '#':
			if _, err := p.parseDogTags(f[1:]); err != nil {
				return nil, ErrInvalidEvent
			}
		case bytes.HasPrefix(f, []byte("d:")):
			ts, ok := parseUint(f[2:])
			if !ok {
				return nil, ErrInvalidEvent
			}
			ev.Timestamp = ts
		case bytes.HasPrefix(f, []byte("h:")):
			ev.Hostname = string(f[2:])
		case bytes.HasPrefix(f, []byte("k:")):
			ev.AggregationKey = string(f[2:])
		case bytes.HasPrefix(f, []byte("s:")):
			ev.SourceType = string(f[2:])
		case bytes.HasPrefix(f, []byte("p:")):
			switch v := string(f[2:]); v {
			case "normal", "low":
				ev.Priority = v
			default:
				return nil, ErrInvalidEvent
			}
		case bytes.HasPrefix(f, []byte("t:")):
			switch v := string(f[2:]); v {
			case "info", "warning", "error", "success":
				ev.AlertType = v
			default:
				return nil, ErrInvalidEvent
			}
		case isExtensionField(f):
		default:
			return nil, ErrInvalidEvent
		}
	}
	ev.Tags = p.tagList()
	return ev, nil
}

// parseServiceCheck parses a DogStatsD service check line:
//
//	_sc|<name>|<status 0-3>[|d:<unix>][|h:<host>][|#tags][|m:<message>]
//
// m: must be the last field: everything after "|m:" is the message, in which
// "m\:" is decoded to "m:" and "\n" to a newline. The name must not be empty.
// Unknown "key:value" fields are ignored. Any violation is ErrInvalidCheck.
func (p *Parser) parseServiceCheck(line []byte) (*ServiceCheck, error) {
	name, rest := nextField(line[len("_sc|"):])
	if len(name) == 0 || rest == nil {
		return nil, ErrInvalidCheck
	}
	status, rest := nextField(rest)
	if len(status) != 1 || status[0] < '0' || status[0] > '3' {
		return nil, ErrInvalidCheck
	}
	sc := &ServiceCheck{Name: string(name), Status: int(status[0] - '0')}
	for rest != nil {
		if bytes.HasPrefix(rest, []byte("m:")) {
			msg := strings.ReplaceAll(string(rest[2:]), `m\:`, "m:")
			sc.Message = strings.ReplaceAll(msg, `\n`, "\n")
			break
		}
		var f []byte
		f, rest = nextField(rest)
		switch {
		case len(f) == 0:
		case f[0] == '#':
			if _, err := p.parseDogTags(f[1:]); err != nil {
				return nil, ErrInvalidCheck
			}
		case bytes.HasPrefix(f, []byte("d:")):
			ts, ok := parseUint(f[2:])
			if !ok {
				return nil, ErrInvalidCheck
			}
			sc.Timestamp = ts
		case bytes.HasPrefix(f, []byte("h:")):
			sc.Hostname = string(f[2:])
		case isExtensionField(f):
		default:
			return nil, ErrInvalidCheck
		}
	}
	sc.Tags = p.tagList()
	return sc, nil
}

// cutLength parses the decimal length at the start of b, which must be
// followed by sep, and returns it with the bytes after sep.
func cutLength(b []byte, sep byte) (n int, rest []byte, ok bool) {
	i := bytes.IndexByte(b, sep)
	if i <= 0 || i > 9 {
		return 0, nil, false
	}
	v, ok := parseUint(b[:i])
	if !ok {
		return 0, nil, false
	}
	return int(v), b[i+1:], true
}

// unescapeText decodes the "\n" escape of event titles and texts.
func unescapeText(b []byte) string {
	return strings.ReplaceAll(string(b), `\n`, "\n")
}

// tagList returns p.spans, sorted as canonical tags are, as a new []Tag.
func (p *Parser) tagList() []Tag {
	if len(p.spans) == 0 {
		return nil
	}
	p.sortSpans()
	tags := make([]Tag, len(p.spans))
	for i := range p.spans {
		s := &p.spans[i]
		tags[i] = Tag{Key: string(s.key()), Value: string(s.val())}
	}
	return tags
}
