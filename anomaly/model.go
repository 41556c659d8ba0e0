package anomaly

import (
	"math"
	"time"
)

// hoursPerWeek is the number of buckets of the seasonal profile.
const hoursPerWeek = 168

// params are the numbers a baseline needs, resolved from a Config and the
// flush interval.
type params struct {
	k           float64
	alpha       float64 // weight of a new point in the means: 1 - 2^(-interval/halfLife)
	alphaVar    float64 // weight of a new point in the variances (varHalfLife)
	alphaRes    float64 // weight of a new point in the residual mean
	interval    int64   // seconds (at least 1)
	warm        int64   // points before any verdict
	need        int     // consecutive points outside (inside) to raise (clear)
	seasonWeeks int
	blendWeeks  int
	validMin    float64
	validMax    float64
	suddenN     int // 0 turns the sudden-change test off
	suddenMin   float64
	rollup      int64 // seconds averaged into one sudden-change point (at least interval)
}

// relFloor is the smallest standard deviation, relative to |mean|, a band
// uses: a constant series gets a band of +-k% instead of a zero-width one.
const relFloor = 0.01

// absFloor is the smallest standard deviation of any band.
const absFloor = 1e-9

// varHalfLifeFactor makes the variances' half-life this many times the
// means': the level follows the data within hours, while the spread is
// estimated from enough points that a 4-sigma band is not crossed by
// noise in the estimate itself.
const varHalfLifeFactor = 24

// resHalfLifeFactor makes the residual mean's half-life (the level of the
// series relative to its seasonal profile) this many times HalfLife: slow
// enough that a drift over hours leaves the band, fast enough that a
// lasting level shift is the new normal within a day.
const resHalfLifeFactor = 6

// maxFitCV suppresses the sudden-change test when the residual standard
// error of the fit exceeds this fraction of the window's mean (a poor fit).
const maxFitCV = 0.5

func newParams(c Config, interval time.Duration) params {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	sec := int64(interval / time.Second)
	if sec < 1 {
		sec = 1
	}
	p := params{
		k:           c.K,
		alpha:       1 - math.Exp2(-float64(interval)/float64(c.HalfLife)),
		alphaVar:    1 - math.Exp2(-float64(interval)/float64(varHalfLifeFactor*c.HalfLife)),
		alphaRes:    1 - math.Exp2(-float64(interval)/float64(resHalfLifeFactor*c.HalfLife)),
		interval:    sec,
		warm:        int64(math.Ceil(float64(c.WarmUp) / float64(interval))),
		need:        int(math.Ceil(float64(c.Duration) / float64(interval))),
		seasonWeeks: c.SeasonWeeks,
		blendWeeks:  DefaultBlendWeeks,
		validMin:    math.Inf(-1),
		validMax:    math.Inf(1),
		suddenMin:   c.SuddenChange,
	}
	if p.warm < DefaultMinWarmUp {
		p.warm = DefaultMinWarmUp
	}
	if p.need < 1 {
		p.need = 1
	}
	if c.SuddenPoints > 0 {
		p.suddenN = c.SuddenPoints
	}
	p.rollup = int64(time.Duration(c.SuddenRollup) / time.Second)
	if p.rollup < p.interval {
		p.rollup = p.interval
	}
	return p
}

// Band is the learned range of normal values of one series statistic at
// one time.
type Band struct {
	// Ready is false during the warm-up; the other fields are then the
	// rolling estimates so far and no verdict is made.
	Ready bool
	// Mean and Std are the baseline's expected value and standard
	// deviation.
	Mean, Std float64
	// Lower and Upper are Mean -+ K*Std clamped to the valid range.
	Lower, Upper float64
}

// bucket is one hour of the week in the seasonal profile: a line over the
// hour (value at the hour's centre and slope per hour, so a daily curve
// is followed within the hour and a step at the hour is kept sharp) and
// the variance around it.
type bucket struct {
	Mean  float64 `json:"m"`
	Slope float64 `json:"s"`
	Var   float64 `json:"v"`
	Weeks int     `json:"w"`
}

