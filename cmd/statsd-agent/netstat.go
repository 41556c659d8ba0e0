package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/statsd-agent/statsd-agent/netstat"
)

const netstatUsage = `usage: statsd-agent netstat [flags]
       statsd-agent netstat -file PATH -format FORMAT [flags]

Print the system's TCP/UDP/IP counters once, by the names the -netstat input
sends (see netstat/README.md), as a table or, with -json, as JSON.

Without -file it reads the live system: /proc on Linux, "netstat -s"
elsewhere. With -file it parses a saved capture; FORMAT is one of
` + "  linux-proc, linux-nettools, darwin, freebsd, freebsd-json, bsd, solaris" + `
(for linux-proc, PATH may be a directory holding snmp, netstat and snmp6).

Flags:
`

// runNetstat runs `statsd-agent netstat ...` and returns the exit code: 0 on
// success (also for a partial reading, whose warnings go to stderr), 1 when
// the counters cannot be read, 2 on a usage error.
func runNetstat(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("statsd-agent netstat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, netstatUsage)
		fs.PrintDefaults()
	}
	var (
		file     = fs.String("file", "", "parse this saved capture instead of the live system")
		format   = fs.String("format", "", "format of -file: "+strings.Join(netstat.Formats, ", "))
		asJSON   = fs.Bool("json", false, "print JSON (counters, gauges, raw source fields, warnings)")
		raw      = fs.Bool("raw", false, "also print every raw source field in the table")
		procRoot = fs.String("proc-root", "", `procfs root on Linux ("" = /proc)`)
		timeout  = fs.Duration("timeout", netstat.DefaultCommandTimeout, "time limit for reading the live system")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2 // the flag package printed the error and the usage
	}
	if fs.NArg() > 0 {
		return netstatUsageError(stderr, "unexpected argument %q", fs.Arg(0))
	}
	if *file == "" && *format != "" {
		return netstatUsageError(stderr, "-format needs -file (the live system's format is known)")
	}
	if *file != "" {
		if *format == "" {
			return netstatUsageError(stderr, "-file needs -format (one of %s)", strings.Join(netstat.Formats, ", "))
		}
		if !validFormat(*format) {
			return netstatUsageError(stderr, "unknown -format %q (want one of %s)", *format, strings.Join(netstat.Formats, ", "))
		}
		if *procRoot != "" {
			return netstatUsageError(stderr, "-proc-root is for the live system, not with -file")
		}
	}
	if *timeout <= 0 {
		return netstatUsageError(stderr, "-timeout must be positive")
	}

	var (
		r   *netstat.Reading
		err error
	)
	if *file != "" {
		r, err = netstat.ParseFile(*file, *format)
	} else {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		r, err = netstat.Read(ctx, netstat.System(*procRoot))
	}
	if err != nil {
		fmt.Fprintf(stderr, "statsd-agent netstat: %v\n", err)
		return 1
	}
	if *asJSON {
		err = writeNetstatJSON(stdout, r)
	} else {
		err = writeNetstatTable(stdout, r, *raw)
	}
	if err != nil {
		fmt.Fprintf(stderr, "statsd-agent netstat: %v\n", err)
		return 1
	}
	if r.Partial {
		fmt.Fprintln(stderr, "statsd-agent netstat: PARTIAL reading: part of the input was truncated or malformed and was dropped; the values shown are what could be read")
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(stderr, "statsd-agent netstat: warning: %s\n", w)
	}
	return 0
}

func validFormat(f string) bool {
	for _, v := range netstat.Formats {
		if v == f {
			return true
		}
	}
	return false
}

func netstatUsageError(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "statsd-agent netstat: %s\nRun \"statsd-agent netstat -h\" for usage.\n", fmt.Sprintf(format, args...))
	return 2
}

// writeNetstatTable prints one line per documented name: name, kind, value.
func writeNetstatTable(w io.Writer, r *netstat.Reading, raw bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "# source: %s, %d-bit counters", r.Format, r.Width)
	if r.Partial {
		fmt.Fprint(tw, ", PARTIAL")
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "NAME\tKIND\tVALUE")
	for _, n := range r.Names() {
		if v, ok := r.Counters[n]; ok {
			fmt.Fprintf(tw, "%s\tcounter\t%d\n", n, v)
		} else {
			fmt.Fprintf(tw, "%s\tgauge\t%g\n", n, r.Gauges[n])
		}
	}
	if raw {
		keys := make([]string, 0, len(r.Raw))
		for k := range r.Raw {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "RAW FIELD\t\tVALUE")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t\t%d\n", k, r.Raw[k])
		}
	}
	return tw.Flush()
}

// netstatJSON is the -json document.
type netstatJSON struct {
	Format   string             `json:"format"`
	Width    int                `json:"width"`
	Partial  bool               `json:"partial"`
	Counters map[string]uint64  `json:"counters"`
	Gauges   map[string]float64 `json:"gauges"`
	Raw      map[string]uint64  `json:"raw"`
	Warnings []string           `json:"warnings"`
}

func writeNetstatJSON(w io.Writer, r *netstat.Reading) error {
	doc := netstatJSON{
		Format:   r.Format,
		Width:    r.Width,
		Partial:  r.Partial,
		Counters: r.Counters,
		Gauges:   r.Gauges,
		Raw:      r.Raw,
		Warnings: r.Warnings,
	}
	if doc.Warnings == nil {
		doc.Warnings = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
