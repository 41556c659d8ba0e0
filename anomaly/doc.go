// Package anomaly learns a band of normal values for selected series and
// raises an event when a value leaves it: Netuitive's baseline deviation,
// computed in the agent, so it warns with no SaaS account configured.
//
// # Place in the pipeline
//
// A Detector is a flush.Processor: the agent calls Process with every
// snapshot before the backends get it. Process judges and learns each
// selected statistic (Config.Patterns, e.g. "timer:*:mean") and appends a
// protocol.Event to the snapshot for each deviation raised, each recovery
// and each sudden change, so every backend that takes events (JSON lines,
// Netuitive) reports them; the Detector also logs them (deviations and
// sudden changes at Warn, recoveries at Info, at most 20 a flush). Events have SourceType "anomaly",
// AlertType "warning" (deviation, sudden change) or "success" (recovery),
// AggregationKey "anomaly:TYPE:SERIES:STAT" and tags anomaly:KIND,
// metric:NAME, stat:STAT and series_tags:TAGS.
//
// The bands are exported on /metrics as statsd_agent_anomaly_band_upper,
// _band_lower, _baseline_mean, _baseline_stddev and _deviating, labelled
// series, type and stat, only for learned statistics past their warm-up
// (at most Config.MaxSeries label sets). Save and Load keep the baselines
// in the state directory, so a restart does not restart learning.
//
// # Method
//
// Per statistic, with t the flush time and x the value:
//
//   - Rolling baseline: an exponentially weighted mean (half-life
//     Config.HalfLife, 1 h) and variance (half-life 24 times longer, so
//     the band's width is estimated from enough points; a 4-sigma band
//     is otherwise crossed by noise in the estimate itself).
//   - Seasonal profile: 168 buckets, one per hour of the week (UTC,
//     Monday 00:00 first). Each finished hour contributes a least-squares
//     line (value at the hour's centre, slope) and the variance around
//     it; weeks are averaged with weight 1/min(weeks, Config.SeasonWeeks),
//     so the profile follows the last 4 weeks. The line follows a daily
//     curve within the hour and keeps a step at the hour (a batch job at
//     midnight, the weekend) sharp.
//   - Residual baseline: the exponentially weighted mean (half-life 6 times
//     HalfLife) and variance of x minus the seasonal expectation: the
//     series' current level relative to its usual week (Holt-Winters'
//     additive level). A drift over hours leaves the band; a lasting
//     level shift becomes normal within about a day.
//   - Prediction: a mixture of the rolling distribution (weight 1-c) and
//     the seasonal one (seasonal line + residual mean, residual
//     variance; weight c = min(weeks of the bucket / 2, 1), also scaled
//     by the residual baseline's own warm-up). Its variance,
//     c*v2 + (1-c)*v1 + c*(1-c)*(m2-m1)^2, keeps the band wide where the
//     two disagree.
//   - Band: mean -+ K*std (K = 4), std at least 1% of |mean| (a constant
//     series gets +-4%, not a zero-width band), clamped to the valid
//     range: counters, sets and timers are clamped at 0 until a negative
//     value is seen (Netuitive's validmin 0); gauges, histograms and
//     distributions are not clamped.
//   - Verdict: a value outside the band for Config.Duration (rounded up to
//     whole flushes; default one flush) raises a deviation; as many
//     consecutive values inside clear it with a recovery.
//   - Learning is robust: after the warm-up a value is clamped to the
//     unclamped band before it is learned, so a spike moves the baseline
//     by at most K standard deviations.
//   - Sudden change (Netuitive's "sudden change" analytic): values are
//     averaged over Config.SuddenRollup (5 minutes, Netuitive's PT5M); a
//     least-squares line through the last Config.SuddenPoints averages
//     (24, two hours) projects the next; an average outside the
//     projection's prediction interval (K standard errors) by at least
//     Config.SuddenChange (25%) of the projection is reported with
//     |observed - projected| / |projected| when its rollup completes. It
//     stays quiet when data is sparse (a gap of over one rollup in the
//     window), when the fit is poor (residual standard error over half the
//     window's mean), when the move continues the window's trend, and for
//     SuddenPoints rollups after firing.
//
// Cold start: no verdict during the warm-up (Config.WarmUp, 1 h, and at
// least 30 points); then the rolling baseline alone for the first week,
// which follows a daily curve with a lag and so keeps a wide band; the
// seasonal profile takes over as each hour of the week gets its first and
// second week. docs/anomaly.md has the evaluation.
//
// Memory: about 7 KiB per learned statistic (168 buckets of 32 B, the
// sudden-change window, the map entry), bounded by Config.MaxSeries
// (1000, so about 7 MiB); statistics with no value for Config.MaxIdle (14
// days) are forgotten. Process costs about a microsecond of CPU per
// learned statistic and allocates per flush, not per line.
//
// Concurrency: Process is called from one goroutine (the flusher);
// Verdicts, Band, Stats, Save, Load, Encode, Decode and the metrics
// collector may be called from any goroutine.
package anomaly
