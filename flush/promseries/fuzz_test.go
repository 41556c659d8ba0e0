package promseries

import (
	"regexp"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// FuzzConvert feeds arbitrary names and tags (they come from the network):
// every output name and label name is valid for Prometheus, label names are
// sorted and unique, values are valid UTF-8, sanitising is idempotent.
func FuzzConvert(f *testing.F) {
	f.Add("api.requests", "env", "prod", "env", "dev")
	f.Add("9lives", "__name__", "x", "host", "h")
	f.Add("métrique:x", "a.b", "\xff", "a_b", "")
	f.Add("lat", "quantile", "0.5", "k", "v")
	f.Fuzz(func(t *testing.T, name, k1, v1, k2, v2 string) {
		if name == "" || k1 == "" || k2 == "" {
			return // the parser rejects empty names and tag keys
		}
		if s := SanitizeName(name); s != SanitizeName(s) || !metricNameRE.MatchString(s) {
			t.Fatalf("SanitizeName(%q) = %q", name, s)
		}
		c, err := New(Options{Host: "h", NoPercentiles: false})
		if err != nil {
			t.Fatal(err)
		}
		tags := []protocol.Tag{{Key: k1, Value: v1}, {Key: k2, Value: v2}}
		snap := &aggregate.Snapshot{Time: time.Unix(10, 0), Series: []aggregate.Series{
			{Name: name, Type: protocol.Counter, Tags: tags, Value: 1},
			{Name: name, Type: protocol.Gauge, Tags: tags, Value: 1},
			{Name: name, Type: protocol.Timer, Tags: tags, Dist: &aggregate.DistStats{N: 1, Count: 1, Sum: 1,
				Percentiles: []aggregate.PercentileStats{{Threshold: 90, Bound: 1}}}},
		}}
		seen := map[string]bool{}
		for _, s := range c.Convert(snap).Series {
			if !metricNameRE.MatchString(s.Name) {
				t.Fatalf("bad name %q", s.Name)
			}
			for i, l := range s.Labels {
				if !labelNameRE.MatchString(l.Name) || l.Name[:min(2, len(l.Name))] == "__" {
					t.Fatalf("bad label name %q", l.Name)
				}
				if i > 0 && s.Labels[i-1].Name >= l.Name {
					t.Fatalf("labels not sorted/unique: %v", s.Labels)
				}
				if !utf8.ValidString(l.Value) || l.Value == "" {
					t.Fatalf("bad label value %q", l.Value)
				}
			}
			id := identity(s.Name, s.Labels)
			if seen[id] {
				t.Fatalf("series %s emitted twice", id)
			}
			seen[id] = true
		}
	})
}
