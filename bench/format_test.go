package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRate(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{in: "max", want: 0},
		{in: "MAX", want: 0},
		{in: "500000", want: 500000},
		{in: "500k", want: 500000},
		{in: "1M", want: 1e6},
		{in: "1.5m", want: 1.5e6},
		{in: "2G", want: 2e9},
		{in: " 3M ", want: 3e6},
		{in: "", wantErr: true},
		{in: "0", wantErr: true},
		{in: "-1k", wantErr: true},
		{in: "k", wantErr: true},
		{in: "1x", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "Inf", wantErr: true},
		{in: "100G", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseRates(t *testing.T) {
	got, err := ParseRates("100k,300k,1M,3M,max")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]float64{1e5, 3e5, 1e6, 3e6, 0}, got); diff != "" {
		t.Fatal(diff)
	}
	if _, err := ParseRates("100k,,max"); err == nil {
		t.Fatal("empty element accepted")
	}
}

func TestHuman(t *testing.T) {
	counts := map[float64]string{0: "0", 999: "999", 1500: "1.5k", 100000: "100k", 1e6: "1M", 12345678: "12.3M", 3e9: "3G", 999_999: "1M", 999.7: "1k", 999_600_000: "1G", 0.5: "0.5", 2e12: "2000G"}
	for in, want := range counts {
		if got := HumanCount(in); got != want {
			t.Errorf("HumanCount(%v) = %q, want %q", in, got, want)
		}
	}
	if got := FormatRate(0); got != "max" {
		t.Errorf("FormatRate(0) = %q", got)
	}
	bytes := map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 12 << 20: "12.0MiB", 3 << 30: "3.0GiB"}
	for in, want := range bytes {
		if got := HumanBytes(in); got != want {
			t.Errorf("HumanBytes(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	prev := SendStats{Lines: 1_000_000, Datagrams: 50_000, Elapsed: time.Second}
	cur := SendStats{Lines: 1_500_000, Datagrams: 75_000, Elapsed: 2 * time.Second, Errors: 2}
	got := progressLine(prev, cur, 10*time.Second)
	want := "sent 1.5M lines (75k datagrams)  500k lines/s  elapsed 2s/10s  send errors 2"
	if got != want {
		t.Fatalf("progressLine = %q, want %q", got, want)
	}
}

func TestIsTerminal(t *testing.T) {
	if IsTerminal(&strings.Builder{}) {
		t.Fatal("a strings.Builder is not a terminal")
	}
}
