package netstat

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestNameTableDocumented checks that README.md and the package doc list
// every documented name with its kind and /proc field, and that names are
// unique.
func TestNameTableDocumented(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range metricDefs {
		if seen[d.name] {
			t.Errorf("%s defined twice", d.name)
		}
		seen[d.name] = true
		kind := "counter"
		if d.gauge {
			kind = "gauge"
		}
		row := fmt.Sprintf("| `%s` | %s | `%s` |", d.name, kind, d.proc)
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md has no row starting %q", row)
		}
		if !strings.Contains(string(doc), d.name) || !strings.Contains(string(doc), d.proc) {
			t.Errorf("doc.go does not list %s (%s)", d.name, d.proc)
		}
	}
	for _, n := range []string{TCPSegmentsIn, TCPSegmentsOut, UDPDatagramsIn, UDPDatagramsOut} {
		if !strings.Contains(string(readme), "| `"+n+"` | `netstat.") {
			t.Errorf("README.md Monitis table lacks %s", n)
		}
	}
}
