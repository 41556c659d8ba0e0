// Package config is the agent's configuration file: a TOML document decoded
// strictly into a typed struct whose zero value means the documented
// defaults. It sits beside the pipeline: cmd/statsd-agent reads it, lets
// command-line flags override it, and builds the agent and its backends
// from it.
//
// Decoding is strict: an unknown key is an error naming the key and its
// line. Secrets (API keys) may be given here or, preferably, in the
// environment; they are never printed.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/anomaly"
	"github.com/statsd-agent/statsd-agent/duration"
	"github.com/statsd-agent/statsd-agent/flush/monitis"
	"github.com/statsd-agent/statsd-agent/flush/netuitive"
	"github.com/statsd-agent/statsd-agent/flush/otlp"
	"github.com/statsd-agent/statsd-agent/flush/promexport"
	"github.com/statsd-agent/statsd-agent/flush/remotewrite"
	"github.com/statsd-agent/statsd-agent/netstat"
	"github.com/statsd-agent/statsd-agent/secret"
)

// Defaults of the top-level settings.
const (
	DefaultUDP  = "127.0.0.1:8125"
	DefaultHTTP = "127.0.0.1:9102"
)

// File is the configuration file's content.
type File struct {
	// UDP is the UDP listen address ("none" disables UDP). Default 127.0.0.1:8125.
	UDP string `toml:"udp"`
	// UDPReaders is the number of UDP readers; 0 means one per CPU.
	UDPReaders int `toml:"udp_readers"`
	// ReusePort gives each UDP reader its own SO_REUSEPORT socket.
	ReusePort bool `toml:"reuseport"`
	// ReadBuffer is the UDP receive buffer in bytes; 0 means 8 MiB.
	ReadBuffer int `toml:"read_buffer"`
	// TCP is a TCP listen address for newline-delimited lines; "" disables TCP.
	TCP string `toml:"tcp"`
	// TCPMaxConns bounds concurrent TCP connections; 0 means 1024.
	TCPMaxConns int `toml:"tcp_max_conns"`
	// TCPMaxLine is the longest TCP line in bytes; 0 means 64 KiB.
	TCPMaxLine int `toml:"tcp_max_line"`
	// TCPIdleTimeout closes silent TCP connections; 0 means 5m.
	TCPIdleTimeout Duration `toml:"tcp_idle_timeout"`
	// Unixgram is the path of a Unix datagram socket; "" disables it.
	Unixgram string `toml:"unixgram"`
	// RateLimit is the most lines per second accepted from one source
	// address (UDP and TCP); 0 means no limit. RateLimitBurst is the most
	// at once; 0 means one second's worth.
	RateLimit      float64 `toml:"rate_limit"`
	RateLimitBurst int     `toml:"rate_limit_burst"`
	// HTTP is the self-metrics and health endpoint's address ("none"
	// disables it). Default 127.0.0.1:9102.
	HTTP string `toml:"http"`
	// HTTPToken, when set, is required as a bearer token on every HTTP
	// route but /healthz; "" means the STATSD_AGENT_HTTP_TOKEN environment
	// variable (if any).
	HTTPToken secret.String `toml:"http_token"`
	// ReloadFromAnywhere lets non-loopback clients POST /-/reload.
	ReloadFromAnywhere bool `toml:"reload_from_anywhere"`

	// FlushInterval is the flush interval; 0 means 10s.
	FlushInterval Duration `toml:"flush_interval"`
	// Percentiles for timers, e.g. [50, 90, 99.9, -10]; absent means [90].
	Percentiles []float64 `toml:"percentiles"`
	// MaxTimerValues per series and interval kept exactly; 0 means 10000.
	MaxTimerValues int `toml:"max_timer_values"`
	// MaxSeries is the cardinality budget per interval; series beyond it
	// are folded into "statsd_agent.overflow" (one per type). 0 = no limit.
	MaxSeries int `toml:"max_series"`
	// MaxSeriesPerName bounds the tag combinations of one metric name;
	// 0 = no limit.
	MaxSeriesPerName int `toml:"max_series_per_name"`
	// Lateness is how far before the open interval a DogStatsD "|T"
	// timestamp may be; older samples are dropped and counted. 0 means one
	// interval, negative no limit.
	Lateness Duration `toml:"lateness"`
	// Idle is "delete" (default) or "zero", for idle counters, timers and sets.
	Idle string `toml:"idle"`
	// IdleTTL bounds idle = "zero"; 0 means forever.
	IdleTTL Duration `toml:"idle_ttl"`
	// GaugeTTL is how long a gauge is kept without update; 0 means 5m,
	// negative forever.
	GaugeTTL Duration `toml:"gauge_ttl"`

	// Backends lists the backends: "stdout" (default), "discard",
	// "monitis", "netuitive", "remotewrite", "otlp", "promexport".
	Backends []string `toml:"backends"`
	// StdoutFile makes the stdout backend append to this file instead.
	StdoutFile string `toml:"stdout_file"`
	// FlushTimeout is each backend's deadline per flush; 0 means the interval.
	FlushTimeout Duration `toml:"flush_timeout"`

	// StateDir keeps what must survive a restart: gauge values, and the
	// backends' undelivered data. "" means no state is kept.
	StateDir string `toml:"state_dir"`

	// LogLevel is debug, info (default), warn or error.
	LogLevel string `toml:"log_level"`
	// LogFormat is text (default) or json.
	LogFormat string `toml:"log_format"`

	Parser    Parser           `toml:"parser"`
	Monitis   monitis.Config   `toml:"monitis"`
	Netuitive netuitive.Config `toml:"netuitive"`
	Netstat   netstat.Config   `toml:"netstat"`
	Anomaly   anomaly.Config   `toml:"anomaly"`

	RemoteWrite remotewrite.Config `toml:"remotewrite"`
	OTLP        otlp.Config        `toml:"otlp"`
	PromExport  promexport.Config  `toml:"promexport"`
}

