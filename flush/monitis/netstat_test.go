package monitis

import (
	"testing"

	"github.com/statsd-agent/statsd-agent/netstat"
)

// The netstat monitor's series names are the netstat probe's documented
// names (the backend does not import the probe).
func TestNetstatNamesMatchProbe(t *testing.T) {
	want := []string{netstat.TCPSegmentsIn, netstat.TCPSegmentsOut, netstat.UDPDatagramsIn, netstat.UDPDatagramsOut}
	for i, n := range netstatParams {
		if n.series != want[i] {
			t.Errorf("netstatParams[%d].series = %q, want %q", i, n.series, want[i])
		}
	}
	if netstat.DefaultPrefix != "netstat." {
		t.Errorf("the probe's default prefix is %q; update the backend's NetstatPrefix default", netstat.DefaultPrefix)
	}
}
