// Package jsonl is the agent's local backend: it writes every flush as JSON
// lines, one object per series, to standard output or a file.
//
// It is the default backend when no other is configured, so that the agent
// is useful with no account anywhere. Each line looks like
//
//	{"ts":1763769600,"interval":10,"name":"api.req","type":"counter","tags":{"env":"prod"},"values":{"count":12,"rate":1.2}}
//
// ts is the flush time in Unix seconds and interval the flush interval in
// seconds. type is one of counter, gauge, timer, histogram, distribution or
// set. tags is {} when there are none; a bare tag has the value "" and a key
// that occurs several times has its values joined with ','. values holds the
// statistics under the reference StatsD server's key names (see
// aggregate.Series.Values). Non-finite numbers (an overflowing sum) are
// written as null, since JSON has no Inf or NaN.
//
// DogStatsD events are lines with "type":"event" and the fields title, text,
// timestamp, hostname, aggregation_key, priority, source_type, alert_type and
// tags; service checks are lines with "type":"service_check" and the fields
// name, status, timestamp, hostname, message and tags.
//
// A Backend is safe for the flush package's use: Flush is not called
// concurrently.
package jsonl

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"unicode/utf8"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// Backend writes snapshots as JSON lines.
type Backend struct {
	w    *bufio.Writer
	c    io.Closer // the file, when we opened one
	buf  []byte
	vals []aggregate.Value
}

// New returns a Backend writing to w.
func New(w io.Writer) *Backend {
	return &Backend{w: bufio.NewWriterSize(w, 64<<10)}
}

// Open returns a Backend appending to the file at path, created with mode
// 0644 if needed.
func Open(path string) (*Backend, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	b := New(f)
	b.c = f
	return b, nil
}

// Name returns "stdout".
func (b *Backend) Name() string { return "stdout" }

// Flush writes one line per series, event and service check.
func (b *Backend) Flush(_ context.Context, s *aggregate.Snapshot) error {
	ts := s.Time.Unix()
	interval := s.Interval.Seconds()
	for i := range s.Series {
		b.buf = AppendSeries(b.buf[:0], ts, interval, &s.Series[i], &b.vals)
		if _, err := b.w.Write(b.buf); err != nil {
			return fmt.Errorf("jsonl: %w", err)
		}
	}
	for i := range s.Events {
		b.buf = appendEvent(b.buf[:0], ts, &s.Events[i])
		if _, err := b.w.Write(b.buf); err != nil {
			return fmt.Errorf("jsonl: %w", err)
		}
	}
	for i := range s.ServiceChecks {
		b.buf = appendCheck(b.buf[:0], ts, &s.ServiceChecks[i])
		if _, err := b.w.Write(b.buf); err != nil {
			return fmt.Errorf("jsonl: %w", err)
		}
	}
	if err := b.w.Flush(); err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	return nil
}

// Close flushes and closes the file the Backend opened, if any.
func (b *Backend) Close(context.Context) error {
	err := b.w.Flush()
	if b.c != nil {
		if cerr := b.c.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("jsonl: %w", err)
	}
	return nil
}

// AppendSeries appends one series' JSON line (with its newline) to dst.
// vals is scratch space reused between calls; it may be nil.
func AppendSeries(dst []byte, ts int64, interval float64, s *aggregate.Series, vals *[]aggregate.Value) []byte {
	dst = append(dst, `{"ts":`...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, `,"interval":`...)
	dst = appendNumber(dst, interval)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, s.Name)
	dst = append(dst, `,"type":"`...)
	dst = append(dst, s.Type.String()...)
	dst = append(dst, `","tags":`...)
	dst = appendTags(dst, s.Tags)
	dst = append(dst, `,"values":{`...)
	var scratch []aggregate.Value
	if vals != nil {
		scratch = (*vals)[:0]
	}
	scratch = s.AppendValues(scratch)
	for i, v := range scratch {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, v.Key)
		dst = append(dst, ':')
		dst = appendNumber(dst, v.Value)
	}
	if vals != nil {
		*vals = scratch
	}
	return append(dst, "}}\n"...)
}

func appendEvent(dst []byte, ts int64, e *protocol.Event) []byte {
	dst = append(dst, `{"ts":`...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, `,"type":"event","title":`...)
	dst = appendString(dst, e.Title)
	dst = append(dst, `,"text":`...)
	dst = appendString(dst, e.Text)
	dst = append(dst, `,"timestamp":`...)
	dst = strconv.AppendInt(dst, e.Timestamp, 10)
	for _, f := range [...]struct{ k, v string }{
		{"hostname", e.Hostname}, {"aggregation_key", e.AggregationKey},
		{"priority", e.Priority}, {"source_type", e.SourceType}, {"alert_type", e.AlertType},
	} {
		dst = append(dst, ',')
		dst = appendString(dst, f.k)
		dst = append(dst, ':')
		dst = appendString(dst, f.v)
	}
	dst = append(dst, `,"tags":`...)
	dst = appendTags(dst, e.Tags)
	return append(dst, "}\n"...)
}

func appendCheck(dst []byte, ts int64, c *protocol.ServiceCheck) []byte {
	dst = append(dst, `{"ts":`...)
	dst = strconv.AppendInt(dst, ts, 10)
	dst = append(dst, `,"type":"service_check","name":`...)
	dst = appendString(dst, c.Name)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(c.Status), 10)
	dst = append(dst, `,"timestamp":`...)
	dst = strconv.AppendInt(dst, c.Timestamp, 10)
	dst = append(dst, `,"hostname":`...)
	dst = appendString(dst, c.Hostname)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, c.Message)
	dst = append(dst, `,"tags":`...)
	dst = appendTags(dst, c.Tags)
	return append(dst, "}\n"...)
}

// appendTags writes tags as a JSON object. Tags arrive sorted by key, so
// repeated keys are adjacent and their values are joined with ','.
func appendTags(dst []byte, tags []protocol.Tag) []byte {
	dst = append(dst, '{')
	for i := 0; i < len(tags); {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, tags[i].Key)
		dst = append(dst, ':')
		j := i + 1
		for j < len(tags) && tags[j].Key == tags[i].Key {
			j++
		}
		if j == i+1 {
			dst = appendString(dst, tags[i].Value)
		} else {
			v := tags[i].Value
			for _, t := range tags[i+1 : j] {
				v += "," + t.Value
			}
			dst = appendString(dst, v)
		}
		i = j
	}
	return append(dst, '}')
}

func appendNumber(dst []byte, v float64) []byte {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

const hex = "0123456789abcdef"

// appendString writes s as a JSON string, escaping as encoding/json does
// (without HTML escaping) and replacing invalid UTF-8 with U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
