package bench

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file (run with -update after checking):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// sweepRows is a fixed sweep result: an agent that keeps up to 1M lines/s
// and then loses, next to a bare reader that keeps up further.
func sweepRows() []SweepRow {
	m := func(sentRate float64, recv int64, cpu time.Duration, rss int64) Measure {
		return Measure{Sent: SendStats{Lines: int64(sentRate * 5), Elapsed: 5 * time.Second}, Received: recv, CPU: cpu, HasCPU: true, PeakRSS: rss}
	}
	return []SweepRow{
		{Offered: 100_000, Agent: m(100_000, 500_000, 60*time.Millisecond, 42<<20), Baseline: m(100_000, 500_000, 40*time.Millisecond, 8<<20), HasBaseline: true},
		{Offered: 1_000_000, Agent: m(999_000, 4_995_000, 600*time.Millisecond, 43<<20), Baseline: m(999_000, 4_995_000, 350*time.Millisecond, 8<<20), HasBaseline: true},
		{Offered: 3_000_000, Agent: m(2_990_000, 10_000_000, 1500*time.Millisecond, 44<<20), Baseline: m(2_990_000, 14_950_000, time.Second, 9<<20), HasBaseline: true},
		{Offered: 0, Agent: m(9_000_000, 12_000_000, 1800*time.Millisecond, 45<<20), Baseline: m(13_000_000, 58_000_000, 4*time.Second, 9<<20), HasBaseline: true},
	}
}

func TestWriteTable(t *testing.T) {
	rows := sweepRows()
	// A row without CPU or baseline, as from -target without -pid and -no-baseline.
	rows = append(rows, SweepRow{Offered: 50_000, Agent: Measure{Sent: SendStats{Lines: 250_000, Elapsed: 5 * time.Second}, Received: 250_000}})
	var b bytes.Buffer
	if err := WriteTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())
}

func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, sweepRows(), "statsd-agent sweep <test> & co"); err != nil {
		t.Fatal(err)
	}
	golden(t, "sweep.svg.golden", b.Bytes())
	checkXML(t, b.Bytes())
	if !strings.Contains(b.String(), "&lt;test&gt; &amp; co") {
		t.Fatal("title not escaped")
	}
	// Four series of four points each.
	if n := strings.Count(b.String(), "<polyline"); n != 4 {
		t.Fatalf("%d polylines, want 4", n)
	}
	if n := strings.Count(b.String(), "<circle"); n != 16 {
		t.Fatalf("%d points, want 16", n)
	}
}

func TestWriteSVGLossAxis(t *testing.T) {
	// 95 % loss: the axis ends at 100 %, not at the next nice number (200).
	rows := []SweepRow{{Offered: 1e6, Agent: Measure{Sent: SendStats{Lines: 100, Elapsed: time.Second}, Received: 5}}}
	var b bytes.Buffer
	if err := WriteSVG(&b, rows, "t"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ">100</text>") || strings.Contains(b.String(), ">200</text>") {
		t.Fatalf("loss axis does not end at 100:\n%s", b.String())
	}
}

func TestWriteSVGEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, nil, "empty"); err != nil {
		t.Fatal(err)
	}
	checkXML(t, b.Bytes())
}

func checkXML(t *testing.T, p []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(p))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ v, min, want float64 }{
		{0, 1, 1}, {0.3, 1, 1}, {1.1, 1, 2}, {3, 1, 5}, {7, 1, 10}, {0.12, 0.1, 0.2}, {42, 1, 50}, {100, 1, 100},
	} {
		if got := niceCeil(tt.v, tt.min); got != tt.want {
			t.Errorf("niceCeil(%v, %v) = %v, want %v", tt.v, tt.min, got, tt.want)
		}
	}
}

func TestWarnings(t *testing.T) {
	rows := sweepRows()
	// The sender reached only 900k of 3M to the bare reader.
	rows[2].Baseline.Sent = SendStats{Lines: 4_500_000, Elapsed: 5 * time.Second}
	got := Warnings(rows)
	want := []string{"at 3M the sender reached only 900k lines/s to the bare reader: the machine was busy or the rate is beyond one sender; rerun before trusting this row"}
	if len(got) != 1 || got[0] != want[0] {
		t.Fatalf("Warnings = %q, want %q", got, want)
	}
	rows[3].Agent.OtherCPU, rows[3].Agent.HasOther, rows[3].Agent.Window = 600*time.Millisecond, true, 6*time.Second
	got = Warnings(rows)
	if len(got) != 2 || got[1] != "at max, 0.60 s of the agent's CPU (in 6.0 s) went to other processes or interrupts: its figures may suffer" {
		t.Fatalf("Warnings = %q", got)
	}
	rows[3].Agent.OtherCPU = 300 * time.Millisecond // 5 %: not yet a warning
	if got = Warnings(rows); len(got) != 1 {
		t.Fatalf("Warnings = %q", got)
	}
	if w := Warnings(sweepRows()); len(w) != 0 {
		t.Fatalf("Warnings on good rows = %q", w)
	}
}

func TestLoadAverage(t *testing.T) {
	if v, err := LoadAverage(); err != nil || v < 0 {
		t.Fatalf("LoadAverage = %v, %v", v, err)
	}
}

func TestPeaks(t *testing.T) {
	agent, bare := Peaks(sweepRows())
	// Agent: 12M lines in 5 s at max beats 10M at 3M; bare: 58M at max.
	if agent != (Peak{Rate: 2.4e6, Offered: 0}) || bare != (Peak{Rate: 11.6e6, Offered: 0}) {
		t.Fatalf("Peaks = %+v, %+v", agent, bare)
	}
	rows := sweepRows()[:3]
	if agent, _ := Peaks(rows); agent != (Peak{Rate: 2e6, Offered: 3e6}) {
		t.Fatalf("Peaks(first three) agent = %+v", agent)
	}
}
