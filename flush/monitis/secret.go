package monitis

import "github.com/statsd-agent/statsd-agent/secret"

// Secret holds an API key or secret key; it redacts itself wherever it
// could be printed (package secret). Use Reveal to get the value for signing
// and sending. A TOML string decodes into it directly.
type Secret = secret.String

// NewSecret returns a Secret holding s.
func NewSecret(s string) Secret { return secret.New(s) }

// redacted replaces secrets in the CLI's -v output.
const redacted = "[redacted]"
