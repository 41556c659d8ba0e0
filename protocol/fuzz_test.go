package protocol

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// fuzzOptions derives parser options from the low bits of mode.
func fuzzOptions(mode uint8) Options {
	o := Options{
		UnknownTypeAsCounter: mode&1 != 0,
		NoGaugeDeltas:        mode&2 != 0,
		NoSanitize:           mode&4 != 0,
	}
	if mode&8 != 0 {
		o.MaxValuesPerLine = 4
	}
	return o
}

// FuzzParse checks, for any input line, with default options and with the
// options mode selects:
//   - Parse does not panic, and every error has a Reason label;
//   - a parser that parsed other lines before gives the same result as a
//     fresh one (no state leaks between lines);
//   - a Result holds samples, an event or a service check, never two kinds;
//   - every sample is well formed (non-empty name, rate in (0,1], finite
//     value, no negative timer, sanitised name unless NoSanitize, tags sorted
//     by key with no empty key);
//   - AppendSample writes every sample as a line that a parser with the same
//     options parses back to exactly that sample.
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, tc := range specCases {
		seeds = append(seeds, tc.in)
	}
	for _, tc := range moreCases {
		seeds = append(seeds, tc.in)
	}
	seeds = append(seeds, hotLines...)
	seeds = append(seeds, manyTags,
		"_e{5,12}:hello|line1\\nline2|d:1700000000|h:web1|k:agg|p:low|s:src|t:error|#b,a:1",
		"_sc|db|1|d:1700000000|h:db1|#z,y:2|m:a m\\: b\\nc|d")
	for i, l := range seeds {
		f.Add([]byte(l), uint8(i))
	}

	// reused parsers parse every input in turn, so their scratch memory
	// holds whatever the previous inputs left.
	var reused [16]*Parser
	f.Fuzz(func(t *testing.T, line []byte, mode uint8) {
		for _, opts := range []Options{{}, fuzzOptions(mode)} {
			p, q := NewParser(opts), NewParser(opts)
			res, err := p.Parse(line)
			k := mode & 15
			if opts == (Options{}) {
				k = 0
			}
			if reused[k] == nil {
				reused[k] = NewParser(opts)
			}
			again, err2 := reused[k].Parse(line)
			if err != err2 || !sameResult(&res, &again) {
				t.Fatalf("Parse(%q) differs between a fresh and a reused parser:\n%+v, %v\n%+v, %v", line, res, err, again, err2)
			}
			if err != nil && Reason(err) == ReasonOther {
				t.Fatalf("Parse(%q): error %v has no reason", line, err)
			}
			kinds := 0
			if len(res.Samples) > 0 {
				kinds++
			}
			if res.Event != nil {
				kinds++
			}
			if res.ServiceCheck != nil {
				kinds++
			}
			if kinds > 1 {
				t.Fatalf("Parse(%q) gave %+v", line, res)
			}
			if ev := res.Event; ev != nil {
				switch {
				case ev.Title == "":
					t.Fatalf("Parse(%q): event without title", line)
				case ev.Priority != "normal" && ev.Priority != "low":
					t.Fatalf("Parse(%q): event priority %q", line, ev.Priority)
				case ev.AlertType != "info" && ev.AlertType != "warning" && ev.AlertType != "error" && ev.AlertType != "success":
					t.Fatalf("Parse(%q): event alert type %q", line, ev.AlertType)
				case ev.Timestamp < 0:
					t.Fatalf("Parse(%q): event timestamp %d", line, ev.Timestamp)
				}
				checkTags(t, line, ev.Tags)
			}
			if sc := res.ServiceCheck; sc != nil {
				if sc.Name == "" || sc.Status < 0 || sc.Status > 3 || sc.Timestamp < 0 {
					t.Fatalf("Parse(%q): service check %+v", line, *sc)
				}
				checkTags(t, line, sc.Tags)
			}
			for i := range res.Samples {
				s := &res.Samples[i]
				checkSample(t, line, opts, s)
				out := AppendSample(nil, s)
				back, err := q.Parse(out)
				if err != nil || len(back.Samples) != 1 {
					t.Fatalf("Parse(%q) sample %d formats as %q, which parses to %d samples, error %v", line, i, out, len(back.Samples), err)
				}
				if !sameSample(s, &back.Samples[0]) {
					t.Fatalf("Parse(%q) sample %d:\n%+v\nformats as %q, which parses to\n%+v", line, i, *s, out, back.Samples[0])
				}
			}
		}
	})
}

