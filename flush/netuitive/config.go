package netuitive

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/statsd-agent/statsd-agent/duration"
	"github.com/statsd-agent/statsd-agent/secret"
)

// Defaults used where a Config field is zero.
const (
	// DefaultURL is the Netuitive ingest base URL of the vendor's own clients
	// (netuitive-client-python, netuitive-statsd). Metricly accounts use
	// https://api.app.metricly.com/ingest, CloudWisdom accounts
	// https://api.us.cloudwisdom.virtana.com/ingest.
	DefaultURL         = "https://api.app.netuitive.com/ingest"
	DefaultElementType = "SERVER"
	DefaultPrefix      = "statsd"
	// DefaultMaxMetricsPerPost keeps a post near 3.5 MB (about 350 bytes
	// per metric and sample): few large posts respect the recommended
	// posts per minute better than many small ones.
	DefaultMaxMetricsPerPost = 10000
	// DefaultPostsPerMinute is the vendor's recommended ceiling: "no more
	// than 10 payloads per element per minute".
	DefaultPostsPerMinute = 10
	DefaultTimeout        = 10 * time.Second
	// DefaultQueueLimit holds about 175 MB of encoded posts at most.
	DefaultQueueLimit = 500000
	DefaultCheckName  = "statsd-agent"
	// DefaultSpoolMaxBytes bounds the spool (Config.SpoolDir) on disk.
	DefaultSpoolMaxBytes = 64 << 20
	// EnvAPIKey is the environment variable read when the config has no key.
	EnvAPIKey = "NETUITIVE_API_KEY"
)

// Mapping names accepted in Config.Mapping.
const (
	// MappingDefault is the lossless mapping documented in the package doc.
	MappingDefault = "default"
	// MappingNetuitiveStatsd reproduces netuitive-statsd's payloads as far
	// as the snapshot allows, for users migrating from it.
	MappingNetuitiveStatsd = "netuitive-statsd"
)

// Config configures the Netuitive backend. The zero value means the
// documented defaults (see each field); only an API key is required.
type Config struct {
	// URL is the ingest base URL, optionally with a datasource-type
	// segment (".../ingest/infrastructure"); its path must contain an
	// "ingest" segment. The events and check-in URLs are derived from it the
	// way the vendor clients do. "" means DefaultURL.
	URL string `toml:"url"`
	// APIKey is the datasource API key; "" means the NETUITIVE_API_KEY
	// environment variable.
	APIKey Secret `toml:"api_key"`
	// ElementID is the element every flush is posted on; "" means the host
	// name. ElementName is its display name; "" means ElementID.
	ElementID   string `toml:"element_id"`
	ElementName string `toml:"element_name"`
	// ElementType is the element type; "" means "SERVER".
	ElementType string `toml:"element_type"`
	// Location is the element's location (region, data centre); optional.
	Location string `toml:"location"`
	// Tags and Attributes are the element's tags and attributes.
	Tags       map[string]string `toml:"tags"`
	Attributes map[string]string `toml:"attributes"`
	// Mapping is "default" (or "") or "netuitive-statsd".
	Mapping string `toml:"mapping"`
	// Prefix starts every metric id ("<prefix>.<name>"); "" means "statsd".
	// NoPrefix drops the prefix.
	Prefix   string `toml:"prefix"`
	NoPrefix bool   `toml:"no_prefix"`
	// MaxMetricsPerPost splits an element over several posts; 0 means 10000.
	MaxMetricsPerPost int `toml:"max_metrics_per_post"`
	// PostsPerMinute paces ingest and event posts (burst: the same number);
	// 0 means 10, a negative value disables pacing.
	PostsPerMinute float64 `toml:"posts_per_minute"`
	// Timeout bounds each HTTP request; 0 means 10s.
	Timeout Duration `toml:"timeout"`
	// QueueLimit bounds the samples (and events) held for delivery in
	// memory; when it is exceeded the oldest posts are dropped and counted.
	// 0 means 500000. It does not apply with SpoolDir.
	QueueLimit int `toml:"queue_limit"`
	// QueueFile, if set, keeps undelivered posts across restarts: Close
	// writes what it could not deliver there, New loads and removes it.
	// With SpoolDir set, SpoolDir wins: an existing QueueFile is moved
	// into the spool once by New (then removed) and not written again.
	QueueFile string `toml:"queue_file"`
	// SpoolDir, when not empty, is a directory (the agent sets
	// <state-dir>/netuitive) where the posts waiting for delivery are kept
	// instead of memory: each post is written there before it is sent and
	// removed once Netuitive accepted (or rejected) it, so posts survive
	// an outage up to SpoolMaxBytes, a restart and a kill -9, and are
	// delivered in order with their original timestamps.
	SpoolDir string `toml:"-"`
	// SpoolMaxBytes bounds the spool's disk use; 0 means 64 MiB. When a
	// new post would pass it, the oldest posts are dropped (in spool
	// segments of an eighth of the bound), logged with the count and
	// counted (dropped_total{item="posts",reason="spool_full"}).
	SpoolMaxBytes int64 `toml:"spool_max_bytes"`
	// CheckName is the name of the heartbeat check-in posted every flush;
	// "" means "statsd-agent". CheckTTL is its time to live; 0 means three
	// flush intervals. NoCheckIn turns the heartbeat off.
	CheckName string   `toml:"check_name"`
	CheckTTL  Duration `toml:"check_ttl"`
	NoCheckIn bool     `toml:"no_check_in"`
}

// RegisterFlags registers the non-secret settings as -netuitive-* flags on
// fs, with c's current values as defaults. The API key has no flag: it comes
// from the config file or NETUITIVE_API_KEY.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "netuitive-url", c.URL, "Netuitive ingest base `URL` (default "+DefaultURL+")")
	fs.StringVar(&c.ElementID, "netuitive-element-id", c.ElementID, "Netuitive element `id` the metrics are posted on (default: the host name)")
	fs.StringVar(&c.ElementName, "netuitive-element-name", c.ElementName, "Netuitive element display `name` (default: the element id)")
	fs.StringVar(&c.ElementType, "netuitive-element-type", c.ElementType, "Netuitive element `type` (default SERVER)")
	fs.StringVar(&c.Mapping, "netuitive-mapping", c.Mapping, "Netuitive metric `mapping`: default or netuitive-statsd")
	fs.StringVar(&c.Prefix, "netuitive-prefix", c.Prefix, "Netuitive metric id `prefix` (default statsd)")
	fs.BoolVar(&c.NoPrefix, "netuitive-no-prefix", c.NoPrefix, "Netuitive metric ids without prefix")
	fs.IntVar(&c.MaxMetricsPerPost, "netuitive-max-metrics-per-post", c.MaxMetricsPerPost, "split Netuitive posts above this many `metrics` (default 10000)")
	fs.Float64Var(&c.PostsPerMinute, "netuitive-posts-per-minute", c.PostsPerMinute, "pace Netuitive posts to this `rate` (default 10, negative: unpaced)")
	fs.DurationVar((*time.Duration)(&c.Timeout), "netuitive-timeout", time.Duration(c.Timeout), "Netuitive HTTP request `timeout` (default 10s)")
	fs.IntVar(&c.QueueLimit, "netuitive-queue-limit", c.QueueLimit, "Netuitive retry queue bound in `samples` (default 500000)")
	fs.StringVar(&c.QueueFile, "netuitive-queue-file", c.QueueFile, "keep undelivered Netuitive posts in this `file` across restarts")
	fs.StringVar(&c.CheckName, "netuitive-check-name", c.CheckName, "Netuitive heartbeat check `name` (default statsd-agent)")
	fs.DurationVar((*time.Duration)(&c.CheckTTL), "netuitive-check-ttl", time.Duration(c.CheckTTL), "Netuitive heartbeat `ttl` (default 3 flush intervals)")
	fs.BoolVar(&c.NoCheckIn, "netuitive-no-check-in", c.NoCheckIn, "do not post a Netuitive heartbeat check-in")
}

// Secret is a credential that redacts itself wherever it could be printed
// (package secret); Reveal returns the value.
type Secret = secret.String

// NewSecret returns a Secret holding s.
func NewSecret(s string) Secret { return secret.New(s) }

// Duration is a time.Duration written as a string ("10s", "2m") in TOML
// and on flags (package duration).
type Duration = duration.Duration

// endpoints are the URLs derived from the base URL and key, and their
// redacted forms for logs and errors.
type endpoints struct {
	data, events, checkBase, time string
}

