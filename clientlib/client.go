package clientlib

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cactus/go-statsd-client/v5/statsd"
)

// Tag is one "key", "value" pair, as in cactus' statsd.Tag:
// clientlib.Tag{"route", "/users/{id}"}. The value may be empty.
type Tag = statsd.Tag

// Sender carries formatted lines to the server; see statsd.Sender. A Client
// calls Send from any goroutine with one or more '\n'-separated lines that
// belong in one datagram. The Client reuses data once Send returns, so a
// Sender must copy what it keeps.
type Sender = statsd.Sender

// TagFormat selects how tags are written on the wire.
type TagFormat uint8

// The tag formats. The zero value is DogStatsD.
const (
	// DogStatsD appends tags after the type: "name:1|c|#k:v,k2:v2".
	DogStatsD TagFormat = iota
	// InfluxDB embeds tags in the name: "name,k=v,k2=v2:1|c".
	InfluxDB
	// Graphite embeds tags in the name: "name;k=v;k2=v2:1|c".
	Graphite
)

// String returns the format's name.
func (f TagFormat) String() string {
	switch f {
	case DogStatsD:
		return "dogstatsd"
	case InfluxDB:
		return "influxdb"
	case Graphite:
		return "graphite"
	}
	return "TagFormat(" + strconv.Itoa(int(f)) + ")"
}

func (f TagFormat) cactus() statsd.TagFormat {
	switch f {
	case InfluxDB:
		return statsd.InfixComma
	case Graphite:
		return statsd.InfixSemicolon
	}
	return statsd.SuffixOctothorpe
}

// Defaults used for zero Config fields.
const (
	DefaultAddress       = "127.0.0.1:8125"
	DefaultFlushInterval = 300 * time.Millisecond
	DefaultFlushBytes    = 1432
)

// Config configures a Client. The zero value is usable: it sends to
// 127.0.0.1:8125 with DogStatsD tags, buffered, unsampled.
type Config struct {
	// Address is the agent's UDP "host:port". "" means DefaultAddress.
	Address string
	// Prefix is prepended to every name with a '.' ("myapp" makes
	// "myapp.requests"). "" means no prefix.
	Prefix string
	// Tags are added to every metric, before the per-call tags.
	Tags []Tag
	// TagFormat is the tag syntax on the wire; the zero value is DogStatsD.
	TagFormat TagFormat
	// Unbuffered sends every metric in its own datagram as it is recorded.
	// By default metrics are packed into datagrams of at most FlushBytes
	// and sent at least every FlushInterval by a background goroutine.
	Unbuffered bool
	// FlushInterval is the longest a buffered metric waits; 0 means
	// DefaultFlushInterval (300ms).
	FlushInterval time.Duration
	// FlushBytes is the largest datagram the buffer builds; 0 means
	// DefaultFlushBytes (1432, safe on Ethernet; use 512 across the
	// internet, up to 8932 with jumbo frames or on loopback).
	FlushBytes int
	// SampleRate in (0, 1] sends only that fraction of counter, timer,
	// histogram and distribution calls, marked "|@rate" so the agent scales
	// counts back up. Gauges and sets are never sampled. 0 means 1.
	SampleRate float64
	// OnError, if set, is called with every error the Client counts: a send
	// that failed, a call on a closed Client, an invalid name, tag or value.
	// It is called synchronously from the metric call or from the buffer's
	// flushing goroutine, so it must be quick and safe for concurrent use.
	OnError func(error)
	// Sender, if set, replaces the UDP sender (Address is then unused); the
	// Client owns it and closes it on Close. Buffering still applies unless
	// Unbuffered is set. clientlibtest.Recorder is one.
	Sender Sender
}

// Errors reported through Config.OnError; match them with errors.Is.
var (
	ErrClosed       = errors.New("clientlib: client is closed")
	ErrInvalidName  = errors.New("clientlib: invalid metric name")
	ErrInvalidTag   = errors.New("clientlib: invalid tag")
	ErrInvalidValue = errors.New("clientlib: invalid value")
	ErrSend         = errors.New("clientlib: send failed")
)

// Client sends metrics to a StatsD agent. It is safe for concurrent use.
// A nil *Client is valid and does nothing.
type Client struct {
	*shared
	prefix   string // "" or "prefix."
	tags     []Tag
	format   TagFormat
	cformat  statsd.TagFormat
	rate     float64
	rateText string // "|@0.25", or "" when unsampled
}

// shared is the state a Client shares with the Clients made by With.
type shared struct {
	sender   Sender
	onError  func(error)
	errs     atomic.Uint64
	closed   atomic.Bool
	inFlight atomic.Int64 // HTTP requests in Middleware
}

