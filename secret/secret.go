// Package secret holds credentials (API keys, tokens) in a type that redacts
// itself wherever it could be printed: fmt verbs, slog, JSON, TOML and text
// marshalling. Only Reveal returns the value, for the one place that sends
// it. It sits beside the pipeline, used by config and the backends.
//
// String is a struct, not a string type, because go-toml writes
// string-kinded values without calling MarshalText; a config dump of a
// struct holding a String therefore shows "[redacted]" too.
package secret

import "log/slog"

// String is a secret string. Its zero value is "no secret". A TOML or JSON
// string decodes into it.
type String struct{ v string }

// New returns a String holding s.
func New(s string) String { return String{s} }

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s String) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s String) IsZero() bool { return s.v == "" }

// String returns "[redacted]", or "" for an empty secret.
func (s String) String() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret for %#v.
func (s String) GoString() string { return `"` + s.String() + `"` }

// LogValue redacts the secret in slog output.
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in JSON, TOML and text output.
func (s String) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the secret from a configuration file.
func (s *String) UnmarshalText(b []byte) error {
	s.v = string(b)
	return nil
}

// Equal reports whether two secrets hold the same value (go-cmp uses it).
func (s String) Equal(o String) bool { return s.v == o.v }
