package protocol

import (
	"bytes"
	"math"
	"strconv"
)

// NextLine splits off the first line of a datagram or stream buffer. line
// excludes the '\n' and one trailing '\r'; rest is what follows the '\n', or
// nil when buf holds no '\n' (then line is all of buf). Loop with
//
//	for len(buf) > 0 {
//		var line []byte
//		line, buf = protocol.NextLine(buf)
//		// parse line
//	}
func NextLine(buf []byte) (line, rest []byte) {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		line = buf
	} else {
		line, rest = buf[:i], buf[i+1:]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// AppendSample appends s to dst as one protocol line without terminator,
// name:value|type[|@rate][|#tags][|c:container][|T<unix>], and returns the
// extended buffer. A Parser with default options parses the line back into
// the same sample, for any sample it produced. A gauge delta gets an explicit
// sign ("+5"). A rate of 0 or 1 is omitted. Value must be finite.
//
// Lines made from samples of a Parser with NoGaugeDeltas or NoSanitize parse
// back the same with the same options; a non-delta negative gauge cannot be
// written for a parser with gauge deltas (the reference protocol has no
// way to set a negative gauge in one line).
func AppendSample(dst []byte, s *Sample) []byte {
	dst = append(dst, s.Name...)
	dst = append(dst, ':')
	if s.Type == Set {
		if len(s.SetMember) == 0 {
			dst = append(dst, '0')
		} else {
			dst = append(dst, s.SetMember...)
		}
	} else {
		if s.Type == Gauge && s.Delta && !math.Signbit(s.Value) {
			dst = append(dst, '+')
		}
		dst = strconv.AppendFloat(dst, s.Value, 'g', -1, 64)
	}
	dst = append(dst, '|')
	dst = append(dst, s.Type.Code()...)
	if s.SampleRate != 1 && s.SampleRate != 0 {
		dst = append(dst, "|@"...)
		dst = strconv.AppendFloat(dst, s.SampleRate, 'g', -1, 64)
	}
	if len(s.Tags) > 0 {
		dst = append(dst, "|#"...)
		dst = append(dst, s.Tags...)
	}
	if len(s.ContainerID) > 0 {
		dst = append(dst, "|c:"...)
		dst = append(dst, s.ContainerID...)
	}
	if s.Timestamp != 0 {
		dst = append(dst, "|T"...)
		dst = strconv.AppendInt(dst, s.Timestamp, 10)
	}
	return dst
}

// ParseTags turns canonical tag bytes ("a:1,b,c:2", as in Sample.Tags) into
// tags, each split at its first ':'; a bare tag gets an empty Value. It
// allocates: call it at flush time, not per line. Empty input gives nil.
func ParseTags(canonical []byte) []Tag {
	if len(canonical) == 0 {
		return nil
	}
	tags := make([]Tag, 0, bytes.Count(canonical, []byte{','})+1)
	for b := canonical; b != nil; {
		var t []byte
		if i := bytes.IndexByte(b, ','); i >= 0 {
			t, b = b[:i], b[i+1:]
		} else {
			t, b = b, nil
		}
		if len(t) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(t, []byte{':'})
		tags = append(tags, Tag{Key: string(k), Value: string(v)})
	}
	return tags
}
