package anomaly

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

var update = flag.Bool("update", false, "rewrite the evaluation table in ../docs/anomaly.md")

// The evaluation: seasonal series with injected anomalies, generated from
// a fixed seed, judged by the Detector (through Process, as in the agent)
// and by two baselines, scored per anomaly.
const (
	evalSeed    = 20261122
	evalSeries  = 48
	evalStep    = 5 * time.Minute // Netuitive's PT5M rollup
	evalWeeks   = 6
	evalTrain   = 2 // weeks without anomalies at the start
	evalPerSer  = 3 // anomalies per series, in weeks 3..6
	evalGrace   = time.Hour
	evalGroup   = time.Hour
	zWindow     = 36 // rolling z-score window: 3 hours
	staticK     = 4.0
	zK          = 4.0
	weekPoints  = int(7 * 24 * time.Hour / evalStep)
	totalPoints = evalWeeks * weekPoints
)

type anomalyKind int

const (
	spike anomalyKind = iota
	levelShift
	drift
	kinds
)

func (k anomalyKind) String() string { return [...]string{"spike", "level shift", "slow drift"}[k] }

// label is one injected anomaly: points [start, end) are anomalous; an
// alarm from start to end+grace detects it.
type label struct {
	kind       anomalyKind
	start, end int
}

type evalSeriesData struct {
	values []float64
	labels []label
}

// generate builds one series: level L, a daily sine (amplitude up to 40%
// of L, peak at a random hour), quieter weekends, Gaussian noise of 2-6%
// of L, and evalPerSer anomalies at random times in weeks 3..6, two days
// apart at least: spikes of 6-12 noise sd for 1-3 points, level shifts of
// 5-10 sd that last, and drifts that ramp up to 8-15 sd over 6-24 h and
// back down over the same time.
func generate(rng *rand.Rand) evalSeriesData {
	level := 50 + 450*rng.Float64()
	amp := level * 0.4 * rng.Float64()
	phase := 2 * math.Pi * rng.Float64()
	weekend := 0.6 + 0.4*rng.Float64()
	sd := level * (0.02 + 0.04*rng.Float64())
	vals := make([]float64, totalPoints)
	for i := range vals {
		ts := monday.Add(time.Duration(i) * evalStep)
		day := float64(ts.Hour()*60+ts.Minute()) / (24 * 60)
		v := level + amp*math.Sin(2*math.Pi*day+phase)
		if wd := ts.Weekday(); wd == time.Saturday || wd == time.Sunday {
			v = level - (level-v)*weekend - level*(1-weekend)*0.5
		}
		vals[i] = v + sd*rng.NormFloat64()
	}
	var labels []label
	gap := 2 * 24 * int(time.Hour/evalStep)
	for len(labels) < evalPerSer {
		start := evalTrain*weekPoints + rng.IntN((evalWeeks-evalTrain)*weekPoints-gap)
		ok := true
		for _, l := range labels {
			if start > l.start-gap && start < l.end+gap {
				ok = false
			}
		}
		if !ok {
			continue
		}
		kind := anomalyKind(rng.IntN(int(kinds)))
		sign := 1.0
		if rng.IntN(3) == 0 {
			sign = -1
		}
		var l label
		switch kind {
		case spike:
			n := 1 + rng.IntN(3)
			mag := sign * sd * (6 + 6*rng.Float64())
			for i := start; i < start+n; i++ {
				vals[i] += mag
			}
			l = label{kind, start, start + n}
		case levelShift:
			mag := sign * sd * (5 + 5*rng.Float64())
			for i := start; i < totalPoints; i++ {
				vals[i] += mag
			}
			l = label{kind, start, start + int(2*time.Hour/evalStep)}
		case drift:
			n := int((6 + 18*rng.Float64()) * float64(time.Hour/evalStep))
			mag := sign * sd * (8 + 7*rng.Float64())
			end := min(start+2*n, totalPoints)
			for i := start; i < end; i++ {
				f := float64(i-start) / float64(n)
				if f > 1 {
					f = 2 - f
				}
				vals[i] += mag * f
			}
			l = label{kind, start, end}
		}
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool { return labels[i].start < labels[j].start })
	for i := range vals {
		vals[i] = math.Max(vals[i], 0) // a rate or a latency is never negative
	}
	return evalSeriesData{vals, labels}
}

func generateAll() []evalSeriesData {
	rng := rand.New(rand.NewPCG(evalSeed, evalSeed))
	out := make([]evalSeriesData, evalSeries)
	for i := range out {
		out[i] = generate(rng)
	}
	return out
}

// alarms are the points at which a method raised an alarm, per series.
type alarms [][]int