// baseline is the learned state of one series statistic. Its memory is
// fixed: 168 buckets (32 B each), the sudden-change window (16 B a point)
// and a few scalars: about 7 KiB on the heap with the default 24-point
// window, map entry and key included (TestMemoryPerSeries).
type baseline struct {
	// Rolling baseline: exponentially weighted mean and variance.
	N    int64   `json:"n"`
	Mean float64 `json:"mean"`
	Var  float64 `json:"var"`
	// Residual baseline: exponentially weighted mean and variance of
	// value - seasonal mean, learned once a bucket has a week behind it.
	EN    int64   `json:"en"`
	EMean float64 `json:"emean"`
	EVar  float64 `json:"evar"`
	// Seasonal profile by hour of week (Monday 00:00 UTC is bucket 0) and
	// the running statistics of the current hour, folded into its bucket
	// when the hour ends.
	Season [hoursPerWeek]bucket `json:"season"`
	Hour   int64                `json:"hour"` // Unix hour of the accumulator; 0 means empty
	HN     float64              `json:"hn"`
	HMx    float64              `json:"hmx"` // mean position in the hour (0..1)
	HMy    float64              `json:"hmy"` // mean value
	HCxx   float64              `json:"hcxx"`
	HCxy   float64              `json:"hcxy"`
	HCyy   float64              `json:"hcyy"`
	// Verdict state.
	Out       int   `json:"out"`
	In        int   `json:"in"`
	Deviating bool  `json:"deviating"`
	Since     int64 `json:"since"`
	// Sudden-change window: the last rollup averages and their periods
	// (Unix time / rollup), oldest first; the rollups left before the test
	// may fire again; the running sum of the current rollup.
	Ring    []float64 `json:"ring"`
	RingT   []int64   `json:"ring_t"`
	Cool    int       `json:"cool"`
	RSum    float64   `json:"rsum"`
	RN      int       `json:"rn"`
	RPeriod int64     `json:"rperiod"`
	Last    int64     `json:"last"` // Unix time of the last point
	// Neg is set once a negative value was seen: a counter, set or timer
	// statistic is clamped at 0 only while it has never been negative.
	Neg bool `json:"neg,omitempty"`
}

// result is the verdict on one point.
type result struct {
	Band      Band
	Outside   bool    // the value is outside the band
	Deviating bool    // the series is deviating after this point
	Raised    bool    // this point raised a deviation
	Recovered bool    // this point ended one
	Sudden    bool    // the sudden-change test fired
	Change    float64 // |observed - projected| / |projected| when Sudden
	Projected float64 // the projected rollup average when Sudden
	Value     float64 // the observed rollup average when Sudden
}

// hourOfWeek returns the bucket of Unix hour h (the Unix epoch was a
// Thursday, 72 hours after a Monday 00:00).
func hourOfWeek(h int64) int {
	return int(((h+72)%hoursPerWeek + hoursPerWeek) % hoursPerWeek)
}

func unixHour(t int64) int64 {
	if t < 0 {
		return (t - 3599) / 3600
	}
	return t / 3600
}

// predict returns the expected mean and variance of a value at Unix time t
// and whether the warm-up is over.
//
// The prediction mixes two distributions: the rolling baseline (mean,
// variance) and the seasonal one (bucket mean + residual mean, residual
// variance). The seasonal one's weight c grows with the weeks its bucket
// has seen (c = weeks/blendWeeks, capped at 1) and with the residual
// baseline's warm-up, so the band moves from the rolling baseline alone
// in week one to the seasonal profile once two weeks are seen. The
// mixture's variance is c*v2 + (1-c)*v1 + c*(1-c)*(m2-m1)^2: the band
// stays wide where the two disagree.
func (b *baseline) predict(p *params, t int64) (mean, variance float64, ready bool) {
	mean, variance = b.Mean, b.Var
	if b.N < p.warm {
		return mean, variance, false
	}
	sm, weeks := b.seasonal(t)
	if weeks == 0 || b.EN == 0 {
		return mean, variance, true
	}
	c := math.Min(weeks/float64(p.blendWeeks), 1) * math.Min(float64(b.EN)/float64(p.warm), 1)
	m2 := sm + b.EMean
	v2 := b.EVar
	d := m2 - mean
	return c*m2 + (1-c)*mean, c*v2 + (1-c)*variance + c*(1-c)*d*d, true
}

// seasonal returns the seasonal profile's expected value at Unix time t
// (its hour bucket's line) and the weeks behind it.
func (b *baseline) seasonal(t int64) (mean, weeks float64) {
	h := unixHour(t)
	bk := &b.Season[hourOfWeek(h)]
	if bk.Weeks == 0 {
		return 0, 0
	}
	pos := float64(t-h*3600) / 3600
	return bk.Mean + bk.Slope*(pos-0.5), float64(bk.Weeks)
}

