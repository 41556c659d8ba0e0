package anomaly

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strings"
	"time"
)

// Defaults a zero Config stands for.
const (
	DefaultK            = 4.0
	DefaultWarmUp       = time.Hour
	DefaultMinWarmUp    = 30 // points: the warm-up is never shorter
	DefaultHalfLife     = time.Hour
	DefaultSeasonWeeks  = 4
	DefaultBlendWeeks   = 2
	DefaultSuddenPoints = 24
	DefaultSuddenChange = 0.25
	DefaultSuddenRollup = 5 * time.Minute
	DefaultMaxSeries    = 1000
	DefaultMaxIdle      = 14 * 24 * time.Hour
)

// DefaultPatterns selects every timer's mean and upper_90 and every
// counter's rate.
var DefaultPatterns = []string{"timer:*:mean", "timer:*:upper_90", "counter:*:rate"}

// Duration is a time.Duration that decodes from TOML and flags as a Go
// duration string ("30s", "1h").
type Duration time.Duration

// UnmarshalText parses a Go duration string; negative durations are errors.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("anomaly: %w", err)
	}
	if v < 0 {
		return fmt.Errorf("anomaly: duration %s is negative", v)
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String formats d as a Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// Set implements flag.Value.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Config configures a Detector. The zero value is a disabled detector with
// the documented defaults; decode it from the [anomaly] table of the
// config file and override with RegisterFlags.
type Config struct {
	// Enabled turns anomaly detection on (-anomaly).
	Enabled bool `toml:"enabled"`
	// Patterns select the series statistics to learn, each
	// "TYPE:NAME:STAT" where TYPE is counter, gauge, timer, histogram,
	// distribution, set or *, and NAME and STAT are globs (* any run of
	// characters, ? one character) over the metric name and the statistic
	// key of aggregate.Series.Values ("rate", "mean", "upper_90", ...).
	// Empty means DefaultPatterns.
	Patterns []string `toml:"patterns"`
	// K is the band's half-width in standard deviations; 0 means 4.
	K float64 `toml:"k"`
	// Duration is how long a value must stay outside its band before a
	// deviation event is raised, and inside it again before the recovery
	// event; it is rounded up to whole flush intervals. 0 means one
	// interval: the first point outside raises the event.
	Duration Duration `toml:"duration"`
	// WarmUp is how long a series is learned before any verdict; 0 means
	// 1h. It is never shorter than 30 points.
	WarmUp Duration `toml:"warm_up"`
	// HalfLife is the age at which a point's weight in the rolling
	// baseline has halved; 0 means 1h.
	HalfLife Duration `toml:"half_life"`
	// SeasonWeeks is the number of past weeks each hour-of-week bucket
	// averages (older weeks decay); 0 means 4.
	SeasonWeeks int `toml:"season_weeks"`
	// SuddenPoints is the number of past points the sudden-change test
	// fits a line to; 0 means 24, a negative value turns the test off.
	SuddenPoints int `toml:"sudden_points"`
	// SuddenRollup is the period whose average values the sudden-change
	// test judges (Netuitive fits PT5M averages); 0 means 5m. With a
	// longer flush interval every value is its own rollup.
	SuddenRollup Duration `toml:"sudden_rollup"`
	// SuddenChange is the smallest relative change |observed-projected| /
	// |projected| the sudden-change test reports; 0 means 0.25.
	SuddenChange float64 `toml:"sudden_change"`
	// MaxSeries caps the number of series statistics learned (memory is
	// about 7 KiB each); further ones are counted and ignored. 0 means
	// 1000.
	MaxSeries int `toml:"max_series"`
	// MaxIdle forgets a series statistic that has had no value for this
	// long; 0 means 14 days.
	MaxIdle Duration `toml:"max_idle"`
}

// RegisterFlags adds -anomaly, -anomaly-patterns, -anomaly-k,
// -anomaly-duration, -anomaly-warm-up, -anomaly-half-life and
// -anomaly-max-series to fs, writing into c. Call it before fs.Parse with c
// holding the config file's values, so flags override the file.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "anomaly", c.Enabled, "learn a band of normal values per selected series and raise deviation events")
	fs.Var((*patternsFlag)(&c.Patterns), "anomaly-patterns",
		`comma-separated TYPE:NAME:STAT globs of the series to learn (default "`+strings.Join(DefaultPatterns, ",")+`")`)
	fs.Float64Var(&c.K, "anomaly-k", c.K, "band half-width in standard deviations (0 = 4)")
	fs.Var(&c.Duration, "anomaly-duration", "time outside the band before a deviation event (0 = one flush interval)")
	fs.Var(&c.WarmUp, "anomaly-warm-up", "learning time before any verdict (0 = 1h, at least 30 points)")
	fs.Var(&c.HalfLife, "anomaly-half-life", "half-life of the rolling baseline (0 = 1h)")
	fs.IntVar(&c.MaxSeries, "anomaly-max-series", c.MaxSeries, "most series statistics learned (0 = 1000)")
}

