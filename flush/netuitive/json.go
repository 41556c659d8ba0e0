package netuitive

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// The writers below produce the same bytes encoding/json would for the
// structs of the API (TestAppendMatchesEncodingJSON checks it), without its
// reflection and per-value allocations: a 100,000-series flush is encoded
// on every interval.

// appendElement writes one element with the given metrics and samples.
func appendElement(b []byte, el *element, metrics []metric, samples []sample) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, el.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, el.Name)
	b = append(b, `,"type":`...)
	b = appendString(b, el.Type)
	if el.Location != "" {
		b = append(b, `,"location":`...)
		b = appendString(b, el.Location)
	}
	b = append(b, `,"tags":`...)
	b = appendTags(b, el.Tags)
	b = append(b, `,"attributes":`...)
	b = appendTags(b, el.Attributes)
	b = append(b, `,"relations":[],"metrics":[`...)
	for i := range metrics {
		if i > 0 {
			b = append(b, ',')
		}
		m := &metrics[i]
		b = append(b, `{"id":`...)
		b = appendString(b, m.ID)
		b = append(b, `,"type":`...)
		b = appendString(b, m.Type)
		b = append(b, `,"unit":`...)
		b = appendString(b, m.Unit)
		b = append(b, `,"sparseDataStrategy":`...)
		b = appendString(b, m.SparseDataStrategy)
		b = append(b, `,"tags":`...)
		b = appendTags(b, m.Tags)
		b = append(b, '}')
	}
	b = append(b, `],"samples":[`...)
	for i := range samples {
		if i > 0 {
			b = append(b, ',')
		}
		s := &samples[i]
		b = append(b, `{"metricId":`...)
		b = appendString(b, s.MetricID)
		b = append(b, `,"timestamp":`...)
		b = strconv.AppendInt(b, s.Timestamp, 10)
		for f, key := range sampleKeys {
			if s.has&(1<<f) != 0 {
				b = append(b, ',', '"')
				b = append(b, key...)
				b = append(b, '"', ':')
				b = appendFloat(b, s.v[f])
			}
		}
		b = append(b, '}')
	}
	return append(b, ']', '}')
}

// appendEvents writes a JSON array of events.
func appendEvents(b []byte, events []event) []byte {
	b = append(b, '[')
	for i := range events {
		if i > 0 {
			b = append(b, ',')
		}
		ev := &events[i]
		b = append(b, `{"type":`...)
		b = appendString(b, ev.Type)
		b = append(b, `,"title":`...)
		b = appendString(b, ev.Title)
		b = append(b, `,"source":`...)
		b = appendString(b, ev.Source)
		b = append(b, `,"timestamp":`...)
		b = strconv.AppendInt(b, ev.Timestamp, 10)
		if len(ev.Tags) > 0 {
			b = append(b, `,"tags":`...)
			b = appendTags(b, ev.Tags)
		}
		b = append(b, `,"data":{"elementId":`...)
		b = appendString(b, ev.ElementID)
		b = append(b, `,"level":`...)
		b = appendString(b, ev.Level)
		if ev.Message != "" {
			b = append(b, `,"message":`...)
			b = appendString(b, ev.Message)
		}
		b = append(b, '}', '}')
	}
	return append(b, ']')
}

func appendTags(b []byte, tags []tag) []byte {
	b = append(b, '[')
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, t.Name)
		b = append(b, `,"value":`...)
		if t.Null {
			b = append(b, "null"...)
		} else {
			b = appendString(b, t.Value)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendString writes s as a JSON string. Plain ASCII (every id, which is
// sanitized) is copied; anything else goes through encoding/json, for its
// exact escaping (HTML characters, invalid UTF-8, U+2028/U+2029).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendFloat writes a finite float as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
