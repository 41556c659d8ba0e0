// Package secret holds credentials (API keys, tokens) in a string type that
// redacts itself wherever it could be printed: fmt verbs, slog, JSON and
// text marshalling. Only Reveal returns the value, for the one place that
// sends it. It sits beside the pipeline, used by config and the backends.
package secret

import "log/slog"

// String is a secret string. Its zero value is "no secret".
type String string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s String) Reveal() string { return string(s) }

// String returns "[redacted]", or "" for an empty secret.
func (s String) String() string {
	if s == "" {
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
	*s = String(b)
	return nil
}