func checkSample(t *testing.T, line []byte, opts Options, s *Sample) {
	t.Helper()
	switch {
	case len(s.Name) == 0:
		t.Fatalf("Parse(%q): empty name", line)
	case !(s.SampleRate > 0 && s.SampleRate <= 1):
		t.Fatalf("Parse(%q): sample rate %v", line, s.SampleRate)
	case math.IsNaN(s.Value) || math.IsInf(s.Value, 0):
		t.Fatalf("Parse(%q): value %v", line, s.Value)
	case s.Type == Timer && s.Value < 0:
		t.Fatalf("Parse(%q): negative timer %v", line, s.Value)
	case s.Type < Counter || s.Type > Set:
		t.Fatalf("Parse(%q): type %d", line, s.Type)
	case s.Type == Set && len(s.SetMember) == 0:
		t.Fatalf("Parse(%q): empty set member", line)
	case s.Delta && s.Type != Gauge:
		t.Fatalf("Parse(%q): delta on a %v", line, s.Type)
	case s.Timestamp < 0:
		t.Fatalf("Parse(%q): timestamp %v", line, s.Timestamp)
	}
	checkTags(t, line, ParseTags(s.Tags))
	if !opts.NoSanitize {
		for _, c := range s.Name {
			if nameClass[c] != clsKeep {
				t.Fatalf("Parse(%q): unsanitised name %q", line, s.Name)
			}
		}
	}
}

// checkTags checks that tags are sorted by key, with no empty key and no
// ',', '\r' or '\n' in a key or value.
func checkTags(t *testing.T, line []byte, tags []Tag) {
	t.Helper()
	for i, tag := range tags {
		if tag.Key == "" || strings.ContainsAny(tag.Key+tag.Value, ",\r\n") {
			t.Fatalf("Parse(%q): bad tag %q in %q", line, tag, tags)
		}
		if i > 0 && tags[i-1].Key > tag.Key {
			t.Fatalf("Parse(%q): tags %q not sorted by key", line, tags)
		}
	}
}

func sameResult(a, b *Result) bool {
	if len(a.Samples) != len(b.Samples) || (a.Event == nil) != (b.Event == nil) || (a.ServiceCheck == nil) != (b.ServiceCheck == nil) {
		return false
	}
	for i := range a.Samples {
		if !sameSample(&a.Samples[i], &b.Samples[i]) {
			return false
		}
	}
	return true
}

func sameSample(a, b *Sample) bool {
	return bytes.Equal(a.Name, b.Name) && bytes.Equal(a.Tags, b.Tags) && a.Type == b.Type &&
		math.Float64bits(a.Value) == math.Float64bits(b.Value) && a.Delta == b.Delta &&
		math.Float64bits(a.SampleRate) == math.Float64bits(b.SampleRate) &&
		bytes.Equal(a.SetMember, b.SetMember) && a.Timestamp == b.Timestamp &&
		bytes.Equal(a.ContainerID, b.ContainerID)
}

// FuzzNextLine checks that splitting any buffer with NextLine terminates,
// yields lines without '\n', drops only a "\n", "\r\n" or final "\r"
// terminator, and loses nothing: lines plus terminators rebuild the buffer.
func FuzzNextLine(f *testing.F) {
	f.Add([]byte("a:1|c\nb:2|c\r\n\n\r\nc:3|c"))
	f.Add([]byte("\r\r\n\n"))
	f.Fuzz(func(t *testing.T, buf []byte) {
		var rebuilt []byte
		rest := buf
		for n := 0; len(rest) > 0; n++ {
			if n > len(buf) {
				t.Fatalf("NextLine(%q) does not terminate", buf)
			}
			var line []byte
			before := rest
			line, rest = NextLine(rest)
			if bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("NextLine(%q) = %q", before, line)
			}
			// What NextLine dropped between line and rest.
			dropped := before[len(line) : len(before)-len(rest)]
			switch string(dropped) {
			case "", "\n", "\r", "\r\n":
			default:
				t.Fatalf("NextLine(%q) dropped %q", before, dropped)
			}
			rebuilt = append(append(rebuilt, line...), dropped...)
		}
		if !bytes.Equal(rebuilt, buf) {
			t.Fatalf("lines of %q rebuild %q", buf, rebuilt)
		}
	})
}
