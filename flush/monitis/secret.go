package monitis

import "log/slog"

// Secret holds an API key or secret key. It redacts itself wherever it could
// be printed: String, GoString, LogValue and MarshalText (so config dumps,
// %v, %s, %q and slog attributes all show "[redacted]"). Use Reveal to get
// the value for signing and sending. A TOML string decodes into it directly.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]" (or "" when the secret is empty).
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in encoded config dumps (TOML, JSON).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