// runDetector feeds every series through a Detector as gauges of one
// snapshot per step and collects its events by kind.
func runDetector(t *testing.T, data []evalSeriesData, cfg Config) (band, sudden alarms) {
	t.Helper()
	cfg.Patterns = []string{"gauge:eval.*:value"}
	d, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	band, sudden = make(alarms, len(data)), make(alarms, len(data))
	idx := map[string]int{}
	names := make([]string, len(data))
	for i := range data {
		names[i] = fmt.Sprintf("eval.s%02d", i)
		idx[names[i]] = i
	}
	s := &aggregate.Snapshot{Interval: evalStep, Series: make([]aggregate.Series, len(data))}
	for p := range totalPoints {
		s.Time = monday.Add(time.Duration(p) * evalStep)
		s.Events = s.Events[:0]
		for i := range data {
			s.Series[i] = aggregate.Series{Name: names[i], Type: protocol.Gauge, Value: data[i].values[p]}
		}
		d.Process(s)
		for _, ev := range s.Events {
			var metric, kind string
			for _, tg := range ev.Tags {
				switch tg.Key {
				case "metric":
					metric = tg.Value
				case "anomaly":
					kind = tg.Value
				}
			}
			switch kind {
			case "deviation":
				band[idx[metric]] = append(band[idx[metric]], p)
			case "sudden_change":
				sudden[idx[metric]] = append(sudden[idx[metric]], p)
			}
		}
	}
	return band, sudden
}

// runStatic alarms when a value leaves mean -+ k sd of the training weeks
// (one fixed band per series: the classic static threshold).
func runStatic(data []evalSeriesData) alarms {
	out := make(alarms, len(data))
	for i, d := range data {
		train := d.values[:evalTrain*weekPoints]
		var sum, sq float64
		for _, v := range train {
			sum += v
		}
		m := sum / float64(len(train))
		for _, v := range train {
			sq += (v - m) * (v - m)
		}
		sd := math.Sqrt(sq / float64(len(train)))
		out[i] = raise(d.values[evalTrain*weekPoints:], evalTrain*weekPoints, func(_ int, v float64) bool {
			return math.Abs(v-m) > staticK*sd
		})
	}
	return out
}

// runZScore alarms when a value is more than zK sd from the mean of the
// previous zWindow points (a plain rolling z-score, no seasonality).
func runZScore(data []evalSeriesData) alarms {
	out := make(alarms, len(data))
	for i, d := range data {
		out[i] = raise(d.values, 0, func(p int, v float64) bool {
			if p < zWindow {
				return false
			}
			var sum, sq float64
			for _, x := range d.values[p-zWindow : p] {
				sum += x
			}
			m := sum / zWindow
			for _, x := range d.values[p-zWindow : p] {
				sq += (x - m) * (x - m)
			}
			sd := math.Max(math.Sqrt(sq/zWindow), 1e-9)
			return math.Abs(v-m) > zK*sd
		})
	}
	return out
}

// raise returns the points where outside turns true (an alarm each time a
// value leaves the normal range after being inside).
func raise(vals []float64, offset int, outside func(p int, v float64) bool) []int {
	var out []int
	was := false
	for j, v := range vals {
		o := outside(offset+j, v)
		if o && !was {
			out = append(out, offset+j)
		}
		was = o
	}
	return out
}

// learning counts the alarms in the learning weeks, grouped hourly.
func learning(al alarms) int {
	n := 0
	for _, as := range al {
		last := -1 << 30
		for _, a := range as {
			if a < evalTrain*weekPoints && a-last >= int(evalGroup/evalStep) {
				n++
				last = a
			}
		}
	}
	return n
}

func merge(a, b alarms) alarms {
	out := make(alarms, len(a))
	for i := range a {
		out[i] = append(append([]int(nil), a[i]...), b[i]...)
		sort.Ints(out[i])
	}
	return out
}

// score is one method's result over every series.
type score struct {
	method          string
	detected, total [kinds]int
	delays          [kinds][]float64 // minutes
	falseAlarms     int
}

func (s score) precision() float64 {
	tp := 0
	for k := range kinds {
		tp += s.detected[k]
	}
	if tp+s.falseAlarms == 0 {
		return 0
	}
	return float64(tp) / float64(tp+s.falseAlarms)
}

func (s score) recall(k anomalyKind) float64 { return float64(s.detected[k]) / float64(s.total[k]) }

func (s score) recallAll() float64 {
	var d, n int
	for k := range kinds {
		d += s.detected[k]
		n += s.total[k]
	}
	return float64(d) / float64(n)
}

