// Package protocol parses the StatsD line protocol in all of its dialects
// (the reference Etsy server, DogStatsD v1.0-v1.6, and the InfluxDB, Graphite,
// Librato and SignalFx name-embedded tag styles) into samples.
//
// It is the "parse" step of the pipeline: packet -> parse -> aggregate ->
// snapshot -> flush. A Parser is a pure function of its input bytes; it owns
// scratch buffers that the samples it returns point into, so a Parser must not
// be used by more than one goroutine at a time, and a returned Sample is valid
// only until the next call. On the hot path parsing allocates nothing.
//
// # Line grammar
//
// A metric line is
//
//	<name>:<value>[:<value>...]|<type>[|@<rate>][|#<tags>][|c:<container>][|e:<external>][|card:<card>][|T<unix>]
//
// or, in the reference server's multi-sample form, <name>:<value>|<type>[|@<rate>]:<value>|<type>... .
// Parse follows specs/statsd-protocol.md; where the reference server is
// lossy or lenient we are strict and say so:
//
//   - Names: the name ends at the first ':'; an empty name (also one that the
//     sanitiser empties) is ErrEmptyName. By default the reference sanitiser
//     runs on the base name (R6.1): whitespace runs become '_', '/' becomes
//     '-', and bytes outside [A-Za-z0-9_.;=-] are deleted (so is all
//     non-ASCII text).
//   - Values: [+-]digits[.digits][e[+-]digits], ".5" and "5." too. NaN,
//     Inf, hex, spaces around the value and overflowing values are
//     ErrInvalidValue. A leading sign makes a gauge value a delta unless
//     Options.NoGaugeDeltas. Only timers ("ms") reject negative values
//     (ErrNegativeTimer, R3.6): histograms and distributions accept them, as
//     DogStatsD does. A set's value is an opaque member ("0" when empty).
//   - Types: c, g, ms, h, d, s. Others ("zz", statsite "kv", brubeck "C")
//     are ErrUnknownType unless Options.UnknownTypeAsCounter.
//   - Fields after the type may come in any order. "@r" needs 0 < r <= 1
//     (else ErrInvalidRate; a bare number such as "0.5" is a rate missing
//     its '@' and is ErrInvalidRate too). "T<unix>" needs a positive integer
//     (else ErrInvalidTimestamp) and is kept for every type; the aggregator
//     decides what to do with it. "c:" is kept as Sample.ContainerID. "e:",
//     "card:" and any other "key:value" field are ignored, as the Datadog
//     agent ignores fields it does not know, so a newer client never costs a
//     sample. Empty fields are ignored. Anything else is ErrUnknownField.
//     When a field repeats, the last "@", "T" and "c:" win and all "#"
//     sections are merged.
//   - Tags: DogStatsD "#k:v,k2" (split at the first ':'; a tag without ':'
//     is bare), or in the name: InfluxDB "name,k=v", Graphite "name;k=v",
//     Librato "name#k=v", SignalFx "name[k=v]suffix" (split at the first
//     '='). A name whose would-be tags hold no '=' at all ("cache#hits",
//     "a,b") uses no tag style: it is a plain name, sanitised like any
//     other ("cachehits"). Tags are kept as received except that ',', '\r' and '\n' are
//     removed; empty tags are skipped; a tag with an empty key is
//     ErrInvalidTags. Sample.Tags is canonical: sorted by key, then value,
//     joined by ',' ("key:value" or "key"), so tag order never makes a new
//     series. A name-embedded style together with a "|#" section is
//     ErrMixedTagStyles.
//   - Several values: "name:1:2:3|ms" (DogStatsD packing; empty values are
//     skipped; sets are never split) and "name:1|c:2|ms" (reference) are told
//     apart by the rule of R2.8. Bad values cost only themselves: Parse
//     returns the good samples with the first error.
//   - DogStatsD events ("_e{...}") and service checks ("_sc|...") give
//     Result.Event and Result.ServiceCheck, or ErrInvalidEvent and
//     ErrInvalidCheck.
package protocol

import "errors"

// Type is the kind of a metric sample.
type Type uint8

