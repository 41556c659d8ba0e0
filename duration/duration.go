// Package duration is a time.Duration that configuration files and flags
// write as a Go duration string ("10s", "5m"). It sits beside the
// pipeline, used by config and the backends' Config structs; a package
// that needs extra rules (such as "never negative") checks them itself.
package duration

import "time"

// Duration is a time.Duration written as a string in TOML and on flags.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// String formats the duration as a Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }

// Set parses a flag value (flag.Value).
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }
