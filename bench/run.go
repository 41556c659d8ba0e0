package bench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// RunConfig configures one load run (the `statsd-agent bench` command).
type RunConfig struct {
	Workload Workload
	Send     SendConfig
	// VerifyURL, if set, is the agent's /metrics URL: its counters are read
	// before and after the run to count the lines it received.
	VerifyURL string
	// Verifier tunes the catch-up wait; its URL is set from VerifyURL.
	Verifier Verifier
	// Progress, if its W is set, prints progress while sending.
	Progress Progress
}

// RunResult is the outcome of Run.
type RunResult struct {
	Workload Workload
	// LinesPerDatagram is the mean over the datagram pool.
	LinesPerDatagram float64
	Offered          float64 // lines/s, 0 for max
	Sent             SendStats
	// Verified is true when the agent's counters were read; then Verdict holds them.
	Verified bool
	Verdict  Verdict
}

// Run builds the workload, sends it and, with VerifyURL, reads the agent's
// counters before and after (waiting for the agent to catch up).
func Run(ctx context.Context, cfg RunConfig) (RunResult, error) {
	res := RunResult{Workload: cfg.Workload, Offered: cfg.Send.Rate}
	pool, err := cfg.Workload.Build()
	if err != nil {
		return res, err
	}
	res.LinesPerDatagram = pool.LinesPerDatagram()
	v := cfg.Verifier
	v.URL = cfg.VerifyURL
	var before Counters
	if cfg.VerifyURL != "" {
		// Fail before sending if the agent cannot be read.
		if before, err = v.Scrape(ctx); err != nil {
			return res, err
		}
	}
	s, err := NewSender(cfg.Send, pool)
	if err != nil {
		return res, err
	}
	defer s.Close()

	var wg sync.WaitGroup
	pctx, stopProgress := context.WithCancel(ctx)
	if cfg.Progress.W != nil {
		wg.Go(func() { cfg.Progress.Run(pctx, s.Stats, s.cfg.Duration) })
	}
	res.Sent, err = s.Run(ctx)
	stopProgress()
	wg.Wait()
	if err != nil {
		return res, err
	}
	if cfg.VerifyURL != "" {
		after, err := v.WaitCaughtUp(ctx, before, res.Sent.Lines)
		if err != nil {
			return res, err
		}
		res.Verified = true
		res.Verdict = NewVerdict(res.Sent.Lines, before, after)
	}
	return res, nil
}

// WriteSummary writes the final summary of a run.
func (r RunResult) WriteSummary(w io.Writer) error {
	ew := &errWriter{w: w}
	offered := FormatRate(r.Offered)
	if r.Offered > 0 {
		offered += " lines/s"
	}
	ew.printf("offered:   %s\n", offered)
	ew.printf("sent:      %d lines in %d datagrams (%.1f lines each), %s in %v\n",
		r.Sent.Lines, r.Sent.Datagrams, r.LinesPerDatagram, HumanBytes(r.Sent.Bytes), r.Sent.Elapsed.Round(1e6))
	ew.printf("send rate: %s lines/s, %s datagrams/s\n",
		HumanCount(r.Sent.Rate()), HumanCount(perSecond(r.Sent.Datagrams, r.Sent)))
	if r.Sent.Errors > 0 {
		ew.printf("send errors: %d (their datagrams are not counted as sent); last: %s\n", r.Sent.Errors, r.Sent.LastError)
		if strings.Contains(r.Sent.LastError, "connection refused") {
			ew.printf("note: connection refused means nothing listens on the target\n")
		}
	}
	if r.Verified {
		v := r.Verdict
		ew.printf("received:  %d lines (agent counter delta)\n", v.Received)
		if v.HasPackets {
			ew.printf("datagrams: %d received\n", v.Packets)
		}
		if v.HasDrops {
			ew.printf("kernel drops: %d datagrams\n", v.KernelDrops)
		}
		ew.printf("loss:      %.3f %%\n", v.Loss())
		if v.Received > v.Sent {
			ew.printf("note: the agent counted %d lines more than were sent (other senders?)\n", v.Received-v.Sent)
		}
	}
	return ew.err
}

func perSecond(n int64, s SendStats) float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(n) / s.Elapsed.Seconds()
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