// New returns a Client for cfg. It returns an error if the address does not
// resolve or a field is out of range; nothing is sent until the first metric.
func New(cfg Config) (*Client, error) {
	if cfg.TagFormat > Graphite {
		return nil, fmt.Errorf("clientlib: unknown tag format %d", cfg.TagFormat)
	}
	rate := cfg.SampleRate
	switch {
	case rate == 0:
		rate = 1
	case !(rate > 0 && rate <= 1): // also rejects NaN
		return nil, fmt.Errorf("clientlib: sample rate %v not in (0, 1]", cfg.SampleRate)
	}
	if cfg.FlushInterval < 0 {
		return nil, fmt.Errorf("clientlib: negative flush interval %v", cfg.FlushInterval)
	}
	if cfg.FlushBytes < 0 {
		return nil, fmt.Errorf("clientlib: negative flush bytes %d", cfg.FlushBytes)
	}
	c := &Client{
		shared:  &shared{onError: cfg.OnError},
		format:  cfg.TagFormat,
		cformat: cfg.TagFormat.cactus(),
		rate:    rate,
	}
	if cfg.Prefix != "" {
		p := strings.TrimSuffix(cfg.Prefix, ".")
		if err := c.checkName(p); err != nil {
			return nil, fmt.Errorf("%w: prefix %q", ErrInvalidName, cfg.Prefix)
		}
		c.prefix = p + "."
	}
	for _, t := range cfg.Tags {
		if err := c.checkTags([]Tag{t}); err != nil {
			return nil, err
		}
	}
	c.tags = append([]Tag(nil), cfg.Tags...)
	if rate < 1 {
		c.rateText = "|@" + strconv.FormatFloat(rate, 'f', -1, 64)
	}

	sender := cfg.Sender
	if sender == nil {
		addr := cfg.Address
		if addr == "" {
			addr = DefaultAddress
		}
		s, err := statsd.NewSimpleSender(addr)
		if err != nil {
			return nil, fmt.Errorf("clientlib: %w", err)
		}
		sender = s
	}
	if !cfg.Unbuffered {
		interval := cfg.FlushInterval
		if interval == 0 {
			interval = DefaultFlushInterval
		}
		size := cfg.FlushBytes
		if size == 0 {
			size = DefaultFlushBytes
		}
		// The buffered sender drops the errors of its background sends;
		// countingSender counts them before they are lost.
		b, err := statsd.NewBufferedSenderWithSender(countingSender{sender, c}, interval, size)
		if err != nil {
			sender.Close()
			return nil, fmt.Errorf("clientlib: %w", err)
		}
		sender = b
	}
	c.sender = sender
	return c, nil
}

// countingSender counts the errors of the sender it wraps.
type countingSender struct {
	Sender
	c *Client
}

func (s countingSender) Send(data []byte) (int, error) {
	n, err := s.Sender.Send(data)
	if err != nil {
		s.c.fail(fmt.Errorf("%w: %w", ErrSend, err))
	}
	return n, err
}

// With returns a Client that adds prefix (after c's, joined by '.') and
// tags (after c's) to every metric, like cactus' NewSubStatter. It shares
// c's sender, buffer and error count: closing one closes both. An invalid
// prefix or tag is counted as an error and left out. With on a nil Client
// returns nil.
func (c *Client) With(prefix string, tags ...Tag) *Client {
	if c == nil {
		return nil
	}
	sub := *c
	if p := strings.Trim(prefix, "."); p != "" {
		if err := c.checkName(p); err != nil {
			c.fail(fmt.Errorf("%w: prefix %q", ErrInvalidName, prefix))
		} else {
			sub.prefix = c.prefix + p + "."
		}
	}
	sub.tags = append([]Tag(nil), c.tags...)
	for _, t := range tags {
		if err := c.checkTags([]Tag{t}); err != nil {
			c.fail(err)
			continue
		}
		sub.tags = append(sub.tags, t)
	}
	return &sub
}

// Errors returns the number of errors counted so far: failed sends, calls
// after Close, and rejected names, tags and values.
func (c *Client) Errors() uint64 {
	if c == nil {
		return 0
	}
	return c.errs.Load()
}

// Close sends whatever is buffered, stops the buffer's goroutine and
// releases the socket. Later calls are counted as errors (ErrClosed) and
// send nothing. Close is idempotent.
func (c *Client) Close() error {
	if c == nil || c.closed.Swap(true) {
		return nil
	}
	if err := c.sender.Close(); err != nil {
		return fmt.Errorf("clientlib: close: %w", err)
	}
	return nil
}

// Count adds n to a counter.
func (c *Client) Count(name string, n int64, tags ...Tag) {
	if c == nil {
		return
	}
	c.count(name, n, true, tags)
}

// count sends a counter, sampled at the client's rate if sampled.
func (c *Client) count(name string, n int64, sampled bool, tags []Tag) {
	if sampled && !c.sample() {
		return
	}
	b := c.begin(name, tags)
	if b == nil {
		return
	}
	*b = strconv.AppendInt(*b, n, 10)
	c.end(b, "|c", sampled, tags)
}

