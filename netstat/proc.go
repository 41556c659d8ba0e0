package netstat

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ParseLinuxProc parses the contents of /proc/net/snmp, /proc/net/netstat
// and /proc/net/snmp6, in any number and order: each chunk's layout is
// detected from its first line ("Section: names" pairs, or "name value"
// lines as in snmp6).
//
// Values are mapped by their header name, never by position. Repeated
// sections (IcmpMsg) are merged. A section whose header and value counts
// differ is dropped whole, with a warning naming the section, and the
// reading is marked Partial; so is a line that cannot be read. When no
// value at all survives, ParseLinuxProc returns an error that names every
// rejected section.
func ParseLinuxProc(chunks ...[]byte) (*Reading, error) {
	r := newReading(FormatLinuxProc)
	var errs []error
	for i, data := range chunks {
		if err := parseProcChunk(r, fmt.Sprintf("input %d", i+1), data); err != nil {
			errs = append(errs, err)
		}
	}
	return finishProc(r, errs)
}

func finishProc(r *Reading, errs []error) (*Reading, error) {
	if len(r.Raw) == 0 {
		if len(errs) == 0 {
			errs = append(errs, ErrNoData)
		}
		return nil, fmt.Errorf("netstat: %w", errors.Join(errs...))
	}
	r.deriveFromProc()
	return r, nil
}

// parseProcChunk parses one file's contents into r. It returns an error
// (wrapping ErrMalformed) only when the chunk gave no value at all although
// something in it was rejected; every rejection is also a warning on r.
func parseProcChunk(r *Reading, name string, data []byte) error {
	before := len(r.Raw)
	nwarn := len(r.Warnings)
	text := string(data)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		r.warnf(false, "%s: no newline at end of input; last line taken as complete", name)
	}
	lines := strings.Split(text, "\n")
	pairs := false
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 {
			pairs = strings.HasSuffix(f[0], ":")
			break
		}
	}
	if pairs {
		parseProcPairs(r, name, lines)
	} else {
		parseProcFlat(r, name, lines)
	}
	if len(r.Raw) == before && len(r.Warnings) > nwarn {
		var msgs []string
		for _, w := range r.Warnings[nwarn:] {
			if !strings.Contains(w, "no newline at end") {
				msgs = append(msgs, w)
			}
		}
		if len(msgs) > 0 {
			return fmt.Errorf("%w: %s", ErrMalformed, strings.Join(msgs, "; "))
		}
	}
	return nil
}

// parseProcPairs reads the "Section: Name1 Name2 ..." / "Section: v1 v2 ..."
// line pairs of /proc/net/snmp and /proc/net/netstat.
func parseProcPairs(r *Reading, name string, lines []string) {
	var (
		section  string   // section of the pending header line
		names    []string // names of the pending header line
		headerAt int      // its line number
	)
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		ln := i + 1
		prefix := f[0]
		if !strings.HasSuffix(prefix, ":") || len(prefix) == 1 {
			r.warnf(true, "%s line %d: %q is not a \"Section:\" line; ignored", name, ln, clip(l))
			continue
		}
		sec := strings.TrimSuffix(prefix, ":")
		if section != "" && sec != section {
			r.warnf(true, "%s line %d: section %s: header line without a value line; section dropped", name, headerAt, section)
			section, names = "", nil
		}
		if section == "" {
			// A header line. Its names must not be numbers: a value
			// line without its header cannot be mapped.
			for _, n := range f[1:] {
				if _, err := strconv.ParseInt(n, 10, 64); err == nil {
					r.warnf(true, "%s line %d: section %s: value line without a header line; section dropped", name, ln, sec)
					sec = ""
					break
				}
			}
			if sec != "" {
				section, names, headerAt = sec, f[1:], ln
			}
			continue
		}
		values := f[1:]
		if len(values) != len(names) {
			r.warnf(true, "%s line %d: section %s: %d names but %d values; section dropped", name, ln, section, len(names), len(values))
			section, names = "", nil
			continue
		}
		parsed := make([]uint64, len(values))
		keep := make([]bool, len(values))
		bad := false
		for j, v := range values {
			u, err := strconv.ParseUint(v, 10, 64)
			if err == nil {
				parsed[j], keep[j] = u, true
				continue
			}
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				continue // negative: a constant such as MaxConn -1, not a counter
			}
			r.warnf(true, "%s line %d: section %s: value %q of %s is not a number; section dropped", name, ln, section, clip(v), names[j])
			bad = true
			break
		}
		if !bad {
			for j, n := range names {
				if keep[j] {
					r.setRaw(section+"."+n, parsed[j])
				}
			}
		}
		section, names = "", nil
	}
	if section != "" {
		r.warnf(true, "%s line %d: section %s: header line without a value line (truncated?); section dropped", name, headerAt, section)
	}
}