type patternsFlag []string

func (p *patternsFlag) String() string {
	if p == nil {
		return ""
	}
	return strings.Join(*p, ",")
}

func (p *patternsFlag) Set(s string) error {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	*p = out
	return nil
}

// Resolve returns c with the defaults filled in.
func (c Config) Resolve() Config {
	if len(c.Patterns) == 0 {
		c.Patterns = DefaultPatterns
	}
	if c.K == 0 {
		c.K = DefaultK
	}
	if c.WarmUp == 0 {
		c.WarmUp = Duration(DefaultWarmUp)
	}
	if c.HalfLife == 0 {
		c.HalfLife = Duration(DefaultHalfLife)
	}
	if c.SeasonWeeks == 0 {
		c.SeasonWeeks = DefaultSeasonWeeks
	}
	if c.SuddenPoints == 0 {
		c.SuddenPoints = DefaultSuddenPoints
	}
	if c.SuddenRollup == 0 {
		c.SuddenRollup = Duration(DefaultSuddenRollup)
	}
	if c.SuddenChange == 0 {
		c.SuddenChange = DefaultSuddenChange
	}
	if c.MaxSeries == 0 {
		c.MaxSeries = DefaultMaxSeries
	}
	if c.MaxIdle == 0 {
		c.MaxIdle = Duration(DefaultMaxIdle)
	}
	return c
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.Patterns {
		if _, err := parsePattern(p); err != nil {
			errs = append(errs, err)
		}
	}
	if c.K < 0 || math.IsNaN(c.K) || math.IsInf(c.K, 0) {
		errs = append(errs, fmt.Errorf("anomaly: k %v must be positive", c.K))
	}
	if c.SeasonWeeks < 0 || c.SeasonWeeks > 52 {
		errs = append(errs, fmt.Errorf("anomaly: season_weeks %d out of range 0..52", c.SeasonWeeks))
	}
	if c.SuddenPoints > 1000 || (c.SuddenPoints > 0 && c.SuddenPoints < 4) {
		errs = append(errs, fmt.Errorf("anomaly: sudden_points %d out of range 4..1000 (negative turns the test off)", c.SuddenPoints))
	}
	if c.SuddenChange < 0 || math.IsNaN(c.SuddenChange) {
		errs = append(errs, fmt.Errorf("anomaly: sudden_change %v is negative", c.SuddenChange))
	}
	if c.MaxSeries < 0 {
		errs = append(errs, fmt.Errorf("anomaly: max_series %d is negative", c.MaxSeries))
	}
	for name, d := range map[string]Duration{"duration": c.Duration, "warm_up": c.WarmUp, "sudden_rollup": c.SuddenRollup, "half_life": c.HalfLife, "max_idle": c.MaxIdle} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("anomaly: %s %s is negative", name, d))
		}
	}
	return errors.Join(errs...)
}
