package clientlibtest_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/statsd-agent/statsd-agent/clientlib"
	"github.com/statsd-agent/statsd-agent/clientlib/clientlibtest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// TestSamplesEveryFormat sends every kind of metric in each tag format and
// checks that the recorder reads the same structured samples back.
func TestSamplesEveryFormat(t *testing.T) {
	tags := []protocol.Tag{{Key: "env", Value: "prod"}, {Key: "zone", Value: "a"}}
	want := []clientlibtest.Sample{
		{Name: "app.hits", Type: protocol.Counter, Value: 3, SampleRate: 1, Tags: tags, Packet: 0},
		{Name: "app.temp", Type: protocol.Gauge, Value: 0, SampleRate: 1, Tags: tags, Packet: 1},
		{Name: "app.temp", Type: protocol.Gauge, Value: -4.5, Delta: true, SampleRate: 1, Tags: tags, Packet: 1},
		{Name: "app.queue", Type: protocol.Gauge, Value: 2, Delta: true, SampleRate: 1, Tags: tags, Packet: 2},
		{Name: "app.db", Type: protocol.Timer, Value: 2.5, SampleRate: 1, Tags: tags, Packet: 3},
		{Name: "app.size", Type: protocol.Histogram, Value: 512, SampleRate: 1, Tags: tags, Packet: 4},
		{Name: "app.lat", Type: protocol.Distribution, Value: 0.125, SampleRate: 1, Tags: tags, Packet: 5},
		{Name: "app.users", Type: protocol.Set, SampleRate: 1, Member: "alice", Tags: tags, Packet: 6},
	}
	for _, f := range []clientlib.TagFormat{clientlib.DogStatsD, clientlib.InfluxDB, clientlib.Graphite} {
		t.Run(f.String(), func(t *testing.T) {
			c, rec := clientlibtest.New(t, clientlib.Config{Prefix: "app", TagFormat: f, Tags: []clientlib.Tag{{"zone", "a"}}})
			env := clientlib.Tag{"env", "prod"}
			c.Count("hits", 3, env)
			c.Gauge("temp", -4.5, env)
			c.GaugeDelta("queue", 2, env)
			c.Timing("db", 2500*time.Microsecond, env)
			c.Histogram("size", 512, env)
			c.Distribution("lat", 0.125, env)
			c.Set("users", "alice", env)
			if diff := cmp.Diff(want, rec.Samples(t)); diff != "" {
				t.Errorf("samples (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseReportsBadLines(t *testing.T) {
	got, err := clientlibtest.Parse([][]byte{[]byte("ok:1|c\nbad:x|c\n")})
	if err == nil {
		t.Error("Parse accepted \"bad:x|c\"")
	}
	want := []clientlibtest.Sample{{Name: "ok", Type: protocol.Counter, Value: 1, SampleRate: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
}

func TestRecorderClosed(t *testing.T) {
	rec := clientlibtest.NewRecorder()
	if _, err := rec.Send([]byte("a:1|c")); err != nil {
		t.Fatal(err)
	}
	rec.Close()
	if _, err := rec.Send([]byte("b:1|c")); err != clientlibtest.ErrClosed {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	if got := rec.Lines(); !cmp.Equal(got, []string{"a:1|c"}) {
		t.Errorf("Lines() = %q", got)
	}
	rec.Reset()
	if got := rec.Packets(); len(got) != 0 {
		t.Errorf("Packets() after Reset = %q", got)
	}
}