// band returns the band at Unix time t.
func (b *baseline) band(p *params, t int64) Band {
	m, v, ready := b.predict(p, t)
	std := math.Sqrt(math.Max(v, 0))
	std = math.Max(std, math.Max(relFloor*math.Abs(m), absFloor))
	return Band{
		Ready: ready,
		Mean:  m,
		Std:   std,
		Lower: math.Max(m-p.k*std, p.validMin),
		Upper: math.Min(m+p.k*std, p.validMax),
	}
}

// observe judges value x at Unix time t against the band learned so far,
// then learns from it.
func (b *baseline) observe(p *params, t int64, x float64) result {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return result{Band: b.band(p, t), Deviating: b.Deviating}
	}
	r := result{Band: b.band(p, t)}
	if r.Band.Ready {
		if x < 0 && !b.Neg && p.validMin == 0 {
			// A first negative value: the statistic is not
			// non-negative after all; judge it without the clamp.
			q := *p
			q.validMin = math.Inf(-1)
			r.Band = b.band(&q, t)
		}
		r.Outside = x > r.Band.Upper || x < r.Band.Lower
		if r.Outside {
			b.Out++
			b.In = 0
		} else {
			b.In++
			b.Out = 0
		}
		switch {
		case !b.Deviating && b.Out >= p.need:
			b.Deviating, r.Raised, b.Since = true, true, t
		case b.Deviating && b.In >= p.need:
			b.Deviating, r.Recovered = false, true
		}
	}
	if p.suddenN > 0 {
		r.Sudden, r.Projected, r.Change, r.Value = b.rollupSudden(p, t, x, r.Band.Ready)
	}
	r.Deviating = b.Deviating
	b.learn(p, t, x, r.Band)
	return r
}

// learn updates the baselines with x. After the warm-up, x is first
// clamped to the unclamped band mean -+ k*std, so a spike moves the
// baseline by at most k standard deviations (a lasting level shift still
// becomes the new normal within a few half-lives).
func (b *baseline) learn(p *params, t int64, x float64, bd Band) {
	if bd.Ready {
		x = math.Min(math.Max(x, bd.Mean-p.k*bd.Std), bd.Mean+p.k*bd.Std)
	}
	b.N++
	b.Mean, b.Var = ewUpdate(b.Mean, b.Var, x, math.Max(p.alpha, 1/float64(b.N)), math.Max(p.alphaVar, 1/float64(b.N)))

	h := unixHour(t)
	if sm, weeks := b.seasonal(t); weeks > 0 {
		e := x - sm
		if b.EN == 0 {
			b.EMean, b.EVar = 0, b.Season[hourOfWeek(h)].Var
		}
		b.EN++
		b.EMean, b.EVar = ewUpdate(b.EMean, b.EVar, e, math.Max(p.alphaRes, 1/float64(b.EN)), math.Max(p.alphaVar, 1/float64(b.EN)))
	}
	if b.Hour != h {
		b.fold(p)
		b.Hour, b.HN, b.HMx, b.HMy, b.HCxx, b.HCxy, b.HCyy = h, 0, 0, 0, 0, 0, 0
	}
	// Running means and co-moments of (position in the hour, value).
	pos := float64(t-h*3600) / 3600
	b.HN++
	dx, dy := pos-b.HMx, x-b.HMy
	b.HMx += dx / b.HN
	b.HMy += dy / b.HN
	b.HCxx += dx * (pos - b.HMx)
	b.HCxy += dx * (x - b.HMy)
	b.HCyy += dy * (x - b.HMy)

	b.Last = t
	if x < 0 {
		b.Neg = true
	}
}

// fold adds the finished hour to its bucket: the first week sets it, later
// ones are averaged in with weight 1/min(weeks+1, seasonWeeks), as a
// mixture (the bucket's variance includes the spread between weeks).
func (b *baseline) fold(p *params) {
	if b.Hour == 0 || b.HN == 0 {
		return
	}
	bk := &b.Season[hourOfWeek(b.Hour)]
	// Least-squares line over the hour; a flat one from fewer than 3 points.
	var slope float64
	if b.HN >= 3 && b.HCxx > 0 {
		slope = b.HCxy / b.HCxx
	}
	m := b.HMy + slope*(0.5-b.HMx)
	hv := math.Max(b.HCyy-slope*b.HCxy, 0) / b.HN
	a := 1 / math.Min(float64(bk.Weeks+1), float64(p.seasonWeeks))
	d := m - bk.Mean
	bk.Mean += a * d
	bk.Slope += a * (slope - bk.Slope)
	bk.Var = (1-a)*bk.Var + a*hv + a*(1-a)*d*d
	if bk.Weeks < 1<<20 {
		bk.Weeks++
	}
}

