package protocol

import "errors"

// reasons maps each sentinel error to its metric label, in the order Reason
// checks them.
var reasons = [...]struct {
	err   error
	label string
}{
	{ErrEmptyName, "empty_name"},
	{ErrNoValue, "no_value"},
	{ErrNoType, "no_type"},
	{ErrUnknownType, "unknown_type"},
	{ErrInvalidValue, "invalid_value"},
	{ErrNegativeTimer, "negative_timer"},
	{ErrInvalidRate, "invalid_sample_rate"},
	{ErrInvalidTags, "invalid_tags"},
	{ErrMixedTagStyles, "mixed_tag_styles"},
	{ErrInvalidTimestamp, "invalid_timestamp"},
	{ErrUnknownField, "unknown_field"},
	{ErrInvalidEvent, "invalid_event"},
	{ErrInvalidCheck, "invalid_service_check"},
	{ErrTooManyValues, "too_many_values"},
	{ErrLineTooLong, "line_too_long"},
}

// ReasonOther is the label Reason gives an error that is none of the
// package's sentinel errors.
const ReasonOther = "other"

// Reason maps a parse error to a stable snake_case label for metrics
// ("empty_name", "invalid_value", ...; ReasonOther for an error that wraps
// none of the sentinel errors). It does not allocate.
func Reason(err error) string {
	for _, r := range reasons {
		if err == r.err {
			return r.label
		}
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return ReasonOther
}

// Reasons lists every label Reason can return, so that counters can be
// created up front. It returns a new slice.
func Reasons() []string {
	out := make([]string, 0, len(reasons)+1)
	for _, r := range reasons {
		out = append(out, r.label)
	}
	return append(out, ReasonOther)
}
