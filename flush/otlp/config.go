package otlp

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
	"github.com/statsd-agent/statsd-agent/secret"
)

// Protocols and temporalities accepted in Config.
const (
	ProtocolHTTP = "http"
	ProtocolGRPC = "grpc"

	TemporalityCumulative = "cumulative"
	TemporalityDelta      = "delta"
)

// Defaults used where a Config field is zero.
const (
	DefaultHTTPEndpoint           = "http://localhost:4318/v1/metrics"
	DefaultGRPCEndpoint           = "localhost:4317"
	DefaultMaxDataPointsPerExport = 2000
	DefaultRequestsPerSecond      = 50
	DefaultTimeout                = 30 * time.Second
	DefaultQueueLimit             = 1000000
	DefaultServiceName            = "statsd-agent"
)

// Config configures the OTLP backend. The zero value sends cumulative
// metrics over HTTP/protobuf to a collector on localhost.
type Config struct {
	// Protocol is "http" (HTTP/protobuf, the default) or "grpc".
	Protocol string `toml:"protocol"`
	// Endpoint is, for http, the full URL ("" means
	// http://localhost:4318/v1/metrics; a URL without a path gets
	// /v1/metrics); for grpc, host:port ("" means localhost:4317), in
	// plain text unless it is written https://host:port.
	Endpoint string `toml:"endpoint"`
	// Temporality of sums and histograms: "cumulative" (the default, what
	// Prometheus-style consumers need) or "delta" (each flush's own
	// values, what the snapshot holds natively).
	Temporality string `toml:"temporality"`
	// Headers are sent with every request (HTTP headers or gRPC metadata),
	// e.g. an API key header of a vendor's OTLP endpoint. Their values are
	// never logged.
	Headers map[string]Secret `toml:"headers"`
	// Host is the host.name resource attribute; "" means the host name.
	Host string `toml:"host"`
	// ServiceName is the service.name resource attribute; "" means
	// "statsd-agent".
	ServiceName string `toml:"service_name"`
	// ResourceAttributes are added to the resource.
	ResourceAttributes map[string]string `toml:"resource_attributes"`
	// Prefix is prepended to every metric name; "" means none.
	Prefix string `toml:"prefix"`
	// Scale is the exponential histogram scale, -4..8; unset means 6.
	Scale *int32 `toml:"scale"`
	// IdleTimeout: under cumulative temporality, how long an absent counter
	// or histogram keeps being sent with its last total; 0 means 10m.
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxDataPointsPerExport splits a flush; 0 means 2000.
	MaxDataPointsPerExport int `toml:"max_data_points_per_export"`
	// RequestsPerSecond paces exports (burst: the same number); 0 means
	// 50, negative disables pacing.
	RequestsPerSecond float64 `toml:"requests_per_second"`
	// Timeout bounds each export; 0 means 30s.
	Timeout Duration `toml:"timeout"`
	// QueueLimit bounds the data points waiting for delivery; past it the
	// oldest exports are dropped and counted. 0 means 1000000.
	// It does not apply with SpoolDir.
	QueueLimit int `toml:"queue_limit"`
	// SpoolDir, when not empty, is a directory (the agent's
	// <state-dir>/otlp) where the exports waiting for delivery are kept
	// instead of memory: they survive an outage up to SpoolMaxBytes, a
	// restart and a kill -9. Set by the agent from -state-dir.
	SpoolDir string `toml:"-"`
	// SpoolMaxBytes bounds the spool's disk use; 0 means 64 MiB; past it
	// the oldest exports are dropped and counted (reason "spool_full").
	SpoolMaxBytes int64 `toml:"spool_max_bytes"`
}

// RegisterFlags registers the settings as -otlp-* flags (headers, which
// may hold credentials, come from the config file only).
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Protocol, "otlp-protocol", c.Protocol, "OTLP transport: http (HTTP/protobuf, default) or grpc")
	fs.StringVar(&c.Endpoint, "otlp-endpoint", c.Endpoint, "OTLP `endpoint`: URL for http (default "+DefaultHTTPEndpoint+"), host:port for grpc (default "+DefaultGRPCEndpoint+")")
	fs.StringVar(&c.Temporality, "otlp-temporality", c.Temporality, "OTLP sum and histogram `temporality`: cumulative (default) or delta")
	fs.StringVar(&c.Host, "otlp-host", c.Host, "OTLP host.name resource attribute (default: the host name)")
	fs.StringVar(&c.ServiceName, "otlp-service-name", c.ServiceName, "OTLP service.name resource attribute (default statsd-agent)")
	fs.StringVar(&c.Prefix, "otlp-prefix", c.Prefix, "`prefix` of every OTLP metric name")
	fs.Func("otlp-scale", "OTLP exponential histogram `scale` -4..8 (default 6)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return err
		}
		s := int32(n)
		c.Scale = &s
		return nil
	})
	fs.DurationVar((*time.Duration)(&c.IdleTimeout), "otlp-idle-timeout", time.Duration(c.IdleTimeout), "cumulative: keep sending an idle counter's or histogram's total for this `long` (default 10m)")
	fs.IntVar(&c.MaxDataPointsPerExport, "otlp-max-data-points", c.MaxDataPointsPerExport, "split OTLP exports above this many data `points` (default 2000)")
	fs.Float64Var(&c.RequestsPerSecond, "otlp-requests-per-second", c.RequestsPerSecond, "pace OTLP exports to this `rate` (default 50, negative: unpaced)")
	fs.DurationVar((*time.Duration)(&c.Timeout), "otlp-timeout", time.Duration(c.Timeout), "OTLP export `timeout` (default 30s)")
	fs.IntVar(&c.QueueLimit, "otlp-queue-limit", c.QueueLimit, "OTLP queue bound in data `points` (default 1000000)")
}

// Secret is a credential that redacts itself wherever it could be printed
// (package secret); Reveal returns the value.
type Secret = secret.String

// NewSecret returns a Secret holding s.
func NewSecret(s string) Secret { return secret.New(s) }

// Duration is a time.Duration written as a string ("10s", "2m") in TOML
// and on flags (package duration).
type Duration = duration.Duration

type resolved struct {
	Config
	cumulative bool
	scale      int32
	grpcTarget string
	grpcTLS    bool
}

func (c Config) resolve(hostname func() (string, error)) (resolved, error) {
	r := resolved{Config: c}
	switch c.Protocol {
	case "", ProtocolHTTP:
		r.Protocol = ProtocolHTTP
		if r.Endpoint == "" {
			r.Endpoint = DefaultHTTPEndpoint
		}
		u, err := url.Parse(r.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return r, fmt.Errorf("otlp: bad endpoint %q: want http(s)://host:port/v1/metrics", r.Endpoint)
		}
		if u.User != nil {
			return r, errors.New("otlp: put credentials in headers, not in the endpoint")
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/metrics"
			r.Endpoint = u.String()
		}
	case ProtocolGRPC:
		if r.Endpoint == "" {
			r.Endpoint = DefaultGRPCEndpoint
		}
		target := r.Endpoint
		switch {
		case strings.HasPrefix(target, "https://"):
			r.grpcTLS = true
			target = strings.TrimPrefix(target, "https://")
		case strings.HasPrefix(target, "http://"):
			target = strings.TrimPrefix(target, "http://")
		}
		if strings.ContainsAny(target, "/?#@") || !strings.Contains(target, ":") {
			return r, fmt.Errorf("otlp: bad grpc endpoint %q: want host:port", r.Endpoint)
		}
		r.grpcTarget = target
	default:
		return r, fmt.Errorf("otlp: unknown protocol %q: want %q or %q", c.Protocol, ProtocolHTTP, ProtocolGRPC)
	}
	switch c.Temporality {
	case "", TemporalityCumulative:
		r.Temporality, r.cumulative = TemporalityCumulative, true
	case TemporalityDelta:
	default:
		return r, fmt.Errorf("otlp: unknown temporality %q: want %q or %q", c.Temporality, TemporalityCumulative, TemporalityDelta)
	}
	r.scale = expohist.DefaultSchema
	if c.Scale != nil {
		r.scale = *c.Scale
	}
	if r.scale < expohist.MinSchema || r.scale > expohist.MaxSchema {
		return r, fmt.Errorf("otlp: scale %d out of range [%d, %d]", r.scale, expohist.MinSchema, expohist.MaxSchema)
	}
	if r.Host == "" {
		h, err := hostname()
		if err != nil {
			return r, fmt.Errorf("otlp: no host and no host name: %w", err)
		}
		r.Host = h
	}
	if r.ServiceName == "" {
		r.ServiceName = DefaultServiceName
	}
	switch {
	case r.IdleTimeout == 0:
		r.IdleTimeout = Duration(10 * time.Minute)
	case r.IdleTimeout < 0:
		return r, fmt.Errorf("otlp: idle_timeout %v < 0", time.Duration(r.IdleTimeout))
	}
	switch {
	case r.MaxDataPointsPerExport == 0:
		r.MaxDataPointsPerExport = DefaultMaxDataPointsPerExport
	case r.MaxDataPointsPerExport < 0:
		return r, fmt.Errorf("otlp: max_data_points_per_export %d < 0", r.MaxDataPointsPerExport)
	}
	if r.RequestsPerSecond == 0 {
		r.RequestsPerSecond = DefaultRequestsPerSecond
	}
	switch {
	case r.Timeout == 0:
		r.Timeout = Duration(DefaultTimeout)
	case r.Timeout < 0:
		return r, fmt.Errorf("otlp: timeout %v < 0", time.Duration(r.Timeout))
	}
	if r.SpoolMaxBytes < 0 {
		return r, fmt.Errorf("otlp: spool_max_bytes %d < 0", r.SpoolMaxBytes)
	}
	switch {
	case r.QueueLimit == 0:
		r.QueueLimit = DefaultQueueLimit
	case r.QueueLimit < 0:
		return r, fmt.Errorf("otlp: queue_limit %d < 0", r.QueueLimit)
	}
	return r, nil
}

func hostname() (string, error) { return os.Hostname() }