// parseProcFlat reads the "Name value" lines of /proc/net/snmp6.
func parseProcFlat(r *Reading, name string, lines []string) {
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			r.warnf(true, "%s line %d: %q: want a name and a value; line dropped", name, i+1, clip(l))
			continue
		}
		if !flatName(f[0]) {
			r.warnf(true, "%s line %d: %q is not a counter name; line dropped", name, i+1, clip(f[0]))
			continue
		}
		u, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			if _, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				continue
			}
			r.warnf(true, "%s line %d: value %q of %s is not a number; line dropped", name, i+1, clip(f[1]), f[0])
			continue
		}
		r.setRaw(f[0], u)
	}
}

// flatName reports whether s can be a /proc/net/snmp6 counter name such as
// "Ip6InReceives" or "Icmp6InType133": letters, digits and '_'.
func flatName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

func (r *Reading) setRaw(key string, v uint64) {
	if old, ok := r.Raw[key]; ok && old != v {
		r.warnf(false, "%s appears twice (%d, then %d); the last value is kept", key, old, v)
	}
	r.Raw[key] = v
}

// clip shortens s for an error message.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// procFiles are the files read under <procRoot>/net, in order.
var procFiles = []struct {
	name     string
	required bool
}{
	{"snmp", true},
	{"netstat", false},
	{"snmp6", false},
}

// ProcSource reads /proc/net/{snmp,netstat,snmp6} under Root. It is safe
// for concurrent use.
type ProcSource struct {
	// Root is the procfs mount point; "" means "/proc". For an agent in a
	// container reading the host, mount the host's /proc and use its
	// PID 1 directory ("/host/proc/1"), whose net/ is the host's network
	// namespace.
	Root string
}

// Read reads and parses the files. A missing snmp file is an error;
// netstat and snmp6 are optional (snmp6 is absent when IPv6 is disabled).
func (p ProcSource) Read(ctx context.Context) (*Reading, error) {
	root := p.Root
	if root == "" {
		root = "/proc"
	}
	r := newReading(FormatLinuxProc)
	r.Width = strconv.IntSize // the kernel's unsigned long, assuming a matching binary
	var errs []error
	for _, f := range procFiles {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("netstat: %w", err)
		}
		path := filepath.Join(root, "net", f.name)
		data, err := os.ReadFile(path)
		if err != nil {
			if f.required || !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("netstat: %w", err)
			}
			if f.name == "netstat" {
				r.warnf(false, "%s does not exist: TcpExt and IpExt counters unavailable", path)
			}
			continue
		}
		if err := parseProcChunk(r, path, data); err != nil {
			errs = append(errs, err)
		}
	}
	return finishProc(r, errs)
}

// ParseProcDir parses the snmp, netstat and snmp6 files found in dir (a
// saved copy of /proc/net, or /proc/net itself). At least one must exist.
func ParseProcDir(dir string) (*Reading, error) {
	r := newReading(FormatLinuxProc)
	var errs []error
	found := 0
	for _, f := range procFiles {
		path := filepath.Join(dir, f.name)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("netstat: %w", err)
		}
		found++
		if err := parseProcChunk(r, path, data); err != nil {
			errs = append(errs, err)
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("netstat: %s holds none of snmp, netstat, snmp6: %w", dir, ErrNoData)
	}
	return finishProc(r, errs)
}
