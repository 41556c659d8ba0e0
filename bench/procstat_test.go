package bench

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	tail := " S 1 2 3 4 5 6 7 8 9 10 %s %s 0 0 20 0 4 0 100 1000 200\n"
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{name: "plain", in: "1234 (statsd-agent)" + fmt.Sprintf(tail, "150", "25"), want: 1750 * time.Millisecond},
		{name: "paren in name", in: "1234 (a) (b))" + fmt.Sprintf(tail, "1", "2"), want: 30 * time.Millisecond},
		{name: "space in name", in: "1234 (my agent)" + fmt.Sprintf(tail, "0", "0"), want: 0},
		{name: "no name", in: "1234 x S 1", wantErr: true},
		{name: "short", in: "1234 (a) S 1 2 3", wantErr: true},
		{name: "bad number", in: "1234 (a)" + fmt.Sprintf(tail, "x", "2"), wantErr: true},
		{name: "negative", in: "1234 (a)" + fmt.Sprintf(tail, "-1", "2"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseProcStat = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseVmHWM(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{name: "real", in: "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1000 kB\n", want: 2048 << 10},
		{name: "last line", in: "VmHWM: 1 kB", want: 1024},
		{name: "missing", in: "Name: x\nVmRSS: 1 kB\n", wantErr: true},
		{name: "unit", in: "VmHWM: 1 MB\n", wantErr: true},
		{name: "number", in: "VmHWM: x kB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmHWM([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseVmHWM = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestProcSelf(t *testing.T) {
	// Burn a little CPU so the 10ms clock has something to show.
	x := 0
	for i := range 20_000_000 {
		x += i ^ x
	}
	_ = x
	cpu, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if cpu <= 0 {
		t.Fatalf("own CPU time %v, want > 0", cpu)
	}
	rss, err := ProcPeakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 {
		t.Fatalf("own peak RSS %d bytes, want at least 1 MiB", rss)
	}
	if _, err := ProcCPU(-5); err == nil {
		t.Fatal("ProcCPU(-5) succeeded")
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13"))
	f.Add([]byte("1 (a) b)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseProcStat(b)
		if err == nil && d < 0 {
			t.Fatalf("negative CPU time %v from %q", d, b)
		}
	})
}

func FuzzParseVmHWM(f *testing.F) {
	f.Add([]byte("VmHWM:\t 2048 kB\n"))
	f.Add([]byte("Name: x\nVmHWM: 1 MB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseVmHWM(b)
		if err == nil && (v < 0 || v%1024 != 0) {
			t.Fatalf("VmHWM %d from %q", v, b)
		}
	})
}

func TestParseCPUBusy(t *testing.T) {
	stat := "cpu  448585 378 82612 182325 1329 0 7371 186 0 0\ncpu0 219038 200 42229 93227 290 0 6441 91 0 0\n" +
		"cpu1 100 2 30 5000 7 1 4 5 0 0\ncpu10 1 1 1 1 1 1 1 1\nintr 1 2 3\n"
	tests := []struct {
		cpu     int
		in      string
		want    time.Duration
		wantErr bool
	}{
		{cpu: 1, in: stat, want: 1420 * time.Millisecond}, // 100+2+30+1+4+5 ticks
		{cpu: 10, in: stat, want: 60 * time.Millisecond},
		{cpu: 0, in: stat, want: (219038 + 200 + 42229 + 6441 + 91) * 10 * time.Millisecond},
		{cpu: 2, in: stat, wantErr: true},
		{cpu: 1, in: "cpu1 1 2 3\n", wantErr: true},
		{cpu: 1, in: "cpu1 1 2 3 4 5 6 x 8\n", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseCPUBusy([]byte(tt.in), tt.cpu)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseCPUBusy(cpu%d) = %v, %v; want %v, error %v", tt.cpu, got, err, tt.want, tt.wantErr)
		}
	}
	if d, err := CPUBusy(0); err != nil || d <= 0 {
		t.Errorf("CPUBusy(0) = %v, %v", d, err)
	}
}

func FuzzParseCPUBusy(f *testing.F) {
	f.Add([]byte("cpu0 1 2 3 4 5 6 7 8 0 0\n"), 0)
	f.Add([]byte("cpu  1 2\ncpu1 1 2 3 4 5 6 7 8\n"), 1)
	f.Fuzz(func(t *testing.T, b []byte, cpu int) {
		d, err := parseCPUBusy(b, cpu)
		if err == nil && d < 0 {
			t.Fatalf("negative busy time %v from %q", d, b)
		}
	})
}
