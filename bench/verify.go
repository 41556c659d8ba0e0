package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The agent's counters that -verify reads (exported by the agent's /metrics).
const (
	MetricLines       = "statsd_agent_lines_received_total"
	MetricPackets     = "statsd_agent_packets_received_total"
	MetricKernelDrops = "statsd_agent_udp_kernel_drops_total"
)

// ParseMetrics reads the Prometheus text exposition format and returns, for
// each metric name, the sum of its samples over all label sets. Comments and
// blank lines are skipped; a malformed sample line is an error.
func ParseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name, v, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("bench: metrics line %d: %w", lineNo, err)
		}
		out[name] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bench: metrics: %w", err)
	}
	return out, nil
}

// parseSample parses `name{label="value",...} value [timestamp]`.
func parseSample(line []byte) (string, float64, error) {
	i := 0
	for i < len(line) && isNameByte(line[i], i == 0) {
		i++
	}
	if i == 0 {
		return "", 0, fmt.Errorf("invalid metric name in %q", line)
	}
	name := string(line[:i])
	rest := line[i:]
	if len(rest) > 0 && rest[0] == '{' {
		end, err := skipLabels(rest)
		if err != nil {
			return "", 0, fmt.Errorf("%s: %w", name, err)
		}
		rest = rest[end:]
	}
	if len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
		return "", 0, fmt.Errorf("%s: missing value", name)
	}
	fields := bytes.Fields(rest)
	if len(fields) < 1 || len(fields) > 2 {
		return "", 0, fmt.Errorf("%s: want a value and an optional timestamp, got %q", name, rest)
	}
	v, err := strconv.ParseFloat(string(fields[0]), 64)
	if err != nil {
		return "", 0, fmt.Errorf("%s: invalid value %q", name, fields[0])
	}
	if len(fields) == 2 {
		if _, err := strconv.ParseInt(string(fields[1]), 10, 64); err != nil {
			return "", 0, fmt.Errorf("%s: invalid timestamp %q", name, fields[1])
		}
	}
	return name, v, nil
}

func isNameByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		return true
	case c >= '0' && c <= '9':
		return !first
	}
	return false
}

// skipLabels returns the index just past the '}' closing the label set that
// starts at p[0] == '{', honouring quoted values with \", \\ and \n escapes.
func skipLabels(p []byte) (int, error) {
	inQuote := false
	for i := 1; i < len(p); i++ {
		c := p[i]
		switch {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '}':
			return i + 1, nil
		}
	}
	return 0, errors.New("unterminated label set")
}

// Counters are the agent's receive counters at one moment.
type Counters struct {
	Lines, Packets, KernelDrops float64
	// HasPackets and HasKernelDrops tell whether the agent exports them.
	HasPackets, HasKernelDrops bool
}

// Verifier reads the agent's counters from its /metrics URL.
type Verifier struct {
	// URL is the agent's Prometheus metrics URL, e.g. http://127.0.0.1:9102/metrics.
	URL string
	// Client is the HTTP client; nil means one with a 5s timeout.
	Client *http.Client
	// Poll is the interval between scrapes while waiting; 0 means 100ms.
	Poll time.Duration
	// Settle is how long the line counter must stay unchanged to count as
	// caught up; 0 means 500ms.
	Settle time.Duration
	// MaxWait bounds the wait for the agent to catch up; 0 means 15s.
	MaxWait time.Duration
}

var defaultClient = &http.Client{Timeout: 5 * time.Second}

// Scrape reads the counters once. It is an error if the agent does not
// export MetricLines.
func (v *Verifier) Scrape(ctx context.Context) (Counters, error) {
	c := v.Client
	if c == nil {
		c = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.URL, nil)
	if err != nil {
		return Counters{}, fmt.Errorf("bench: verify: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return Counters{}, fmt.Errorf("bench: verify: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Counters{}, fmt.Errorf("bench: verify: GET %s: %s", v.URL, resp.Status)
	}
	m, err := ParseMetrics(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return Counters{}, err
	}
	return countersFrom(m, v.URL)
}

func countersFrom(m map[string]float64, url string) (Counters, error) {
	var c Counters
	var ok bool
	if c.Lines, ok = m[MetricLines]; !ok {
		return Counters{}, fmt.Errorf("bench: verify: %s does not export %s", url, MetricLines)
	}
	c.Packets, c.HasPackets = m[MetricPackets]
	c.KernelDrops, c.HasKernelDrops = m[MetricKernelDrops]
	return c, nil
}

// WaitCaughtUp scrapes until the agent has received want lines more than
// before, or its line counter has not changed for Settle, or MaxWait has
// passed, and returns the last counters read.
func (v *Verifier) WaitCaughtUp(ctx context.Context, before Counters, want int64) (Counters, error) {
	poll, settle, maxWait := v.Poll, v.Settle, v.MaxWait
	if poll == 0 {
		poll = 100 * time.Millisecond
	}
	if settle == 0 {
		settle = 500 * time.Millisecond
	}
	if maxWait == 0 {
		maxWait = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	last, err := v.Scrape(ctx)
	if err != nil {
		return last, err
	}
	changed := time.Now()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if last.Lines-before.Lines >= float64(want) {
			// All lines are in; read once more after a poll interval, so
			// that counters the agent publishes just after the line counter
			// (packets, drops) are complete too.
			select {
			case <-ctx.Done():
				return last, nil
			case <-t.C:
			}
			if c, err := v.Scrape(ctx); err == nil {
				last = c
			}
			return last, nil
		}
		if time.Since(changed) >= settle {
			return last, nil
		}
		select {
		case <-ctx.Done():
			// Out of time: the last reading stands.
			return last, nil
		case <-t.C:
		}
		c, err := v.Scrape(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return last, nil
			}
			return last, err
		}
		if c.Lines != last.Lines {
			changed = time.Now()
		}
		last = c
	}
}

// Verdict compares what was sent with what the agent counted.
type Verdict struct {
	Sent, Received int64
	// Packets is the agent's datagram count delta (if it exports one).
	Packets int64
	// KernelDrops is the agent socket's kernel drop count delta (if exported).
	KernelDrops int64
	HasPackets  bool
	HasDrops    bool
}

// NewVerdict computes the deltas between two scrapes.
func NewVerdict(sent int64, before, after Counters) Verdict {
	return Verdict{
		Sent:        sent,
		Received:    int64(after.Lines - before.Lines),
		Packets:     int64(after.Packets - before.Packets),
		KernelDrops: int64(after.KernelDrops - before.KernelDrops),
		HasPackets:  before.HasPackets && after.HasPackets,
		HasDrops:    before.HasKernelDrops && after.HasKernelDrops,
	}
}

// Loss is the percentage of sent lines the agent did not count, never
// negative (other clients may have sent lines too).
func (v Verdict) Loss() float64 { return lossPercent(v.Sent, v.Received) }

func lossPercent(sent, received int64) float64 {
	if sent <= 0 || received >= sent {
		return 0
	}
	return 100 * float64(sent-received) / float64(sent)
}
