package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func runNetstatArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runNetstat(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// tableValue returns the VALUE column of name in a table printed by
// runNetstat, or "" when the name is not listed.
func tableValue(table, name string) string {
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == name {
			return f[2]
		}
	}
	return ""
}

func TestNetstatUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{"-file", "x", "-format", "windows"}, `unknown -format "windows"`},
		{"file without format", []string{"-file", "x"}, "-file needs -format"},
		{"format without file", []string{"-format", "darwin"}, "-format needs -file"},
		{"extra argument", []string{"now"}, `unexpected argument "now"`},
		{"proc-root with file", []string{"-file", "x", "-format", "linux-proc", "-proc-root", "/host/proc"}, "-proc-root is for the live system"},
		{"bad timeout", []string{"-timeout", "0s"}, "-timeout must be positive"},
		{"unknown flag", []string{"-frobnicate"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runNetstatArgs(t, tt.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want empty", stdout)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
			if !strings.Contains(stderr, "-h") && !strings.Contains(stderr, "usage") {
				t.Errorf("stderr %q has no usage hint", stderr)
			}
		})
	}
}

func TestNetstatHelp(t *testing.T) {
	code, _, stderr := runNetstatArgs(t, "-h")
	if code != 0 || !strings.Contains(stderr, "linux-nettools") || !strings.Contains(stderr, "-json") {
		t.Errorf("code %d, help %q", code, stderr)
	}
}

// procDir makes a copy of /proc/net from the package's test data.
func procDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range map[string]string{"snmp": "debian12-k6.18-snmp.txt", "netstat": "debian12-k6.18-netstat.txt"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "netstat", "testdata", src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestNetstatFileProcDirJSON(t *testing.T) {
	code, stdout, stderr := runNetstatArgs(t, "-json", "-file", procDir(t), "-format", "linux-proc")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Format   string             `json:"format"`
		Width    int                `json:"width"`
		Partial  bool               `json:"partial"`
		Counters map[string]uint64  `json:"counters"`
		Gauges   map[string]float64 `json:"gauges"`
		Raw      map[string]uint64  `json:"raw"`
		Warnings []string           `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if doc.Format != "linux-proc" || doc.Partial || len(doc.Warnings) != 0 {
		t.Errorf("format %q partial %v warnings %q", doc.Format, doc.Partial, doc.Warnings)
	}
	// snmp and netstat both read: Tcp from one, TcpExt/IpExt from the other.
	want := map[string]uint64{"tcp.segments_in": 653, "tcp.segments_out": 482, "udp.datagrams_in": 30, "udp.datagrams_out": 31, "tcp.timeouts": 2, "ip.octets_in": 18730323}
	for k, v := range want {
		if doc.Counters[k] != v {
			t.Errorf("counters[%s] = %d, want %d", k, doc.Counters[k], v)
		}
	}
	if g, ok := doc.Gauges["tcp.established"]; !ok || g != 0 {
		t.Errorf("gauges = %v", doc.Gauges)
	}
	if doc.Raw["TcpExt.TW"] != 14 || doc.Raw["Ip.OutTransmits"] != 507 {
		t.Errorf("raw TcpExt.TW = %d, Ip.OutTransmits = %d", doc.Raw["TcpExt.TW"], doc.Raw["Ip.OutTransmits"])
	}
}

func TestNetstatFileTable(t *testing.T) {
	code, stdout, stderr := runNetstatArgs(t, "-file", filepath.Join("..", "..", "netstat", "testdata", "stripchart-osx-2014-tcp.txt"), "-format", "darwin")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for name, want := range map[string]string{"tcp.segments_in": "7402898", "tcp.segments_out": "6878757", "tcp.retransmits": "158547", "tcp.listen_overflows": "21"} {
		if got := tableValue(stdout, name); got != want {
			t.Errorf("%s = %q, want %q\n%s", name, got, want, stdout)
		}
	}
	if !strings.Contains(stdout, "darwin, 32-bit counters") {
		t.Errorf("no source line: %s", stdout)
	}
	if tableValue(stdout, "udp.datagrams_in") != "" {
		t.Errorf("udp listed though the capture has no udp section")
	}
}

func TestNetstatFileRawTable(t *testing.T) {
	code, stdout, _ := runNetstatArgs(t, "-raw", "-file", filepath.Join("..", "..", "netstat", "testdata", "debian12-nettools2.10-k6.18.txt"), "-format", "linux-nettools")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stdout, "RAW FIELD") || !strings.Contains(stdout, "TcpExt.TCPRcvCoalesce") {
		t.Errorf("raw fields missing:\n%s", stdout)
	}
}

func TestNetstatFilePartialAndMalformed(t *testing.T) {
	fixtures := filepath.Join("..", "..", "..", "shared", "fixtures", "netstat")
	if _, err := os.Stat(fixtures); err != nil {
		t.Skipf("shared fixtures not found at %s (the shared tree sits beside the repository): %v", fixtures, err)
	}
	// Truncated capture: exit 0, values shown, PARTIAL on stderr.
	code, stdout, stderr := runNetstatArgs(t, "-file", filepath.Join(fixtures, "darwin", "marikannan-osx-2015-truncated.txt"), "-format", "darwin")
	if code != 0 || tableValue(stdout, "tcp.segments_in") != "50096" || !strings.Contains(stdout, "PARTIAL") {
		t.Errorf("truncated: exit %d\n%s", code, stdout)
	}
	if !strings.Contains(stderr, "PARTIAL") || !strings.Contains(stderr, `".............." has no number`) {
		t.Errorf("truncated: stderr %q", stderr)
	}
	// Header/value mismatch everywhere: exit 1 naming the sections.
	code, stdout, stderr = runNetstatArgs(t, "-file", filepath.Join(fixtures, "linux-proc", "insights-core-malformed-netstat-header-value-mismatch.txt"), "-format", "linux-proc")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "section TcpExt: 112 names but 113 values") {
		t.Errorf("malformed: exit %d stdout %q stderr %q", code, stdout, stderr)
	}
}

func TestNetstatMissingFile(t *testing.T) {
	code, _, stderr := runNetstatArgs(t, "-file", filepath.Join(t.TempDir(), "nope"), "-format", "darwin")
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("exit %d stderr %q", code, stderr)
	}
}

func TestNetstatLiveProcRoot(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("-proc-root is read on Linux only")
	}
	root := t.TempDir()
	dir := procDir(t)
	if err := os.Symlink(dir, filepath.Join(root, "net")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runNetstatArgs(t, "-proc-root", root)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if tableValue(stdout, "tcp.segments_in") != "653" || tableValue(stdout, "tcp.established") != "0" {
		t.Errorf("table:\n%s", stdout)
	}
}
