package netstat

import (
	"fmt"
	"os"
)

// Parse parses data in the given format (one of Formats).
func Parse(format string, data []byte) (*Reading, error) {
	switch format {
	case FormatLinuxProc:
		return ParseLinuxProc(data)
	case FormatLinuxNetTools:
		return ParseNetTools(data)
	case FormatDarwin:
		return ParseDarwin(data)
	case FormatFreeBSD:
		return ParseFreeBSD(data)
	case FormatFreeBSDJSON:
		return ParseFreeBSDJSON(data)
	case FormatBSD:
		return ParseBSD(data)
	case FormatSolaris:
		return ParseSolaris(data)
	}
	return nil, fmt.Errorf("netstat: %w %q (want one of %v)", ErrUnknownFormat, format, Formats)
}

// ParseFile parses a saved capture. For FormatLinuxProc, path may be a
// directory holding any of snmp, netstat and snmp6 (a copy of /proc/net),
// or a single file.
func ParseFile(path, format string) (*Reading, error) {
	if format == FormatLinuxProc {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("netstat: %w", err)
		}
		if fi.IsDir() {
			return ParseProcDir(path)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("netstat: %w", err)
	}
	r, err := Parse(format, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