// deriveEndpoints derives the ingest, events, check-in and time URLs from the
// base URL the way the vendor clients do (spec 1.2): data = base + "/" + key;
// events = data with "/ingest/" -> "/ingest/events/"; check base = data with
// "/ingest/" -> "/check/" and the datasource-type segment removed;
// time = scheme://host/time.
func deriveEndpoints(base, key string) (endpoints, error) {
	u, err := url.Parse(base)
	if err != nil {
		return endpoints{}, fmt.Errorf("netuitive: bad url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return endpoints{}, fmt.Errorf("netuitive: bad url %q: want http(s)://host/ingest[/type]", base)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return endpoints{}, fmt.Errorf("netuitive: bad url %q: no query or fragment allowed", base)
	}
	path := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndex(path+"/", "/ingest/")
	if i < 0 {
		return endpoints{}, fmt.Errorf("netuitive: bad url %q: the path must contain an /ingest segment", base)
	}
	prefix, typ := path[:i], strings.Trim(path[i+len("/ingest"):], "/")
	if strings.Contains(typ, "/") {
		return endpoints{}, fmt.Errorf("netuitive: bad url %q: at most one segment after /ingest", base)
	}
	if typ == "events" || typ == "webhook" {
		return endpoints{}, fmt.Errorf("netuitive: bad url %q: give the ingest base URL, not the %s URL", base, typ)
	}
	root := u.Scheme + "://" + u.Host
	k := url.PathEscape(key)
	seg := ""
	if typ != "" {
		seg = "/" + typ
	}
	return endpoints{
		data:      root + prefix + "/ingest" + seg + "/" + k,
		events:    root + prefix + "/ingest/events" + seg + "/" + k,
		checkBase: root + prefix + "/check/" + k,
		time:      root + "/time",
	}, nil
}

// resolved is a Config with defaults applied.
type resolved struct {
	Config
	key       string
	endpoints endpoints
	prefix    string // "" or "<prefix>."
	vendor    bool
}

// resolve applies defaults and checks the configuration.
func (c Config) resolve(getenv func(string) string, hostname func() (string, error)) (resolved, error) {
	r := resolved{Config: c}
	r.key = c.APIKey.Reveal()
	if r.key == "" {
		r.key = strings.TrimSpace(getenv(EnvAPIKey))
	}
	if r.key == "" {
		return r, errors.New("netuitive: no API key: set api_key in the config file or " + EnvAPIKey)
	}
	if strings.ContainsAny(r.key, "/?#% \t\n") {
		return r, errors.New("netuitive: the API key contains characters that cannot appear in a URL path segment")
	}
	if r.URL == "" {
		r.URL = DefaultURL
	}
	ep, err := deriveEndpoints(r.URL, r.key)
	if err != nil {
		return r, err
	}
	r.endpoints = ep
	if r.ElementID == "" {
		h, err := hostname()
		if err != nil {
			return r, fmt.Errorf("netuitive: no element_id and no host name: %w", err)
		}
		r.ElementID = h
	}
	r.ElementID = sanitize(r.ElementID)
	if r.ElementID == "" {
		return r, errors.New("netuitive: empty element id")
	}
	if r.ElementName == "" {
		r.ElementName = r.ElementID
	}
	if r.ElementType == "" {
		r.ElementType = DefaultElementType
	}
	switch r.Mapping {
	case "", MappingDefault:
		r.Mapping = MappingDefault
	case MappingNetuitiveStatsd:
		r.vendor = true
	default:
		return r, fmt.Errorf("netuitive: unknown mapping %q: want %q or %q", r.Mapping, MappingDefault, MappingNetuitiveStatsd)
	}
	if !r.NoPrefix {
		p := r.Prefix
		if p == "" {
			p = DefaultPrefix
		}
		r.prefix = sanitize(p) + "."
	}
	switch {
	case r.MaxMetricsPerPost == 0:
		r.MaxMetricsPerPost = DefaultMaxMetricsPerPost
	case r.MaxMetricsPerPost < 0:
		return r, fmt.Errorf("netuitive: max_metrics_per_post %d < 0", r.MaxMetricsPerPost)
	}
	if r.PostsPerMinute == 0 {
		r.PostsPerMinute = DefaultPostsPerMinute
	}
	switch {
	case r.Timeout == 0:
		r.Timeout = Duration(DefaultTimeout)
	case r.Timeout < 0:
		return r, fmt.Errorf("netuitive: timeout %v < 0", time.Duration(r.Timeout))
	}
	switch {
	case r.QueueLimit == 0:
		r.QueueLimit = DefaultQueueLimit
	case r.QueueLimit < 0:
		return r, fmt.Errorf("netuitive: queue_limit %d < 0", r.QueueLimit)
	}
	if r.SpoolMaxBytes < 0 {
		return r, fmt.Errorf("netuitive: spool_max_bytes %d < 0", r.SpoolMaxBytes)
	}
	if r.SpoolMaxBytes == 0 {
		r.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	if r.CheckName == "" {
		r.CheckName = DefaultCheckName
	}
	if s := sanitize(r.CheckName); s != r.CheckName {
		return r, fmt.Errorf("netuitive: check_name %q: use only [a-zA-Z0-9._-]", r.CheckName)
	}
	if r.CheckTTL < 0 {
		return r, fmt.Errorf("netuitive: check_ttl %v < 0", time.Duration(r.CheckTTL))
	}
	return r, nil
}

// hostname returns the short-enough host name used as default element id.
func hostname() (string, error) {
	return os.Hostname()
}