func (s score) f1() float64 {
	p, r := s.precision(), s.recallAll()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// evaluate scores alarms against the labels: an anomaly is detected by
// the first alarm in [start, end+grace); every alarm in no such window,
// from the first anomaly-free week on, is a false alarm (the first
// evalTrain weeks are learning time for every method and not scored).
//
// Alarms of a series less than evalGroup after the previous kept one are
// grouped with it (as an alert manager would), for every method alike.
func evaluate(method string, data []evalSeriesData, all alarms) score {
	s := score{method: method}
	grace := int(evalGrace / evalStep)
	group := int(evalGroup / evalStep)
	al := make(alarms, len(all))
	for i, as := range all {
		for _, a := range as {
			if n := len(al[i]); n == 0 || a-al[i][n-1] >= group {
				al[i] = append(al[i], a)
			}
		}
	}
	for i, d := range data {
		for _, l := range d.labels {
			s.total[l.kind]++
			for _, a := range al[i] {
				if a >= l.start && a < l.end+grace {
					s.detected[l.kind]++
					s.delays[l.kind] = append(s.delays[l.kind], float64(a-l.start)*evalStep.Minutes())
					break
				}
			}
		}
		for _, a := range al[i] {
			if a < evalTrain*weekPoints {
				continue
			}
			in := false
			for _, l := range d.labels {
				if a >= l.start && a < l.end+grace {
					in = true
				}
			}
			if !in {
				s.falseAlarms++
			}
		}
	}
	return s
}

func table(scores []score) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "| method | precision | recall | F1 | false alarms | recall spike / shift / drift | median delay, min: spike / shift / drift |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|\n")
	for _, s := range scores {
		var rec, del []string
		for k := range kinds {
			rec = append(rec, fmt.Sprintf("%.2f", s.recall(k)))
			if m := median(s.delays[k]); math.IsNaN(m) {
				del = append(del, "-")
			} else {
				del = append(del, fmt.Sprintf("%.0f", m))
			}
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %.2f | %d | %s | %s |\n", s.method, s.precision(), s.recallAll(), s.f1(),
			s.falseAlarms, strings.Join(rec, " / "), strings.Join(del, " / "))
	}
	return b.String()
}

// TestEvaluation runs the evaluation and checks its results against
// thresholds; with -update it rewrites the table in docs/anomaly.md.
func TestEvaluation(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluation skipped in -short mode")
	}
	data := generateAll()
	band, sudden := runDetector(t, data, Config{})
	scores := []score{
		evaluate("static threshold (training mean -+ 4 sd)", data, runStatic(data)),
		evaluate(fmt.Sprintf("rolling z-score (%d points, abs z > 4)", zWindow), data, runZScore(data)),
		evaluate("learned band (k = 4, defaults)", data, band),
		evaluate("sudden change (24 points)", data, sudden),
		evaluate("learned band or sudden change", data, merge(band, sudden)),
	}
	tab := table(scores) + fmt.Sprintf("\nAlarms in the two learning weeks (no anomaly injected, not scored above): "+
		"rolling z-score %d, learned band %d (cold start: rolling baseline only in week 1).\n",
		learning(runZScore(data)), learning(band))
	t.Logf("evaluation, %d series x %d weeks at %s, %d anomalies:\n%s", evalSeries, evalWeeks, evalStep,
		evalSeries*evalPerSer, tab)

	const doc = "../docs/anomaly.md"
	const begin, end = "<!-- evaluation table: go test ./anomaly -run TestEvaluation -update -->\n", "<!-- end of evaluation table -->"
	old, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(old, []byte(begin)), bytes.Index(old, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s lacks the table markers", doc)
	}
	if *update {
		out := append(append(append([]byte(nil), old[:i+len(begin)]...), tab...), old[j:]...)
		if err := os.WriteFile(doc, out, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if got := string(old[i+len(begin) : j]); got != tab {
		t.Errorf("%s has a stale evaluation table; run go test ./anomaly -run TestEvaluation -update", doc)
	}

	ours, static, z, both := scores[2], scores[0], scores[1], scores[4]
	for _, c := range []struct {
		what string
		ok   bool
	}{
		{"band precision >= 0.75", ours.precision() >= 0.75},
		{"band recall >= 0.75", ours.recallAll() >= 0.75},
		{"band spike recall >= 0.9", ours.recall(spike) >= 0.9},
		{"band level-shift recall >= 0.85", ours.recall(levelShift) >= 0.85},
		{"band drift recall >= 0.4", ours.recall(drift) >= 0.4},
		{"band cold-start alarms <= 1 per series", learning(band) <= evalSeries},
		{"band F1 above the static threshold's", ours.f1() > static.f1()},
		{"band F1 above the rolling z-score's", ours.f1() > z.f1()},
		{"band or sudden recall >= band recall", both.recallAll() >= ours.recallAll()},
	} {
		if !c.ok {
			t.Errorf("evaluation: want %s\n%s", c.what, tab)
		}
	}
}
