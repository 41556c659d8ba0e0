package clientlib_test

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/statsd-agent/statsd-agent/clientlib"
	"github.com/statsd-agent/statsd-agent/clientlib/clientlibtest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// FuzzRoundTrip checks the client against the agent's parser: whatever the
// name, tag and value, a call is either rejected (counted, nothing sent) or
// sends lines that parse back to exactly that name, tag and value.
func FuzzRoundTrip(f *testing.F) {
	seeds := []struct {
		name, key, val string
		v              float64
		format, kind   uint8
	}{
		{"hits", "route", "/users/{id}", 1, 0, 0},
		{"app.temp", "room", "a", -7.5, 1, 1},
		{"q", "k", "", 3, 2, 2},
		{"db.query", "op", "select", 12.5, 0, 3},
		{"size", "k", "v:w", 1e-7, 0, 4},
		{"lat", "k", "x y", 1e21, 0, 5},
		{"users", "k", "v", 0, 2, 6},
		{"a:b", "k", "v", 1, 0, 0},
		{"a", "k,x", "v", 1, 0, 0},
		{"café", "ключ", "値", 2, 1, 1},
	}
	for _, s := range seeds {
		f.Add(s.name, s.key, s.val, s.v, s.format, s.kind)
	}
	f.Fuzz(func(t *testing.T, name, key, val string, v float64, format, kind uint8) {
		c, rec := clientlibtest.New(t, clientlib.Config{TagFormat: clientlib.TagFormat(format % 3)})
		tag := clientlib.Tag{key, val}
		var typ protocol.Type
		want := v
		switch kind % 7 {
		case 0:
			typ, want = protocol.Counter, math.Trunc(v)
			if math.IsNaN(v) || math.Abs(v) > 1<<53 {
				return
			}
			c.Count(name, int64(v), tag)
		case 1:
			typ = protocol.Gauge
			c.Gauge(name, v, tag)
		case 2:
			typ = protocol.Gauge
			c.GaugeDelta(name, v, tag)
		case 3:
			typ = protocol.Timer
			if math.IsNaN(v) || math.Abs(v) > 1e9 {
				return
			}
			d := time.Duration(v * float64(time.Millisecond))
			want = float64(d) / float64(time.Millisecond)
			c.Timing(name, d, tag)
		case 4:
			typ = protocol.Histogram
			c.Histogram(name, v, tag)
		case 5:
			typ = protocol.Distribution
			c.Distribution(name, v, tag)
		case 6:
			typ = protocol.Set
			c.Set(name, val, tag)
		}
		if c.Errors() > 0 {
			if n := len(rec.Packets()); n != 0 {
				t.Fatalf("rejected call sent %d datagrams", n)
			}
			return
		}
		got, err := clientlibtest.Parse(rec.Packets())
		if err != nil {
			t.Fatalf("sent %q: %v", rec.Lines(), err)
		}
		wantTags := []protocol.Tag{{Key: key, Value: val}}
		if len(got) == 0 || len(got) > 2 {
			t.Fatalf("sent %q: parsed %d samples", rec.Lines(), len(got))
		}
		last := got[len(got)-1]
		if len(got) == 2 { // a negative gauge: 0, then the delta
			if got[0].Value != 0 || got[0].Delta || !last.Delta || typ != protocol.Gauge {
				t.Fatalf("sent %q: parsed %+v", rec.Lines(), got)
			}
		}
		if last.Name != name || last.Type != typ || !cmp.Equal(last.Tags, wantTags) {
			t.Fatalf("sent %q: parsed %+v, want name %q type %v tags %v", rec.Lines(), last, name, typ, wantTags)
		}
		switch {
		case typ == protocol.Set:
			if last.Member != val {
				t.Fatalf("sent %q: member %q, want %q", rec.Lines(), last.Member, val)
			}
		case last.Value != want && !(want == 0 && last.Value == 0):
			t.Fatalf("sent %q: value %v, want %v", rec.Lines(), last.Value, want)
		}
	})
}
