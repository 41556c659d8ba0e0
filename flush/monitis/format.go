package monitis

import (
	"math"
	"net/url"
	"strconv"
	"strings"
)

// DataType is the type code of a result or monitor parameter (spec §4.1).
type DataType int

// The data types Monitis knows.
const (
	Boolean DataType = 1
	Integer DataType = 2
	String  DataType = 3
	Float   DataType = 4
)

// ResultParam describes one value a custom monitor records: its name (the
// key in addResult), the name shown in the UI, the unit of measure and the
// data type.
type ResultParam struct {
	Name        string
	DisplayName string
	UOM         string
	DataType    DataType
}

// MonitorParam is a configuration parameter of a custom monitor.
type MonitorParam struct {
	Name        string
	DisplayName string
	Value       string
	DataType    DataType
	Hidden      bool
}

// ResultValue is one value of an addResult call.
type ResultValue struct {
	Name  string
	Value string
}

// esc percent-encodes one field of a mini-format value, as the spec
// recommends (§4.5): every field on its own, so that ':' and ';' inside a
// field can never be taken for separators. A space becomes "%20" rather
// than "+", which decodes to a space under both form decoding and plain
// percent-decoding (the SDK's own example sends "TCP%20Packets%20In").
func esc(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// formatResultParams encodes resultParams/additionalResultParams:
// name:displayName:uom:dataType;... (spec §4.2).
func formatResultParams(ps []ResultParam) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(';')
		}
		uom := p.UOM
		if uom == "" {
			uom = "N/A"
		}
		b.WriteString(esc(p.Name))
		b.WriteByte(':')
		b.WriteString(esc(p.DisplayName))
		b.WriteByte(':')
		b.WriteString(esc(uom))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(p.DataType)))
	}
	return b.String()
}

// formatMonitorParams encodes monitorParams:
// name:displayName:value:dataType:isHidden;... (spec §4.3).
func formatMonitorParams(ps []MonitorParam) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(esc(p.Name))
		b.WriteByte(':')
		b.WriteString(esc(p.DisplayName))
		b.WriteByte(':')
		b.WriteString(esc(p.Value))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(int(p.DataType)))
		b.WriteByte(':')
		b.WriteString(strconv.FormatBool(p.Hidden))
	}
	return b.String()
}

// formatResults encodes addResult's results: name:value;... (spec §4.4).
func formatResults(vs []ResultValue) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(esc(v.Name))
		b.WriteByte(':')
		b.WriteString(esc(v.Value))
	}
	return b.String()
}

// FormatValue writes a statistic as Monitis expects a float value: plain
// decimal, no exponent, shortest representation that round-trips. It
// reports false for NaN and infinities, which have no Monitis form.
func FormatValue(v float64) (string, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "", false
	}
	return strconv.FormatFloat(v, 'f', -1, 64), true
}
