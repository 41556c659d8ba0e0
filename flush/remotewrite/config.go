package remotewrite

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/statsd-agent/statsd-agent/duration"
	"github.com/statsd-agent/statsd-agent/flush/expohist"
	"github.com/statsd-agent/statsd-agent/flush/promseries"
	"github.com/statsd-agent/statsd-agent/secret"
)

// Defaults used where a Config field is zero.
const (
	DefaultMaxSeriesPerRequest = 2000
	DefaultRequestsPerSecond   = 50
	DefaultTimeout             = 30 * time.Second
	DefaultQueueLimit          = 1000000
	// EnvBearerToken and EnvPassword are read when the config has no token
	// or password.
	EnvBearerToken = "REMOTEWRITE_BEARER_TOKEN"
	EnvPassword    = "REMOTEWRITE_PASSWORD"
)

// Config configures the remote-write backend. The zero value means the
// documented defaults; only URL is required.
type Config struct {
	// URL is the remote-write endpoint, e.g.
	// http://prometheus:9090/api/v1/write or
	// http://mimir:8080/api/v1/push.
	URL string `toml:"url"`
	// Prefix is prepended to every metric name; "" means none.
	Prefix string `toml:"prefix"`
	// Host is the value of the host label; "" means the host name.
	// NoHostLabel leaves the label out. HostLabel renames it ("" means
	// "host").
	Host        string `toml:"host"`
	HostLabel   string `toml:"host_label"`
	NoHostLabel bool   `toml:"no_host_label"`
	// Labels are added to every series (e.g. {region = "eu-west-1"}).
	Labels map[string]string `toml:"labels"`
	// Headers are added to every request, e.g. X-Scope-OrgID for Mimir
	// and Cortex tenants.
	Headers map[string]string `toml:"headers"`
	// BearerToken is sent as "Authorization: Bearer ..."; "" means the
	// REMOTEWRITE_BEARER_TOKEN environment variable. Username and Password
	// (or REMOTEWRITE_PASSWORD) send basic auth instead.
	BearerToken Secret `toml:"bearer_token"`
	Username    string `toml:"username"`
	Password    Secret `toml:"password"`
	// Schema is the native histogram schema, -4..8 (bucket growth factor
	// 2^(2^-schema)); unset means 6 (see the error bound in the package
	// doc).
	// Use NoNativeHistograms to send only the classic series.
	Schema             *int32 `toml:"schema"`
	NoNativeHistograms bool   `toml:"no_native_histograms"`
	// NoPercentiles leaves out the <name>_quantile gauges.
	NoPercentiles bool `toml:"no_percentiles"`
	// TimersInSeconds converts timer values from milliseconds to seconds
	// (Prometheus' base unit, statsd_exporter's default); names stay.
	TimersInSeconds bool `toml:"timers_in_seconds"`
	// IdleTimeout: how long an absent counter or histogram keeps being
	// sent with its last total; 0 means 10m.
	IdleTimeout Duration `toml:"idle_timeout"`
	// MetadataInterval is how often the metric metadata (type and help of
	// every family) is sent, in requests of its own; 0 means 1m, negative
	// never.
	MetadataInterval Duration `toml:"metadata_interval"`
	// MaxSeriesPerRequest splits a flush; 0 means 2000.
	MaxSeriesPerRequest int `toml:"max_series_per_request"`
	// RequestsPerSecond paces requests (burst: the same number); 0 means
	// 50, negative disables pacing.
	RequestsPerSecond float64 `toml:"requests_per_second"`
	// Timeout bounds each request; 0 means 30s.
	Timeout Duration `toml:"timeout"`
	// QueueLimit bounds the series waiting for delivery; past it the
	// oldest requests are dropped and counted. 0 means 1000000. It does
	// not apply with SpoolDir.
	QueueLimit int `toml:"queue_limit"`
	// SpoolDir, when not empty, is a directory (the agent's
	// <state-dir>/remotewrite) where the requests waiting for delivery are
	// kept instead of memory: they survive an outage up to SpoolMaxBytes, a
	// restart and a kill -9, and are delivered in order with their
	// original timestamps. Set by the agent from -state-dir.
	SpoolDir string `toml:"-"`
	// SpoolMaxBytes bounds the spool's disk use; 0 means 64 MiB. When
	// full, the oldest requests are dropped and counted (reason
	// "spool_full").
	SpoolMaxBytes int64 `toml:"spool_max_bytes"`
}

