package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ProcCPU returns the CPU time (utime+stime, all threads, living or exited)
// of process pid from /proc/PID/stat. Its resolution is 10ms.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: process CPU: %w", err)
	}
	d, err := parseProcStat(b)
	if err != nil {
		return 0, fmt.Errorf("bench: process CPU of %d: %w", pid, err)
	}
	return d, nil
}

// parseProcStat reads utime and stime (fields 14 and 15) from the content of
// /proc/PID/stat. The command name (field 2) is in parentheses and may itself
// contain spaces and parentheses, so fields are counted after the last ')'.
func parseProcStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name in stat")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat has %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("invalid CPU time %q in stat", s)
		}
		ticks += v
	}
	return time.Duration(ticks) * (time.Second / clockTicks), nil
}

// ProcPeakRSS returns the peak resident set size in bytes (VmHWM) of process
// pid from /proc/PID/status.
func ProcPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: process peak RSS: %w", err)
	}
	v, err := parseVmHWM(b)
	if err != nil {
		return 0, fmt.Errorf("bench: process peak RSS of %d: %w", pid, err)
	}
	return v, nil
}

// parseVmHWM reads the "VmHWM:   1234 kB" line of /proc/PID/status.
func parseVmHWM(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("malformed VmHWM line %q", bytes.TrimSpace(line))
		}
		v, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || v < 0 || v > 1<<40 {
			return 0, fmt.Errorf("malformed VmHWM value %q", f[0])
		}
		return v << 10, nil
	}
	return 0, errors.New("no VmHWM line in status")
}

// CPUBusy returns the busy time of one CPU since boot from /proc/stat: all
// but idle and iowait (user, nice, system, irq, softirq, steal), whoever
// used it.
func CPUBusy(cpu int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("bench: CPU busy time: %w", err)
	}
	d, err := parseCPUBusy(b, cpu)
	if err != nil {
		return 0, fmt.Errorf("bench: CPU busy time of CPU %d: %w", cpu, err)
	}
	return d, nil
}

// parseCPUBusy reads the "cpuN user nice system idle iowait irq softirq
// steal ..." line of /proc/stat.
func parseCPUBusy(b []byte, cpu int) (time.Duration, error) {
	prefix := []byte("cpu" + strconv.Itoa(cpu) + " ")
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) < 8 {
			return 0, fmt.Errorf("%d fields in %q, want at least 8", len(f), bytes.TrimSpace(line))
		}
		var ticks int64
		for i, s := range f[:8] {
			v, err := strconv.ParseInt(string(s), 10, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("invalid time %q in %q", s, bytes.TrimSpace(line))
			}
			if i != 3 && i != 4 { // idle, iowait
				ticks += v
			}
		}
		return time.Duration(ticks) * (time.Second / clockTicks), nil
	}
	return 0, errors.New("no such CPU in /proc/stat")
}
