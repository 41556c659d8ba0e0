package status

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/flush"
)

// Reading is one reading of the agent's cumulative counters.
type Reading struct {
	Packets, Lines, Invalid uint64
	// InvalidByReason splits Invalid by rejection reason.
	InvalidByReason map[string]uint64
	// KernelDrops counts datagrams the kernel dropped for the UDP socket.
	KernelDrops float64
	// Drops are the agent's own losses by cause (cumulative): truncated
	// datagrams, rate-limited lines, snapshots a backend queue dropped,
	// samples folded into overflow series, ...
	Drops map[string]float64
	// Backends is every backend's delivery state.
	Backends []flush.BackendStats
	// UDP is the UDP listen address, "" when UDP is off.
	UDP string
}

// Source gives the page its readings. Read is called once per flush from
// the flusher goroutine.
type Source interface {
	Read() Reading
}

// SourceFunc adapts a function to Source.
type SourceFunc func() Reading

// Read calls f.
func (f SourceFunc) Read() Reading { return f() }

// dropFamilies maps the agent's loss counters (read from its registry) to
// the names the page shows. Families are summed over their labels.
var dropFamilies = map[string]string{
	"statsd_agent_udp_truncated_total":           "truncated datagrams",
	"statsd_agent_ratelimit_dropped_lines_total": "rate-limited lines",
	"statsd_agent_flush_dropped_total":           "snapshots dropped by backend queues",
	"statsd_agent_overflow_samples_total":        "samples folded into overflow series",
	"statsd_agent_monitis_dropped_total":         "monitis results dropped",
	"statsd_agent_netuitive_dropped_total":       "netuitive items dropped",
}

const kernelDrops = "statsd_agent_udp_kernel_drops_total"

// AgentSource reads a's counters and backends, and the kernel's drop
// counter and the loss counters from g (the registry the agent was given
// as Config.Registerer).
func AgentSource(a *agent.Agent, g prometheus.Gatherer) Source {
	return SourceFunc(func() Reading {
		m := a.Metrics()
		r := Reading{
			Packets:         m.Packets.Load(),
			Lines:           m.Lines.Load(),
			Invalid:         m.Invalid.Load(),
			InvalidByReason: m.InvalidByReason(),
			Backends:        a.BackendStats(),
			Drops:           map[string]float64{},
		}
		if addr := a.UDPAddr(); addr != nil {
			r.UDP = addr.String()
		}
		if g == nil {
			return r
		}
		mfs, err := g.Gather()
		if err != nil && len(mfs) == 0 {
			return r
		}
		for _, mf := range mfs {
			name := mf.GetName()
			show, isDrop := dropFamilies[name]
			if name != kernelDrops && !isDrop {
				if !strings.HasSuffix(name, "_dropped_total") {
					continue
				}
				show = strings.TrimSuffix(strings.TrimPrefix(name, "statsd_agent_"), "_total")
			}
			var sum float64
			for _, m := range mf.Metric {
				switch {
				case m.Counter != nil:
					sum += m.Counter.GetValue()
				case m.Gauge != nil:
					sum += m.Gauge.GetValue()
				case m.Untyped != nil:
					sum += m.Untyped.GetValue()
				}
			}
			if name == kernelDrops {
				r.KernelDrops = sum
			} else {
				r.Drops[show] += sum
			}
		}
		return r
	})
}
