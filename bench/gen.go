package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// MaxDatagram is the largest UDP payload over IPv4.
const MaxDatagram = 65507

// Mix is the share of lines of each metric type, in percent or any other
// weights (only their ratios matter). The zero Mix means counters only.
type Mix struct {
	Counter, Timer, Gauge, Set, Histogram, Distribution int
}

// DefaultMix is the workload: 70 % counters, 20 % timers, 10 % gauges.
var DefaultMix = Mix{Counter: 70, Timer: 20, Gauge: 10}

// ParseMix parses "c=70,ms=20,g=10,s=0" (keys c, ms, g, s, h, d; values are
// non-negative integer weights, at least one positive).
func ParseMix(s string) (Mix, error) {
	var m Mix
	if strings.TrimSpace(s) == "" {
		return m, errors.New("bench: empty mix")
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Mix{}, fmt.Errorf("bench: mix %q: want type=weight, got %q", s, part)
		}
		w, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || w < 0 {
			return Mix{}, fmt.Errorf("bench: mix %q: weight of %q must be a non-negative integer", s, k)
		}
		k = strings.TrimSpace(k)
		if seen[k] {
			return Mix{}, fmt.Errorf("bench: mix %q: type %q given twice", s, k)
		}
		seen[k] = true
		switch k {
		case "c":
			m.Counter = w
		case "ms":
			m.Timer = w
		case "g":
			m.Gauge = w
		case "s":
			m.Set = w
		case "h":
			m.Histogram = w
		case "d":
			m.Distribution = w
		default:
			return Mix{}, fmt.Errorf("bench: mix %q: unknown type %q (want c, ms, g, s, h or d)", s, k)
		}
	}
	if m.total() == 0 {
		return Mix{}, fmt.Errorf("bench: mix %q: all weights are zero", s)
	}
	return m, nil
}

// String formats m as ParseMix reads it, omitting zero weights.
func (m Mix) String() string {
	var parts []string
	for _, e := range m.entries() {
		if e.w > 0 {
			parts = append(parts, e.code+"="+strconv.Itoa(e.w))
		}
	}
	return strings.Join(parts, ",")
}

type mixEntry struct {
	code string
	w    int
}

func (m Mix) entries() []mixEntry {
	return []mixEntry{{"c", m.Counter}, {"ms", m.Timer}, {"g", m.Gauge}, {"s", m.Set}, {"h", m.Histogram}, {"d", m.Distribution}}
}

func (m Mix) total() int {
	t := 0
	for _, e := range m.entries() {
		t += e.w
	}
	return t
}

// Workload describes the lines the sender sends.
type Workload struct {
	// Keys is the number of distinct series (name, type, tags). 0 means 1000.
	Keys int
	// Mix is the share of each type. The zero Mix means counters only.
	Mix Mix
	// Tags is the number of DogStatsD tags ("|#k:v,...") on each line; 0 means none.
	Tags int
	// PacketBytes bounds a datagram's size when LinesPerPacket is 0.
	// 0 means 1400.
	PacketBytes int
	// LinesPerPacket, when positive, puts exactly that many lines in each
	// datagram, whatever their size (at most MaxDatagram bytes).
	LinesPerPacket int
	// Seed makes the workload reproducible. 0 means 1.
	Seed uint64
}

func (w Workload) withDefaults() Workload {
	if w.Keys == 0 {
		w.Keys = 1000
	}
	if w.Mix.total() == 0 {
		w.Mix = Mix{Counter: 1}
	}
	if w.PacketBytes == 0 {
		w.PacketBytes = 1400
	}
	if w.Seed == 0 {
		w.Seed = 1
	}
	return w
}

// Validate reports a workload that cannot be generated.
func (w Workload) Validate() error {
	w = w.withDefaults()
	switch {
	case w.Keys < 0 || w.Keys > 10_000_000:
		return fmt.Errorf("bench: keys %d out of range 1..10000000", w.Keys)
	case w.Tags < 0 || w.Tags > 64:
		return fmt.Errorf("bench: tags %d out of range 0..64", w.Tags)
	case w.PacketBytes < 64 || w.PacketBytes > MaxDatagram:
		return fmt.Errorf("bench: packet bytes %d out of range 64..%d", w.PacketBytes, MaxDatagram)
	case w.LinesPerPacket < 0 || w.LinesPerPacket > 10000:
		return fmt.Errorf("bench: lines per packet %d out of range 0..10000", w.LinesPerPacket)
	}
	for _, e := range w.Mix.entries() {
		if e.w < 0 {
			return fmt.Errorf("bench: negative weight for %s", e.code)
		}
	}
	return nil
}

// Datagram is one prebuilt UDP payload and the number of lines in it.
type Datagram struct {
	Payload []byte
	Lines   int
}

// Pool is a set of prebuilt datagrams the sender cycles over.
type Pool struct {
	Datagrams []Datagram
	// Lines is the total number of lines in Datagrams.
	Lines int
	// Bytes is the total payload size of Datagrams.
	Bytes int
}

// LinesPerDatagram is the mean number of lines per datagram.
func (p *Pool) LinesPerDatagram() float64 {
	if len(p.Datagrams) == 0 {
		return 0
	}
	return float64(p.Lines) / float64(len(p.Datagrams))
}