// RegisterFlags registers the non-secret settings as -remotewrite-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "remotewrite-url", c.URL, "Prometheus remote-write `URL` (e.g. http://localhost:9090/api/v1/write)")
	fs.StringVar(&c.Prefix, "remotewrite-prefix", c.Prefix, "`prefix` of every remote-write metric name")
	fs.StringVar(&c.Host, "remotewrite-host", c.Host, "value of the host label (default: the host name)")
	fs.StringVar(&c.HostLabel, "remotewrite-host-label", c.HostLabel, "`name` of the host label (default host)")
	fs.BoolVar(&c.NoHostLabel, "remotewrite-no-host-label", c.NoHostLabel, "send no host label")
	fs.StringVar(&c.Username, "remotewrite-username", c.Username, "remote-write basic auth `user` (password: config or "+EnvPassword+")")
	fs.Func("remotewrite-schema", "native histogram `schema` -4..8 (default 6)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return err
		}
		s := int32(n)
		c.Schema = &s
		return nil
	})
	fs.BoolVar(&c.NoNativeHistograms, "remotewrite-no-native-histograms", c.NoNativeHistograms, "send only classic _sum/_count and percentile series")
	fs.BoolVar(&c.TimersInSeconds, "remotewrite-timers-in-seconds", c.TimersInSeconds, "convert timer values from milliseconds to seconds")
	fs.BoolVar(&c.NoPercentiles, "remotewrite-no-percentiles", c.NoPercentiles, "do not send the <name>_quantile gauges")
	fs.DurationVar((*time.Duration)(&c.IdleTimeout), "remotewrite-idle-timeout", time.Duration(c.IdleTimeout), "keep sending an idle counter's or histogram's total for this `long` (default 10m)")
	fs.DurationVar((*time.Duration)(&c.MetadataInterval), "remotewrite-metadata-interval", time.Duration(c.MetadataInterval), "send metric metadata this `often` (default 1m, negative: never)")
	fs.IntVar(&c.MaxSeriesPerRequest, "remotewrite-max-series-per-request", c.MaxSeriesPerRequest, "split remote-write requests above this many `series` (default 2000)")
	fs.Float64Var(&c.RequestsPerSecond, "remotewrite-requests-per-second", c.RequestsPerSecond, "pace remote-write requests to this `rate` (default 50, negative: unpaced)")
	fs.DurationVar((*time.Duration)(&c.Timeout), "remotewrite-timeout", time.Duration(c.Timeout), "remote-write request `timeout` (default 30s)")
	fs.IntVar(&c.QueueLimit, "remotewrite-queue-limit", c.QueueLimit, "remote-write queue bound in `series` (default 1000000)")
}

// Secret is a credential that redacts itself wherever it could be printed
// (package secret); Reveal returns the value.
type Secret = secret.String

// NewSecret returns a Secret holding s.
func NewSecret(s string) Secret { return secret.New(s) }

// Duration is a time.Duration written as a string ("10s", "2m") in TOML
// and on flags (package duration).
type Duration = duration.Duration

// resolved is a Config with defaults applied.
type resolved struct {
	Config
	token, password string
	series          promseries.Options
}

func (c Config) resolve(getenv func(string) string, hostname func() (string, error)) (resolved, error) {
	r := resolved{Config: c}
	if c.URL == "" {
		return r, errors.New("remotewrite: no url: set -remotewrite-url (e.g. http://localhost:9090/api/v1/write)")
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return r, fmt.Errorf("remotewrite: bad url %q: want http(s)://host[:port]/path", c.URL)
	}
	if u.User != nil {
		return r, errors.New("remotewrite: put credentials in username/password, not in the url")
	}
	r.token = c.BearerToken.Reveal()
	if r.token == "" {
		r.token = strings.TrimSpace(getenv(EnvBearerToken))
	}
	r.password = c.Password.Reveal()
	if r.password == "" && c.Username != "" {
		r.password = getenv(EnvPassword)
	}
	if r.token != "" && c.Username != "" {
		return r, errors.New("remotewrite: set either a bearer token or a username, not both")
	}
	for k := range c.Headers {
		switch strings.ToLower(k) {
		case "authorization", "content-type", "content-encoding", "x-prometheus-remote-write-version":
			return r, fmt.Errorf("remotewrite: header %q is set by the agent", k)
		}
	}
	schema := int32(expohist.DefaultSchema)
	if c.Schema != nil {
		schema = *c.Schema
	}
	if schema < expohist.MinSchema || schema > expohist.MaxSchema {
		return r, fmt.Errorf("remotewrite: schema %d out of range [%d, %d]", schema, expohist.MinSchema, expohist.MaxSchema)
	}
	r.Schema = &schema
	host := ""
	if !c.NoHostLabel {
		host = c.Host
		if host == "" {
			h, err := hostname()
			if err != nil {
				return r, fmt.Errorf("remotewrite: no host and no host name: %w", err)
			}
			host = h
		}
	}
	if c.IdleTimeout < 0 {
		return r, fmt.Errorf("remotewrite: idle_timeout %v < 0", time.Duration(c.IdleTimeout))
	}
	r.series = promseries.Options{
		Prefix: c.Prefix, HostLabel: c.HostLabel, Host: host, Labels: c.Labels,
		Schema: &schema, IdleTimeout: time.Duration(c.IdleTimeout), NoPercentiles: c.NoPercentiles, TimersInSeconds: c.TimersInSeconds,
	}
	if r.MetadataInterval == 0 {
		r.MetadataInterval = Duration(time.Minute)
	}
	switch {
	case r.MaxSeriesPerRequest == 0:
		r.MaxSeriesPerRequest = DefaultMaxSeriesPerRequest
	case r.MaxSeriesPerRequest < 0:
		return r, fmt.Errorf("remotewrite: max_series_per_request %d < 0", r.MaxSeriesPerRequest)
	}
	if r.RequestsPerSecond == 0 {
		r.RequestsPerSecond = DefaultRequestsPerSecond
	}
	switch {
	case r.Timeout == 0:
		r.Timeout = Duration(DefaultTimeout)
	case r.Timeout < 0:
		return r, fmt.Errorf("remotewrite: timeout %v < 0", time.Duration(r.Timeout))
	}
	if r.SpoolMaxBytes < 0 {
		return r, fmt.Errorf("remotewrite: spool_max_bytes %d < 0", r.SpoolMaxBytes)
	}
	switch {
	case r.QueueLimit == 0:
		r.QueueLimit = DefaultQueueLimit
	case r.QueueLimit < 0:
		return r, fmt.Errorf("remotewrite: queue_limit %d < 0", r.QueueLimit)
	}
	return r, nil
}

func hostname() (string, error) { return os.Hostname() }