// Incr adds 1 to a counter.
func (c *Client) Incr(name string, tags ...Tag) { c.Count(name, 1, tags...) }

// Decr subtracts 1 from a counter.
func (c *Client) Decr(name string, tags ...Tag) { c.Count(name, -1, tags...) }

// Gauge sets a gauge to v. A negative v is sent as "0" followed by the
// delta v in the same datagram, because a leading '-' on the wire means
// "subtract" (spec R3.5); the agent ends with the gauge at v either way.
func (c *Client) Gauge(name string, v float64, tags ...Tag) {
	if c == nil {
		return
	}
	if !finite(v) {
		c.fail(fmt.Errorf("%w: gauge %s = %v", ErrInvalidValue, name, v))
		return
	}
	b := c.begin(name, tags)
	if b == nil {
		return
	}
	if v < 0 {
		*b = append(*b, '0')
		*b = c.appendTail(*b, "|g", false, tags)
		*b = append(*b, '\n')
		*b = c.appendHead(*b, name, tags)
	} else if v == 0 {
		v = 0 // turn -0 into 0: "-0" would be a delta
	}
	*b = strconv.AppendFloat(*b, v, 'f', -1, 64)
	c.end(b, "|g", false, tags)
}

// GaugeDelta adds delta (which may be negative) to a gauge: "+5" or "-5"
// on the wire.
func (c *Client) GaugeDelta(name string, delta float64, tags ...Tag) {
	if c == nil {
		return
	}
	if !finite(delta) {
		c.fail(fmt.Errorf("%w: gauge delta %s = %v", ErrInvalidValue, name, delta))
		return
	}
	b := c.begin(name, tags)
	if b == nil {
		return
	}
	if delta >= 0 {
		*b = append(*b, '+')
		delta = math.Abs(delta) // -0 -> 0
	}
	*b = strconv.AppendFloat(*b, delta, 'f', -1, 64)
	c.end(b, "|g", false, tags)
}

// Timing records a duration in a timer, in milliseconds with fractions.
func (c *Client) Timing(name string, d time.Duration, tags ...Tag) {
	if c == nil {
		return
	}
	c.timing(name, d, true, tags)
}

// timing sends a timer, sampled at the client's rate if sampled.
func (c *Client) timing(name string, d time.Duration, sampled bool, tags []Tag) {
	if d < 0 {
		c.fail(fmt.Errorf("%w: negative timing %s = %v", ErrInvalidValue, name, d))
		return
	}
	if sampled && !c.sample() {
		return
	}
	b := c.begin(name, tags)
	if b == nil {
		return
	}
	*b = strconv.AppendFloat(*b, float64(d)/float64(time.Millisecond), 'f', -1, 64)
	c.end(b, "|ms", sampled, tags)
}

// Time starts a timer and returns the function that records it, for
//
//	defer c.Time("db.query")()
//
// The returned function records the time elapsed since Time was called; call
// it once. (It allocates a closure; Timing with a time.Since of your own
// start does not.)
func (c *Client) Time(name string, tags ...Tag) func() {
	if c == nil {
		return noop
	}
	start := time.Now()
	return func() { c.Timing(name, time.Since(start), tags...) }
}

func noop() {}

// Histogram records a value in a histogram (a unit-less timer).
func (c *Client) Histogram(name string, v float64, tags ...Tag) {
	c.distribution(name, v, "|h", tags)
}

// Distribution records a value in a distribution (aggregated into a
// mergeable sketch by agents that support it).
func (c *Client) Distribution(name string, v float64, tags ...Tag) {
	c.distribution(name, v, "|d", tags)
}

func (c *Client) distribution(name string, v float64, typ string, tags []Tag) {
	if c == nil {
		return
	}
	if !finite(v) {
		c.fail(fmt.Errorf("%w: %s = %v", ErrInvalidValue, name, v))
		return
	}
	if !c.sample() {
		return
	}
	b := c.begin(name, tags)
	if b == nil {
		return
	}
	*b = strconv.AppendFloat(*b, v, 'f', -1, 64)
	c.end(b, typ, true, tags)
}

// Set adds member to a set; the agent reports the number of distinct
// members per interval. member must be non-empty (StatsD servers read an
// empty member as "0") and must not contain ':', '|' or a line break.
func (c *Client) Set(name, member string, tags ...Tag) {
	if c == nil {
		return
	}
	if member == "" || strings.ContainsAny(member, ":|\n\r") {
		c.fail(fmt.Errorf("%w: set member %q", ErrInvalidValue, member))
		return
	}
	b := c.begin(name, tags)
	if b == nil {
		return
	}
	*b = append(*b, member...)
	c.end(b, "|s", false, tags)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// sample reports whether this call is kept under the sample rate.
func (c *Client) sample() bool {
	return c.rate >= 1 || rand.Float64() < c.rate
}

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 256)
	return &b
}}

