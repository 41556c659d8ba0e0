package aggregate

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/statsd-agent/statsd-agent/protocol"
)

// stateVersion is the format version of MarshalState.
const stateVersion = 1

type savedState struct {
	Version int          `json:"version"`
	Gauges  []savedGauge `json:"gauges"`
}

type savedGauge struct {
	Name    string         `json:"name"`
	Tags    []protocol.Tag `json:"tags,omitempty"`
	Value   float64        `json:"value"`
	Updated time.Time      `json:"updated"`
}

// MarshalState returns the state that outlives an interval (gauge values
// and their last update), so a restarted agent keeps sending gauges and
// applies deltas to the right values. Call it after the final Flush.
func (a *Aggregator) MarshalState() ([]byte, error) {
	a.flushMu.Lock()
	st := savedState{Version: stateVersion}
	for _, g := range a.gauges {
		st.Gauges = append(st.Gauges, savedGauge{Name: g.name, Tags: g.tags, Value: g.value, Updated: g.updated})
	}
	a.flushMu.Unlock()
	return json.Marshal(st)
}

// UnmarshalState restores what MarshalState saved. Gauges already known
// keep their current value.
func (a *Aggregator) UnmarshalState(b []byte) error {
	var st savedState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("aggregate: state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("aggregate: state version %d, want %d", st.Version, stateVersion)
	}
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	for _, g := range st.Gauges {
		k := gaugeKey(g.Name, g.Tags)
		if _, ok := a.gauges[k]; ok {
			continue
		}
		a.gauges[k] = &gaugeState{name: g.Name, tags: g.Tags, value: g.Value, updated: g.Updated}
	}
	return nil
}

// gaugeKey builds the series key a shard uses: type, name, NUL, canonical tags.
func gaugeKey(name string, tags []protocol.Tag) string {
	var b strings.Builder
	b.WriteByte(byte(protocol.Gauge))
	b.WriteString(name)
	b.WriteByte(0)
	for i, t := range tags {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.Key)
		if t.Value != "" {
			b.WriteByte(':')
			b.WriteString(t.Value)
		}
	}
	return b.String()
}

// Delete forgets the carried state of the series whose name matches
// pattern (a path.Match glob, e.g. "api.*" or an exact name): gauges and,
// under IdleZero, idle series stop being emitted until they receive a
// sample again. It returns how many series were forgotten; a malformed
// pattern is an error.
func (a *Aggregator) Delete(pattern string) (int, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return 0, fmt.Errorf("aggregate: pattern %q: %w", pattern, err)
	}
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	n := 0
	for k, g := range a.gauges {
		if ok, _ := path.Match(pattern, g.name); ok {
			delete(a.gauges, k)
			n++
		}
	}
	for k, st := range a.idle {
		if ok, _ := path.Match(pattern, st.name); ok {
			delete(a.idle, k)
			n++
		}
	}
	return n, nil
}