// The metric types. The zero Type is invalid.
const (
	Counter      Type = iota + 1 // c
	Gauge                        // g
	Timer                        // ms
	Histogram                    // h
	Distribution                 // d
	Set                          // s
)

// String returns the type's name as used in output: "counter", "gauge",
// "timer", "histogram", "distribution" or "set".
func (t Type) String() string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Timer:
		return "timer"
	case Histogram:
		return "histogram"
	case Distribution:
		return "distribution"
	case Set:
		return "set"
	}
	return "invalid"
}

// Code returns the type's token on the wire ("c", "g", "ms", "h", "d", "s").
func (t Type) Code() string {
	switch t {
	case Counter:
		return "c"
	case Gauge:
		return "g"
	case Timer:
		return "ms"
	case Histogram:
		return "h"
	case Distribution:
		return "d"
	case Set:
		return "s"
	}
	return ""
}

// IsDistribution reports whether t keeps a distribution of values
// (timer, histogram or distribution).
func (t Type) IsDistribution() bool {
	return t == Timer || t == Histogram || t == Distribution
}

// Sample is one parsed metric value.
//
// Name, Tags, SetMember and ContainerID point into the Parser's scratch
// memory and are valid only until the Parser's next call; copy them to keep
// them.
type Sample struct {
	// Name is the sanitised metric name.
	Name []byte
	// Tags is the canonical tag set: tags sorted by key, then value (a bare
	// "key" before "key:value"), joined by ','. Duplicate keys are all kept
	// (ordered by value); exact duplicate tags are kept too. Each tag is
	// "key:value", or "key" for a bare tag. Empty when untagged.
	Tags []byte
	Type Type
	// Value is the numeric value; unused for sets.
	Value float64
	// Delta is true for a gauge whose value had a leading '+' or '-': it is
	// added to the gauge rather than replacing it.
	Delta bool
	// SampleRate is the client's sample rate, 0 < r <= 1; 1 when absent.
	SampleRate float64
	// SetMember is the member for a set sample.
	SetMember []byte
	// Timestamp is the DogStatsD v1.3 "|T" Unix time in seconds, 0 if absent.
	Timestamp int64
	// ContainerID is the DogStatsD v1.2 "|c:" field, kept as metadata.
	ContainerID []byte
}

// Event is a DogStatsD event (_e{...}). It owns its memory.
type Event struct {
	Title          string
	Text           string
	Timestamp      int64  // Unix seconds; 0 means "now"
	Hostname       string // h:
	AggregationKey string // k:
	Priority       string // p: "normal" (default) or "low"
	SourceType     string // s:
	AlertType      string // t: "info" (default), "error", "warning" or "success"
	Tags           []Tag
}

// ServiceCheck is a DogStatsD service check (_sc|...). It owns its memory.
type ServiceCheck struct {
	Name      string
	Status    int   // 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
	Timestamp int64 // Unix seconds; 0 means "now"
	Hostname  string
	Message   string
	Tags      []Tag
}

// Tag is one key/value tag. A bare tag (no ':' in its DogStatsD form, no '='
// in a name-embedded one) has an empty Value.
type Tag struct {
	Key   string
	Value string
}

// Sentinel errors: every rejected line maps to one of these, so callers can
// count rejections by reason (see Reason).
var (
	ErrEmptyName        = errors.New("empty name")
	ErrNoValue          = errors.New("missing value")
	ErrNoType           = errors.New("missing type")
	ErrUnknownType      = errors.New("unknown type")
	ErrInvalidValue     = errors.New("invalid value")
	ErrNegativeTimer    = errors.New("negative timer value")
	ErrInvalidRate      = errors.New("invalid sample rate")
	ErrInvalidTags      = errors.New("invalid tags")
	ErrMixedTagStyles   = errors.New("mixed tagging styles")
	ErrInvalidTimestamp = errors.New("invalid timestamp")
	ErrUnknownField     = errors.New("unknown field")
	ErrInvalidEvent     = errors.New("invalid event")
	ErrInvalidCheck     = errors.New("invalid service check")
	ErrTooManyValues    = errors.New("too many values in one line")
	ErrLineTooLong      = errors.New("line too long")
)