// begin validates the call and returns a pooled buffer holding the line's
// head up to and including ':', or nil if the call is rejected.
func (c *Client) begin(name string, tags []Tag) *[]byte {
	if c.closed.Load() {
		c.fail(ErrClosed)
		return nil
	}
	if err := c.checkName(name); err != nil {
		c.fail(err)
		return nil
	}
	if err := c.checkTags(tags); err != nil {
		c.fail(err)
		return nil
	}
	b := bufPool.Get().(*[]byte)
	*b = c.appendHead((*b)[:0], name, tags)
	return b
}

// end appends the line's tail, sends the buffer and returns it to the pool.
func (c *Client) end(b *[]byte, typ string, sampled bool, tags []Tag) {
	*b = c.appendTail(*b, typ, sampled, tags)
	if _, err := c.sender.Send(*b); err != nil {
		if c.closed.Load() {
			err = ErrClosed
		} else {
			err = fmt.Errorf("%w: %w", ErrSend, err)
		}
		c.fail(err)
	}
	if cap(*b) <= 64<<10 {
		bufPool.Put(b)
	}
}

// appendHead appends "prefix.name[infix tags]:".
func (c *Client) appendHead(b []byte, name string, tags []Tag) []byte {
	b = append(b, c.prefix...)
	b = append(b, name...)
	if c.format != DogStatsD {
		if len(c.tags) > 0 {
			b = c.cformat.WriteInfix(b, c.tags)
		}
		if len(tags) > 0 {
			b = c.cformat.WriteInfix(b, tags)
		}
	}
	return append(b, ':')
}

// appendTail appends "|type[|@rate][|#tags]".
func (c *Client) appendTail(b []byte, typ string, sampled bool, tags []Tag) []byte {
	b = append(b, typ...)
	if sampled {
		b = append(b, c.rateText...)
	}
	if c.format == DogStatsD {
		switch {
		case len(c.tags) > 0 && len(tags) > 0:
			b = c.cformat.WriteSuffix(b, c.tags)
			b = append(b, ',')
			b = appendDogTags(b, tags)
		case len(c.tags) > 0:
			b = c.cformat.WriteSuffix(b, c.tags)
		case len(tags) > 0:
			b = c.cformat.WriteSuffix(b, tags)
		}
	}
	return b
}

// appendDogTags continues a DogStatsD tag list, as WriteSuffix writes it.
func appendDogTags(b []byte, tags []Tag) []byte {
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, t[0]...)
		b = append(b, ':')
		b = append(b, t[1]...)
	}
	return b
}

// checkName rejects names that would break the line or read as tags:
// empty, or holding ':', '|', '@', '#', ',', ';', '=', '[', ']', a space or
// a control character.
func (c *Client) checkName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	for i := 0; i < len(name); i++ {
		if badName[name[i]] {
			return fmt.Errorf("%w: %q", ErrInvalidName, name)
		}
	}
	return nil
}

// checkTags rejects tags that would break the line in the client's format.
// A DogStatsD key or value must not hold ',', '|', '#' or a control
// character, and a key not ':'; an InfluxDB or Graphite one none of
// ',', ';', '=', ':', '|', '#', a space or a control character.
func (c *Client) checkTags(tags []Tag) error {
	keyBad, valBad := &badDogKey, &badDogValue
	if c.format != DogStatsD {
		keyBad, valBad = &badInfix, &badInfix
	}
	for _, t := range tags {
		if t[0] == "" {
			return fmt.Errorf("%w: empty key", ErrInvalidTag)
		}
		if hasAny(t[0], keyBad) || hasAny(t[1], valBad) {
			return fmt.Errorf("%w: %q:%q", ErrInvalidTag, t[0], t[1])
		}
	}
	return nil
}

func hasAny(s string, bad *[256]bool) bool {
	for i := 0; i < len(s); i++ {
		if bad[s[i]] {
			return true
		}
	}
	return false
}

// Byte tables for checkName and checkTags: control characters and these.
var (
	badName     = byteSet(" :|@#,;=[]")
	badDogKey   = byteSet(",|#:")
	badDogValue = byteSet(",|#")
	badInfix    = byteSet(" ,|#;=:")
)

func byteSet(chars string) [256]bool {
	var t [256]bool
	for i := 0; i < ' '; i++ {
		t[i] = true
	}
	t[0x7f] = true
	for i := 0; i < len(chars); i++ {
		t[chars[i]] = true
	}
	return t
}

// fail counts err and reports it to OnError.
func (c *Client) fail(err error) {
	c.errs.Add(1)
	if c.onError != nil {
		c.onError(err)
	}
}
