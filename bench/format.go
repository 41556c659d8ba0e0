package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ParseRate parses a rate in lines per second: "500000", "500k", "1M",
// "1.5M", "2G", or "max" (returned as 0, meaning as fast as possible).
func ParseRate(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "max") {
		return 0, nil
	}
	mult := 1.0
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			mult = 1e3
		case 'm', 'M':
			mult = 1e6
		case 'g', 'G':
			mult = 1e9
		}
		if mult != 1 {
			s = s[:len(s)-1]
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) || v*mult > 1e10 {
		return 0, fmt.Errorf("bench: invalid rate %q: want lines per second such as 500000, 500k, 1M, or max", s)
	}
	return v * mult, nil
}

// ParseRates parses a comma-separated list of rates (see ParseRate).
func ParseRates(s string) ([]float64, error) {
	var out []float64
	for part := range strings.SplitSeq(s, ",") {
		r, err := ParseRate(part)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// FormatRate formats a rate as ParseRate reads it: "100k", "1M", "max" for 0.
func FormatRate(r float64) string {
	if r <= 0 {
		return "max"
	}
	return HumanCount(r)
}

// HumanCount formats n with a k, M or G suffix and up to 3 significant
// digits: 999, 1.5k, 12.3M.
func HumanCount(n float64) string {
	abs := math.Abs(n)
	var suffix string
	switch {
	case abs >= 1e9:
		n, suffix = n/1e9, "G"
	case abs >= 1e6:
		n, suffix = n/1e6, "M"
	case abs >= 1e3:
		n, suffix = n/1e3, "k"
	}
	// Three significant digits, without an exponent: 999.99 rounds to "1k".
	v, _ := strconv.ParseFloat(strconv.FormatFloat(n, 'g', 3, 64), 64)
	if math.Abs(v) >= 1000 && suffix != "G" {
		return HumanCount(v * map[string]float64{"": 1, "k": 1e3, "M": 1e6}[suffix])
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + suffix
}

// HumanBytes formats a byte count in binary units: 512B, 12.5MiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + "B"
	}
	f := float64(n)
	i := -1
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + []string{"KiB", "MiB", "GiB", "TiB", "PiB"}[i]
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Progress prints a sender's progress while it runs.
type Progress struct {
	// W receives the progress lines.
	W io.Writer
	// TTY rewrites one line in place ("\r"); otherwise a plain line is
	// printed every Every.
	TTY bool
	// Every is the interval between plain lines; 0 means 1s (200ms on a TTY).
	Every time.Duration
}

// Run prints progress from stats until ctx is done; total is the planned
// duration (0 if unknown).
func (p Progress) Run(ctx context.Context, stats func() SendStats, total time.Duration) {
	every := p.Every
	if every == 0 {
		every = time.Second
		if p.TTY {
			every = 200 * time.Millisecond
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var prev SendStats
	printed := false
	for {
		select {
		case <-ctx.Done():
			if p.TTY && printed {
				fmt.Fprintln(p.W)
			}
			return
		case <-t.C:
		}
		s := stats()
		line := progressLine(prev, s, total)
		prev = s
		if p.TTY {
			fmt.Fprintf(p.W, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(p.W, line)
		}
		printed = true
	}
}

// progressLine formats one progress line: totals, the rate over the last
// interval and the elapsed time.
func progressLine(prev, s SendStats, total time.Duration) string {
	rate := 0.0
	if d := s.Elapsed - prev.Elapsed; d > 0 {
		rate = float64(s.Lines-prev.Lines) / d.Seconds()
	}
	el := s.Elapsed.Round(100 * time.Millisecond).String()
	if total > 0 {
		el += "/" + total.String()
	}
	line := fmt.Sprintf("sent %s lines (%s datagrams)  %s lines/s  elapsed %s",
		HumanCount(float64(s.Lines)), HumanCount(float64(s.Datagrams)), HumanCount(rate), el)
	if s.Errors > 0 {
		line += fmt.Sprintf("  send errors %d", s.Errors)
	}
	return line
}
