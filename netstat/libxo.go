package netstat

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ParseFreeBSDJSON parses FreeBSD `netstat -s --libxo json` output. Every
// number in the document is stored in Raw under its path below the
// "statistics" object ("tcp.sent-packets", "tcp.syncache.sent-cookies"),
// and the documented names are taken from the xo column of the name table.
//
// The field names come from FreeBSD's usr.bin/netstat/inet.c (tcp_stats,
// udp_stats); no captured JSON was available when this was written.
func ParseFreeBSDJSON(data []byte) (*Reading, error) {
	r := newReading(FormatFreeBSDJSON)
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("netstat: %s: %w: %v", FormatFreeBSDJSON, ErrMalformed, err)
	}
	root := doc
	if st, ok := doc["statistics"].(map[string]any); ok {
		root = st
	}
	flattenJSON(r, "", root)
	if len(r.Raw) == 0 {
		return nil, fmt.Errorf("netstat: %s: %w", FormatFreeBSDJSON, ErrNoData)
	}
	r.deriveFrom(xoDefs)
	return r, nil
}

func flattenJSON(r *Reading, prefix string, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flattenJSON(r, p, v[k])
		}
	case json.Number:
		s := v.String()
		if strings.HasPrefix(s, "-") {
			return // a constant such as -1, not a counter
		}
		u, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			r.warnf(true, "%s: %q is not a counter; ignored", prefix, clip(s))
			return
		}
		r.setRaw(prefix, u)
	case string:
		// libxo may quote numbers ("123") in some encoders.
		if u, err := strconv.ParseUint(v, 10, 64); err == nil {
			r.setRaw(prefix, u)
		}
	}
}