// Parser holds the protocol's compatibility switches.
type Parser struct {
	// UnknownTypeAsCounter counts unknown types as counters, like the
	// reference server.
	UnknownTypeAsCounter bool `toml:"unknown_type_as_counter"`
	// NoGaugeDeltas makes "+N"/"-N" set a gauge instead of adding to it.
	NoGaugeDeltas bool `toml:"no_gauge_deltas"`
	// NoSanitize keeps names as received instead of the reference sanitiser.
	NoSanitize bool `toml:"no_sanitize"`
}

// Duration is a time.Duration written as a string ("10s", "2m") in TOML
// and on flags (package duration).
type Duration = duration.Duration

// Default returns the configuration a missing file stands for.
func Default() File {
	return File{UDP: DefaultUDP, HTTP: DefaultHTTP}
}

// Load reads and strictly decodes the file at path over Default().
func Load(path string) (File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return File{}, fmt.Errorf("config: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return File{}, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// Parse strictly decodes a TOML document over Default(). An unknown key is
// an error naming the key and its line; so is a value of the wrong type.
func Parse(b []byte) (File, error) {
	f := Default()
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return File{}, describe(err)
	}
	if err := f.Validate(); err != nil {
		return File{}, err
	}
	return f, nil
}

func describe(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var msgs []string
		for _, e := range strict.Errors {
			row, _ := e.Position()
			msgs = append(msgs, fmt.Sprintf("line %d: unknown key %q", row, strings.Join(e.Key(), ".")))
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		msg := de.Error()
		if k := de.Key(); len(k) > 0 {
			msg = fmt.Sprintf("key %q: %s", strings.Join(k, "."), msg)
		}
		return fmt.Errorf("line %d, column %d: %s", row, col, msg)
	}
	return err
}

// Validate checks values that decode but make no sense.
func (f *File) Validate() error {
	var errs []error
	if f.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("flush_interval %v is negative", f.FlushInterval))
	} else if f.FlushInterval > 0 && time.Duration(f.FlushInterval) < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("flush_interval %v is too short (minimum 10ms)", f.FlushInterval))
	}
	switch f.Idle {
	case "", "delete", "zero":
	default:
		errs = append(errs, fmt.Errorf("idle %q: want \"delete\" or \"zero\"", f.Idle))
	}
	if f.Anomaly.Enabled {
		if _, err := anomaly.New(f.Anomaly, nil, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if err := f.Aggregate().Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, b := range f.Backends {
		switch b {
		case "stdout", "discard", "monitis", "netuitive", "remotewrite", "otlp", "promexport":
		default:
			errs = append(errs, fmt.Errorf("unknown backend %q (want stdout, discard, monitis, netuitive, remotewrite, otlp or promexport)", b))
		}
	}
	switch f.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", f.LogLevel))
	}
	switch f.LogFormat {
	case "", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log_format %q: want text or json", f.LogFormat))
	}
	if f.ReadBuffer < 0 || f.UDPReaders < 0 || f.MaxTimerValues < 0 || f.MaxSeries < 0 || f.MaxSeriesPerName < 0 {
		errs = append(errs, errors.New("read_buffer, udp_readers, max_timer_values, max_series and max_series_per_name must not be negative"))
	}
	return errors.Join(errs...)
}

// Aggregate returns the aggregation settings.
func (f *File) Aggregate() aggregate.Config {
	c := aggregate.Config{
		Interval:    time.Duration(f.FlushInterval),
		Percentiles: f.Percentiles,
		MaxValues:   f.MaxTimerValues,
		IdleTTL:     time.Duration(f.IdleTTL),
		GaugeTTL:    time.Duration(f.GaugeTTL),

		Lateness:         time.Duration(f.Lateness),
		MaxSeries:        f.MaxSeries,
		MaxSeriesPerName: f.MaxSeriesPerName,
	}
	if f.Idle == "zero" {
		c.Idle = aggregate.IdleZero
	}
	return c
}
