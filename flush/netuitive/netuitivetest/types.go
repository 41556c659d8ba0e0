package netuitivetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Element is one element as the fake decoded it from an ingest post
// (spec section 4.1). Unknown JSON fields are ignored, as the real service
// ignores them.
type Element struct {
	ID         string      `json:"id"`
	Name       string      `json:"name,omitempty"`
	Type       string      `json:"type,omitempty"`
	Location   string      `json:"location,omitempty"`
	Tags       []Tag       `json:"tags,omitempty"`
	Attributes []Attribute `json:"attributes,omitempty"`
	Relations  []Relation  `json:"relations,omitempty"`
	Metrics    []Metric    `json:"metrics,omitempty"`
	Samples    []Sample    `json:"samples,omitempty"`
}

// Tag is a {name, value} pair of an element, metric or event. A null value
// (sent by the reference clients for bare tags) decodes to Value == nil.
type Tag struct {
	Name  string  `json:"name"`
	Value *string `json:"value"`
}

// Attribute is an element attribute; its value is a string or a number.
type Attribute struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// Relation is a one-directional relation to another element.
type Relation struct {
	FQN string `json:"fqn"`
}

// Metric is the metadata of one metric of an element.
type Metric struct {
	ID                 string  `json:"id"`
	Name               string  `json:"name,omitempty"`
	Type               *string `json:"type"`
	Unit               string  `json:"unit,omitempty"`
	SparseDataStrategy string  `json:"sparseDataStrategy,omitempty"`
	Tags               []Tag   `json:"tags,omitempty"`
}

// Sample is one data point. Optional numeric fields are nil when absent or
// null. Timestamp is the parsed epoch-milliseconds number or ISO 8601 string.
type Sample struct {
	MetricID  string    `json:"metricId"`
	Timestamp time.Time `json:"-"`
	// TimestampInjected is true when the server set Timestamp because the
	// request carried the INJECT_TIMESTAMP option.
	TimestampInjected bool     `json:"-"`
	Val               *float64 `json:"val,omitempty"`
	Min               *float64 `json:"min,omitempty"`
	Max               *float64 `json:"max,omitempty"`
	Avg               *float64 `json:"avg,omitempty"`
	Sum               *float64 `json:"sum,omitempty"`
	Cnt               *float64 `json:"cnt,omitempty"`

	rawTimestamp json.RawMessage
}

// UnmarshalJSON keeps the raw timestamp so that the handler can parse it
// the way the server does (number of milliseconds, or ISO 8601 string).
func (s *Sample) UnmarshalJSON(b []byte) error {
	type plain Sample
	var aux struct {
		plain
		Timestamp json.RawMessage `json:"timestamp"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*s = Sample(aux.plain)
	s.rawTimestamp = aux.Timestamp
	return nil
}

// MarshalJSON writes the sample with its timestamp in epoch milliseconds.
func (s Sample) MarshalJSON() ([]byte, error) {
	type plain Sample
	return json.Marshal(struct {
		plain
		Timestamp int64 `json:"timestamp"`
	}{plain(s), s.Timestamp.UnixMilli()})
}

// Event is one event as decoded from an events post (spec section 5).
type Event struct {
	Type      string    `json:"type"`
	Title     string    `json:"title"`
	Source    string    `json:"source,omitempty"`
	Timestamp time.Time `json:"-"`
	// HasTimestamp is false when the event carried no timestamp and none
	// was injected.
	HasTimestamp bool      `json:"-"`
	Tags         []Tag     `json:"tags,omitempty"`
	Data         EventData `json:"data"`

	rawTimestamp json.RawMessage
}

// EventData is the data object of an event.
type EventData struct {
	ElementID string `json:"elementId,omitempty"`
	Level     string `json:"level,omitempty"`
	Message   string `json:"message,omitempty"`
}

// UnmarshalJSON keeps the raw timestamp for the handler to parse.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var aux struct {
		plain
		Timestamp json.RawMessage `json:"timestamp"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*e = Event(aux.plain)
	e.rawTimestamp = aux.Timestamp
	return nil
}

// MarshalJSON writes the event with its timestamp in epoch milliseconds
// (omitted when it had none).
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	var ts *int64
	if e.HasTimestamp {
		ms := e.Timestamp.UnixMilli()
		ts = &ms
	}
	return json.Marshal(struct {
		plain
		Timestamp *int64 `json:"timestamp,omitempty"`
	}{plain(e), ts})
}

// Check is one check-in (heartbeat) received on /check/.
type Check struct {
	Key        string
	Name       string
	ElementFQN string
	TTL        time.Duration
	Time       time.Time // server time of receipt
}

// isoLayouts are the ISO 8601 forms the ingest API documents (spec 4.1):
// with or without milliseconds, with a numeric offset without colon or 'Z'.
// RFC 3339 offsets with a colon are accepted too (Jackson's StdDateFormat
// does). Zone names such as "EDT" are rejected.
var isoLayouts = []string{
	"2006-01-02T15:04:05.000-0700",
	"2006-01-02T15:04:05-0700",
	"2006-01-02T15:04:05.000Z07:00",
	"2006-01-02T15:04:05Z07:00",
}

// parseTimestamp parses a JSON timestamp value: a number of epoch
// milliseconds or a quoted ISO 8601 string. present is false for an absent
// or null value.
func parseTimestamp(raw json.RawMessage) (t time.Time, present bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, false, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, true, err
		}
		for _, l := range isoLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t, true, nil
			}
		}
		return time.Time{}, true, jacksonError("Can not construct instance of java.util.Date from String value '%s': not a valid representation", s)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return time.Time{}, true, jacksonError("Can not construct instance of java.util.Date from %s", raw)
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, true, jacksonError("Can not construct instance of java.util.Date from number %s", n)
	}
	return time.UnixMilli(int64(f)).UTC(), true, nil
}

// jacksonError is a parse error worded like the Java server's Jackson
// messages ("Could not read JSON: ...").
func jacksonError(format string, args ...any) error {
	return errors.New("Could not read JSON: " + fmt.Sprintf(format, args...))
}