// Word lists for realistic, deterministic metric names such as
// "checkout.api.http.requests.get_orders".
var (
	nameServices   = []string{"checkout", "search", "billing", "auth", "catalog", "cart", "shipping", "profile", "ads", "inventory", "payments", "gateway", "notify", "reports", "media", "feed"}
	nameComponents = []string{"api", "db", "cache", "queue", "worker", "http", "grpc", "scheduler"}
	nameMetrics    = []string{"requests", "errors", "latency", "hits", "misses", "bytes_out", "retries", "queue_depth", "connections", "timeouts"}
	tagKeys        = []string{"env", "region", "host", "version", "az", "team", "shard", "tier"}
	tagValues      = []string{"prod", "us-east-1", "web-03", "v2.14.1", "b", "core", "17", "gold", "staging", "eu-west-2", "web-11", "v2.15.0"}
)

// metricName returns the name of key i: unique per i, built from the word lists.
func metricName(i int) string {
	s := nameServices[i%len(nameServices)]
	i /= len(nameServices)
	c := nameComponents[i%len(nameComponents)]
	i /= len(nameComponents)
	m := nameMetrics[i%len(nameMetrics)]
	i /= len(nameMetrics)
	return s + "." + c + "." + m + ".k" + strconv.Itoa(i)
}

// key is one series of the workload: its line prefix ("name:") and suffix
// ("|c|#tags"), and its type.
type key struct {
	name   string
	code   string
	suffix string
}

// keys assigns each of n keys a type so that the share of each type follows
// the mix (largest-remainder rounding), and interleaves them deterministically.
func (w Workload) keys(r *rand.Rand) []key {
	entries := w.Mix.entries()
	total := w.Mix.total()
	counts := make([]int, len(entries))
	type rem struct{ i, r int }
	var rems []rem
	assigned := 0
	for i, e := range entries {
		counts[i] = w.Keys * e.w / total
		assigned += counts[i]
		rems = append(rems, rem{i, w.Keys * e.w % total})
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for j := 0; assigned < w.Keys; j++ {
		if entries[rems[j%len(rems)].i].w > 0 {
			counts[rems[j%len(rems)].i]++
			assigned++
		}
	}
	ks := make([]key, 0, w.Keys)
	for i, e := range entries {
		for range counts[i] {
			ks = append(ks, key{code: e.code})
		}
	}
	r.Shuffle(len(ks), func(a, b int) { ks[a], ks[b] = ks[b], ks[a] })
	for i := range ks {
		ks[i].name = metricName(i)
		suffix := "|" + ks[i].code
		if w.Tags > 0 {
			var tags []string
			for t := range w.Tags {
				k := tagKeys[t%len(tagKeys)]
				if t >= len(tagKeys) {
					k += strconv.Itoa(t / len(tagKeys))
				}
				tags = append(tags, k+":"+tagValues[(i+t)%len(tagValues)])
			}
			suffix += "|#" + strings.Join(tags, ",")
		}
		ks[i].suffix = suffix
	}
	return ks
}

// appendValue appends a plausible value for a line of the given type.
func appendValue(b []byte, code string, r *rand.Rand) []byte {
	switch code {
	case "c":
		return strconv.AppendInt(b, int64(1+r.IntN(5)), 10)
	case "g":
		return strconv.AppendInt(b, int64(r.IntN(10000)), 10)
	case "s":
		b = append(b, "user"...)
		return strconv.AppendInt(b, int64(r.IntN(5000)), 10)
	default: // ms, h, d
		return strconv.AppendFloat(b, float64(r.IntN(500000))/1000, 'f', -1, 64)
	}
}

// maxPoolBytes bounds the pool's memory.
const maxPoolBytes = 64 << 20

// Build generates the datagram pool: it cycles over every key (in a fixed
// shuffled order) at least once and produces at least 256 datagrams, with
// varying values, packed by LinesPerPacket or PacketBytes.
func (w Workload) Build() (*Pool, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	w = w.withDefaults()
	r := rand.New(rand.NewPCG(w.Seed, 0x5eed))
	ks := w.keys(r)
	p := &Pool{}
	var buf []byte
	lines := 0
	emit := func() {
		if lines == 0 {
			return
		}
		p.Datagrams = append(p.Datagrams, Datagram{Payload: buf, Lines: lines})
		p.Lines += lines
		p.Bytes += len(buf)
		buf, lines = nil, 0
	}
	var line []byte
	for i := 0; ; i++ {
		done := i >= len(ks) && len(p.Datagrams) >= 256 || p.Bytes > maxPoolBytes
		if done && (w.LinesPerPacket == 0 || lines == 0) {
			emit()
			break
		}
		k := ks[i%len(ks)]
		line = append(line[:0], k.name...)
		line = append(line, ':')
		line = appendValue(line, k.code, r)
		line = append(line, k.suffix...)
		if w.LinesPerPacket > 0 {
			if len(buf)+1+len(line) > MaxDatagram {
				return nil, fmt.Errorf("bench: %d lines per packet do not fit in one datagram (%d bytes)", w.LinesPerPacket, MaxDatagram)
			}
		} else {
			if len(line) > w.PacketBytes {
				return nil, fmt.Errorf("bench: a line of %d bytes does not fit in %d packet bytes", len(line), w.PacketBytes)
			}
			if len(buf)+1+len(line) > w.PacketBytes {
				emit()
			}
		}
		if lines > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, line...)
		lines++
		if w.LinesPerPacket > 0 && lines == w.LinesPerPacket {
			emit()
		}
	}
	return p, nil
}