// ewUpdate is one step of an exponentially weighted mean and variance,
// with weight a for the new value in the mean and av in the variance.
func ewUpdate(mean, variance, x, a, av float64) (float64, float64) {
	d := x - mean
	return mean + a*d, (1 - av) * (variance + av*d*d)
}

// rollupSudden adds raw value x to the current rollup (Config.SuddenRollup,
// 5 minutes: Netuitive's test runs on PT5M averages). When the rollup is
// complete (the next flush falls in the next period) or a later period
// begins, its average is judged by the sudden-change test, when judge is
// set (after the warm-up), and joins the window.
func (b *baseline) rollupSudden(p *params, t int64, x float64, judge bool) (fired bool, projected, change, avg float64) {
	per := floorDiv(t, p.rollup)
	if b.RN > 0 && per != b.RPeriod {
		// The previous period ended without its last flush (a gap).
		b.pushRollup(p, b.RSum/float64(b.RN), b.RPeriod)
		b.RSum, b.RN = 0, 0
	}
	b.RSum += x
	b.RN++
	b.RPeriod = per
	if floorDiv(t+p.interval, p.rollup) == per {
		return false, 0, 0, 0 // the period goes on
	}
	avg = b.RSum / float64(b.RN)
	b.RSum, b.RN = 0, 0
	if judge {
		fired, projected, change = b.sudden(p, per, avg)
	}
	b.pushRollup(p, avg, per)
	return fired, projected, change, avg
}

func (b *baseline) pushRollup(p *params, avg float64, per int64) {
	if len(b.Ring) >= p.suddenN {
		n := copy(b.Ring, b.Ring[len(b.Ring)-p.suddenN+1:])
		b.Ring = b.Ring[:n]
		n = copy(b.RingT, b.RingT[len(b.RingT)-p.suddenN+1:])
		b.RingT = b.RingT[:n]
	}
	b.Ring = append(b.Ring, avg)
	b.RingT = append(b.RingT, per)
	if b.Cool > 0 {
		b.Cool--
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// sudden is the sudden-change test on rollup average x of period per:
// fit a least-squares line to the last suddenN rollups, project the next
// one and report when x falls outside the projection's prediction
// interval (k standard errors) by at least suddenMin relative to the
// projection. It stays quiet while the window is not full or has a gap of
// over one rollup (sparse data), when the fit is poor (residual standard
// error over half the window's mean), when the move continues the
// window's trend, and for suddenN rollups after firing.
func (b *baseline) sudden(p *params, per int64, x float64) (fired bool, projected, change float64) {
	n := len(b.Ring)
	if p.suddenN == 0 || n < p.suddenN || b.Cool > 0 {
		return false, 0, 0
	}
	for i := 1; i < n; i++ {
		if b.RingT[i]-b.RingT[i-1] > 2 {
			return false, 0, 0
		}
	}
	if per-b.RingT[n-1] > 2 {
		return false, 0, 0
	}
	fn := float64(n)
	xbar := (fn - 1) / 2
	var ybar float64
	for _, y := range b.Ring {
		ybar += y
	}
	ybar /= fn
	var sxx, sxy float64
	for i, y := range b.Ring {
		dx := float64(i) - xbar
		sxx += dx * dx
		sxy += dx * (y - ybar)
	}
	slope := sxy / sxx
	icept := ybar - slope*xbar
	var sse float64
	for i, y := range b.Ring {
		r := y - (icept + slope*float64(i))
		sse += r * r
	}
	s := math.Sqrt(sse / (fn - 2))
	if s > maxFitCV*math.Abs(ybar) {
		return false, 0, 0 // poor fit
	}
	projected = icept + slope*fn
	dx := fn - xbar
	sp := s * math.Sqrt(1+1/fn+dx*dx/sxx)
	diff := x - projected
	if math.Abs(diff) <= p.k*sp {
		return false, 0, 0
	}
	if math.Abs(slope)*fn > 3*s && (diff > 0) == (slope > 0) {
		return false, 0, 0 // continues the trend
	}
	change = math.Inf(1)
	if projected != 0 {
		change = math.Abs(diff) / math.Abs(projected)
	}
	if change < p.suddenMin {
		return false, 0, 0
	}
	b.Cool = p.suddenN
	return true, projected, change
}
