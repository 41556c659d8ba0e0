package anomaly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"
)

// StateFile is the name of the file Save writes in the state directory.
const StateFile = "anomaly.json"

// stateVersion is the format version of the state file.
const stateVersion = 1

// maxStateBytes bounds the state file Load reads (far above 1000 series
// of about 10 KiB of JSON each).
const maxStateBytes = 256 << 20

type stateFile struct {
	Version  int           `json:"version"`
	Saved    time.Time     `json:"saved"`
	Interval time.Duration `json:"interval_ns"`
	Series   []stateSeries `json:"series"`
}

type stateSeries struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Tags string `json:"tags,omitempty"`
	Stat string `json:"stat"`
	baseline
}

// Save writes the learned baselines to dir/anomaly.json atomically
// (temporary file, fsync, rename, fsync of the directory), so a restart
// resumes learning where it stopped. dir must exist.
func (d *Detector) Save(dir string) error {
	f, err := os.CreateTemp(dir, StateFile+".tmp*")
	if err != nil {
		return fmt.Errorf("anomaly: save: %w", err)
	}
	tmp := f.Name()
	err = d.Encode(f, time.Now())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, StateFile))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("anomaly: save: %w", err)
	}
	if df, err := os.Open(dir); err == nil {
		_ = df.Sync()
		_ = df.Close()
	}
	return nil
}

// Load restores the baselines Save wrote to dir. A missing file is not an
// error (nothing learned yet). Statistics the configured patterns no
// longer select are dropped; at most MaxSeries are kept.
func (d *Detector) Load(dir string) error {
	f, err := os.Open(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("anomaly: load: %w", err)
	}
	defer f.Close()
	if err := d.Decode(io.LimitReader(f, maxStateBytes)); err != nil {
		return fmt.Errorf("anomaly: load %s: %w", f.Name(), err)
	}
	return nil
}

// Encode writes the learned baselines as JSON, stamped with now.
func (d *Detector) Encode(w io.Writer, now time.Time) error {
	d.mu.Lock()
	st := stateFile{Version: stateVersion, Saved: now.UTC(), Interval: d.interval, Series: make([]stateSeries, 0, len(d.series))}
	for _, tr := range d.series {
		st.Series = append(st.Series, stateSeries{Name: tr.key.Name, Type: tr.key.Type.String(), Tags: tr.key.Tags,
			Stat: tr.key.Stat, baseline: cloneBaseline(tr.b)})
	}
	d.mu.Unlock()
	return json.NewEncoder(w).Encode(&st)
}

func cloneBaseline(b baseline) baseline {
	b.Ring = append([]float64(nil), b.Ring...)
	b.RingT = append([]int64(nil), b.RingT...)
	return b
}

// Decode replaces the learned baselines with those read from r (the
// format Encode writes). On error the detector is unchanged.
func (d *Detector) Decode(r io.Reader) error {
	var st stateFile
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return err
	}
	if st.Version != stateVersion {
		return fmt.Errorf("state version %d, want %d", st.Version, stateVersion)
	}
	if st.Interval < 0 {
		return fmt.Errorf("negative interval %d", st.Interval)
	}
	series := make(map[string]*tracked, len(st.Series))
	for i := range st.Series {
		s := &st.Series[i]
		typ, ok := parseType(s.Type)
		if !ok {
			return fmt.Errorf("series %d: unknown type %q", i, s.Type)
		}
		if err := s.baseline.validate(); err != nil {
			return fmt.Errorf("series %d (%s): %w", i, s.Name, err)
		}
		k := Key{Name: s.Name, Type: typ, Tags: s.Tags, Stat: s.Stat}
		if !d.selects(k) || len(series) >= d.cfg.MaxSeries {
			continue
		}
		b := s.baseline
		if n := d.cfg.SuddenPoints; n <= 0 {
			b.Ring, b.RingT = nil, nil
		} else if len(b.Ring) > n {
			b.Ring = b.Ring[len(b.Ring)-n:]
			b.RingT = b.RingT[len(b.RingT)-n:]
		}
		series[keyBytes(k)] = &tracked{key: k, b: b}
	}
	d.mu.Lock()
	d.series = series
	if d.interval == 0 {
		d.interval = st.Interval
	}
	d.mu.Unlock()
	return nil
}

// selects reports whether the configured patterns select k.
func (d *Detector) selects(k Key) bool {
	for _, p := range d.pats {
		if (p.typ == 0 || p.typ == k.Type) && glob(p.name, k.Name) && glob(p.stat, k.Stat) {
			return true
		}
	}
	return false
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// validate checks what Decode cannot: finite numbers, non-negative
// variances and counts, a consistent window.
func (b *baseline) validate() error {
	if !finite(b.Mean, b.Var, b.EMean, b.EVar, b.RSum, b.HN, b.HMx, b.HMy, b.HCxx, b.HCxy, b.HCyy) {
		return errors.New("non-finite number")
	}
	if b.N < 0 || b.EN < 0 || b.Var < 0 || b.EVar < 0 || b.HN < 0 || b.HCxx < 0 || b.HCyy < 0 || b.Out < 0 || b.In < 0 || b.Cool < 0 || b.RN < 0 {
		return errors.New("negative count or variance")
	}
	for i, bk := range b.Season {
		if !finite(bk.Mean, bk.Slope, bk.Var) || bk.Var < 0 || bk.Weeks < 0 {
			return fmt.Errorf("bucket %d invalid", i)
		}
	}
	if len(b.Ring) != len(b.RingT) {
		return fmt.Errorf("window has %d values and %d times", len(b.Ring), len(b.RingT))
	}
	if !finite(b.Ring...) {
		return errors.New("non-finite value in window")
	}
	return nil
}

// Autosave saves to dir every interval (0 means every 10 minutes) until ctx
// ends, then once more, so a crash loses at most one interval of
// learning. Save errors are logged, not fatal; it returns the last one.
// Run it in its own goroutine; for a save after the agent's final flush,
// call Save once more after agent.Run returns.
func (d *Detector) Autosave(ctx context.Context, dir string, every time.Duration) error {
	if every <= 0 {
		every = 10 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			if err := d.Save(dir); err != nil {
				d.logger.Warn("anomaly: save baselines", "dir", dir, "err", err)
				return err
			}
			return last
		case <-t.C:
			if err := d.Save(dir); err != nil {
				d.logger.Warn("anomaly: save baselines", "dir", dir, "err", err)
				last = err
			}
		}
	}
}
