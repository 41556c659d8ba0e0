package protocol

import (
	"testing"
)

// hotLines is a representative mix of metric lines: plain and sampled
// counters, gauges, timers, sets, DogStatsD tags and trailing fields, packed
// values, legacy multi-sample lines and every name-embedded tag style.
var hotLines = []string{
	"api.requests:1|c",
	"api.requests.total:27|c|@0.1",
	"api.latency:320.5|ms",
	"api.latency:12|ms|@0.25|#env:prod,service:checkout,region:eu-west-1",
	"queue.depth:42|g",
	"queue.depth:-3|g",
	"users.unique:u-12345|s",
	"resp.size:1500|h|#route:/api/v1/orders,method:GET",
	"page.views:1:2:32|d|#host:web-1",
	"dd.metric:1|c|#z:1,y:2,x:3,w:4,v:5,u:6,t:7,s:8,r:9,q:10|c:ci-0123abcd|T1656581400",
	"legacy:1|c:2|ms:3|g",
	"users.current,service=payroll,region=us-west:32|g",
	"gr;env=prod;dc=x:1|c",
	"libr#k=v,j=w:1|c",
	"sfx[k=v,j=w].count:1|c",
	"my app/with spaces:1|c",
	"bad:x|c",
}

// manyTags has 30 tags in reverse order: the long-list sort path.
const manyTags = "many.tags:1|c|#t30,t29,t28,t27,t26,t25,t24,t23,t22,t21,t20,t19,t18,t17,t16,t15,t14,t13,t12,t11,t10,t09,t08,t07,t06,t05,t04,t03,t02,t01"

func TestParseAllocs(t *testing.T) {
	p := NewParser(Options{})
	all := append(append([]string(nil), hotLines...), manyTags)
	lines := make([][]byte, len(all))
	for i, l := range all {
		lines[i] = []byte(l)
	}
	for _, l := range lines { // warm the scratch memory
		p.Parse(l)
	}
	for i, l := range lines {
		if n := testing.AllocsPerRun(100, func() { p.Parse(l) }); n != 0 {
			t.Errorf("Parse(%q): %v allocations per line, want 0", all[i], n)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, l := range lines {
			p.Parse(l)
		}
	}); n != 0 {
		t.Errorf("mixed lines: %v allocations per run, want 0", n)
	}
}

func TestNextLineAndReasonAllocs(t *testing.T) {
	buf := []byte("a:1|c\nb:2|c\r\n\nc:x|c")
	p := NewParser(Options{})
	n := testing.AllocsPerRun(100, func() {
		for b := buf; len(b) > 0; {
			var line []byte
			line, b = NextLine(b)
			if _, err := p.Parse(line); err != nil {
				_ = Reason(err)
			}
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per datagram, want 0", n)
	}
}

// BenchmarkParse parses the hotLines mix; ns/op and allocs/op are per line.
func BenchmarkParse(b *testing.B) {
	p := NewParser(Options{})
	lines := make([][]byte, len(hotLines))
	size := 0
	for i, l := range hotLines {
		lines[i] = []byte(l)
		size += len(l)
	}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p.Parse(lines[i%len(lines)])
	}
}

// BenchmarkParseKinds parses one kind of line per sub-benchmark.
func BenchmarkParseKinds(b *testing.B) {
	kinds := []struct{ name, line string }{
		{"counter", "api.requests:1|c"},
		{"timer_rate", "api.latency:320.5|ms|@0.25"},
		{"dogstatsd_tags", "api.latency:12|ms|#env:prod,service:checkout,region:eu-west-1"},
		{"packed", "page.views:1:2:32:7:8|d"},
		{"influx", "users.current,service=payroll,region=us-west:32|g"},
		{"set", "users.unique:u-12345|s"},
		{"sanitise", "my app/with spaces:1|c"},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			p := NewParser(Options{})
			line := []byte(k.line)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				p.Parse(line)
			}
		})
	}
}

// BenchmarkDatagram splits and parses a 20-line datagram; ns/op is per
// datagram.
func BenchmarkDatagram(b *testing.B) {
	var buf []byte
	for i := 0; i < 20; i++ {
		buf = append(buf, hotLines[i%len(hotLines)]...)
		buf = append(buf, '\n')
	}
	p := NewParser(Options{})
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		for rest := buf; len(rest) > 0; {
			var line []byte
			line, rest = NextLine(rest)
			p.Parse(line)
		}
	}
}
