package bench

import (
	"bytes"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    Mix
		wantErr string
	}{
		{in: "c=70,ms=20,g=10,s=0", want: Mix{Counter: 70, Timer: 20, Gauge: 10}},
		{in: "c=100", want: Mix{Counter: 100}},
		{in: " c = 1 , h=2,d=3 ,s=4", want: Mix{Counter: 1, Histogram: 2, Distribution: 3, Set: 4}},
		{in: "", wantErr: "empty mix"},
		{in: "c", wantErr: "want type=weight"},
		{in: "c=-1", wantErr: "non-negative integer"},
		{in: "c=x", wantErr: "non-negative integer"},
		{in: "c=1,c=2", wantErr: "given twice"},
		{in: "x=1", wantErr: "unknown type"},
		{in: "c=0,g=0", wantErr: "all weights are zero"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMix(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseMix(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseMix(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			// Round trip through String.
			again, err := ParseMix(got.String())
			if err != nil || again != got {
				t.Fatalf("ParseMix(%q.String()=%q) = %+v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

// lineRE matches the lines the generator writes.
var lineRE = regexp.MustCompile(`^([a-z_.0-9]+):([0-9.]+|user[0-9]+)\|(c|ms|g|s|h|d)(\|#[a-z0-9]+:[a-z0-9.-]+(,[a-z0-9]+:[a-z0-9.-]+)*)?$`)

// poolLines splits every datagram into lines, checking each line's shape.
func poolLines(t *testing.T, p *Pool) [][]string {
	t.Helper()
	var out [][]string
	total := 0
	for i, d := range p.Datagrams {
		lines := strings.Split(string(d.Payload), "\n")
		if len(lines) != d.Lines || CountLines(d.Payload) != d.Lines {
			t.Fatalf("datagram %d: %d lines, CountLines %d, recorded %d", i, len(lines), CountLines(d.Payload), d.Lines)
		}
		for _, l := range lines {
			if !lineRE.MatchString(l) {
				t.Fatalf("datagram %d: malformed line %q", i, l)
			}
		}
		total += d.Lines
		out = append(out, lines)
	}
	if total != p.Lines {
		t.Fatalf("pool counts %d lines, datagrams hold %d", p.Lines, total)
	}
	return out
}

func TestBuildLinesPerPacket(t *testing.T) {
	w := Workload{Keys: 1000, Mix: Mix{Counter: 1}, LinesPerPacket: 20}
	p, err := w.Build()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Datagrams) < 256 {
		t.Fatalf("pool has %d datagrams, want at least 256", len(p.Datagrams))
	}
	names := map[string]bool{}
	for _, lines := range poolLines(t, p) {
		if len(lines) != 20 {
			t.Fatalf("datagram has %d lines, want 20", len(lines))
		}
		for _, l := range lines {
			name, rest, _ := strings.Cut(l, ":")
			if !strings.HasSuffix(rest, "|c") {
				t.Fatalf("counters-only workload sent %q", l)
			}
			names[name] = true
		}
	}
	if len(names) != 1000 {
		t.Fatalf("pool covers %d keys, want 1000", len(names))
	}
}

func TestBuildPacketBytesMixAndTags(t *testing.T) {
	w := Workload{Keys: 1000, Mix: Mix{Counter: 70, Timer: 20, Gauge: 10}, Tags: 3, PacketBytes: 512}
	p, err := w.Build()
	if err != nil {
		t.Fatal(err)
	}
	typeOf := map[string]string{} // name -> type code
	tagsOf := map[string]string{}
	for _, lines := range poolLines(t, p) {
		for _, l := range lines {
			name, rest, _ := strings.Cut(l, ":")
			parts := strings.Split(rest, "|")
			if len(parts) != 3 || !strings.HasPrefix(parts[2], "#") || strings.Count(parts[2], ",") != 2 {
				t.Fatalf("line %q: want value|type|#three,tags", l)
			}
			if old, ok := typeOf[name]; ok && (old != parts[1] || tagsOf[name] != parts[2]) {
				t.Fatalf("key %s changed identity: %s%s then %s%s", name, old, tagsOf[name], parts[1], parts[2])
			}
			typeOf[name], tagsOf[name] = parts[1], parts[2]
		}
	}
	for _, d := range p.Datagrams {
		if len(d.Payload) > 512 {
			t.Fatalf("datagram of %d bytes exceeds 512", len(d.Payload))
		}
	}
	counts := map[string]int{}
	for _, typ := range typeOf {
		counts[typ]++
	}
	if diff := cmp.Diff(map[string]int{"c": 700, "ms": 200, "g": 100}, counts); diff != "" {
		t.Fatalf("keys per type (-want +got):\n%s", diff)
	}
}

func TestBuildDeterministic(t *testing.T) {
	w := Workload{Keys: 50, Mix: DefaultMix, Tags: 1}
	a, err := w.Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same workload built twice differs")
	}
	w.Seed = 2
	c, err := w.Build()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Datagrams[0].Payload, c.Datagrams[0].Payload) {
		t.Fatal("another seed built the same first datagram")
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		w    Workload
		want string
	}{
		{"negative keys", Workload{Keys: -1}, "keys"},
		{"tags", Workload{Tags: 65}, "tags"},
		{"small packet", Workload{PacketBytes: 10}, "packet bytes"},
		{"line over packet", Workload{PacketBytes: 64, Tags: 8}, "does not fit"},
		{"lines over datagram", Workload{LinesPerPacket: 10000, Tags: 10}, "do not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.w.Build()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build() error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestCountLines(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"a:1|c", 1},
		{"a:1|c\n", 1},
		{"a:1|c\nb:2|c", 2},
		{"a:1|c\n\n\nb:2|c\n", 2},
		{"a:1|c\r\nb:2|c\r\n", 2},
		{"\r\n\r\n", 0},
		{"\n", 0},
		{"x", 1},
	}
	for _, tt := range tests {
		if got := CountLines([]byte(tt.in)); got != tt.want {
			t.Errorf("CountLines(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func FuzzCountLines(f *testing.F) {
	for _, s := range []string{"", "a:1|c\nb:2|c", "\r\n\r\n", "x\n\ny\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		want := 0
		for _, l := range strings.Split(string(p), "\n") {
			if strings.TrimSuffix(l, "\r") != "" {
				want++
			}
		}
		if got := CountLines(p); got != want {
			t.Fatalf("CountLines(%q) = %d, want %d", p, got, want)
		}
	})
}
