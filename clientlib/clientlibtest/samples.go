package clientlibtest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/statsd-agent/statsd-agent/protocol"
)

// Sample is one metric value as the agent would read it from the wire.
type Sample struct {
	Name  string
	Type  protocol.Type
	Value float64 // unused for sets
	// Delta is true for a gauge change ("+3", "-3") rather than a new value.
	Delta bool
	// SampleRate is the "|@rate" field, 1 when absent.
	SampleRate float64
	// Member is a set's member.
	Member string
	// Tags are the tags in canonical order (sorted by key, then value),
	// whichever format carried them; nil when untagged.
	Tags []protocol.Tag
	// Packet is the index of the datagram that carried the sample.
	Packet int
}

// Parse reads datagrams back into samples with the agent's parser (names
// kept as sent, not sanitised). Lines that do not parse are skipped and
// reported together in the error.
func Parse(packets [][]byte) ([]Sample, error) {
	p := protocol.NewParser(protocol.Options{NoSanitize: true})
	var out []Sample
	var errs []error
	for i, buf := range packets {
		for len(buf) > 0 {
			var line []byte
			line, buf = protocol.NextLine(buf)
			res, err := p.Parse(line)
			if err != nil {
				errs = append(errs, fmt.Errorf("datagram %d: line %q: %w", i, line, err))
			}
			for _, s := range res.Samples {
				out = append(out, Sample{
					Name:       string(s.Name),
					Type:       s.Type,
					Value:      s.Value,
					Delta:      s.Delta,
					SampleRate: s.SampleRate,
					Member:     string(s.SetMember),
					Tags:       protocol.ParseTags(s.Tags),
					Packet:     i,
				})
			}
		}
	}
	return out, errors.Join(errs...)
}

// Samples returns every sample recorded so far. A line that does not parse
// fails the test.
func (r *Recorder) Samples(tb testing.TB) []Sample {
	tb.Helper()
	s, err := Parse(r.Packets())
	if err != nil {
		tb.Errorf("clientlibtest: %v", err)
	}
	return s
}

// Find returns the samples with the given name and type.
func Find(samples []Sample, name string, typ protocol.Type) []Sample {
	var out []Sample
	for _, s := range samples {
		if s.Name == name && s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// Tag returns the value of the sample's tag key and whether it is present.
func (s Sample) Tag(key string) (string, bool) {
	for _, t := range s.Tags {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}
