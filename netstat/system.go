package netstat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// DefaultCommandTimeout bounds one run of the netstat command.
const DefaultCommandTimeout = 10 * time.Second

// maxOutput caps the command output read (netstat -s prints a few KiB).
const maxOutput = 4 << 20

// System returns the source for the live system: on Linux the kernel's
// counters under procRoot ("" means "/proc"), falling back to net-tools
// `netstat -s` when /proc/net/snmp cannot be read and procRoot is ""; on
// macOS `netstat -s -p tcp`, `-p udp` and `-p ip`; on FreeBSD and the other
// BSDs the same with their text parser; on Solaris/illumos `netstat -s -P
// tcp`, `-P udp`, `-P ip`.
func System(procRoot string) Source {
	return systemFor(runtime.GOOS, procRoot)
}

func systemFor(goos, procRoot string) Source {
	switch goos {
	case "linux", "android":
		proc := ProcSource{Root: procRoot}
		if procRoot != "" {
			return proc
		}
		return withFallback(proc, &CommandSource{Format: FormatLinuxNetTools, Runs: [][]string{{"-s"}}})
	case "darwin", "ios":
		return &CommandSource{Format: FormatDarwin, Runs: [][]string{{"-s", "-p", "tcp"}, {"-s", "-p", "udp"}, {"-s", "-p", "ip"}}}
	case "freebsd", "dragonfly":
		return &CommandSource{Format: FormatFreeBSD, Runs: [][]string{{"-s", "-p", "tcp"}, {"-s", "-p", "udp"}, {"-s", "-p", "ip"}}}
	case "solaris", "illumos":
		return &CommandSource{Format: FormatSolaris, Runs: [][]string{{"-s", "-P", "tcp"}, {"-s", "-P", "udp"}, {"-s", "-P", "ip"}}}
	default: // netbsd, openbsd, aix
		return &CommandSource{Format: FormatBSD, Runs: [][]string{{"-s", "-p", "tcp"}, {"-s", "-p", "udp"}, {"-s", "-p", "ip"}}}
	}
}

// withFallback reads proc, and fallback when proc's files cannot be read
// (not when their content is bad).
func withFallback(proc ProcSource, fallback Source) Source {
	return SourceFunc(func(ctx context.Context) (*Reading, error) {
		r, err := proc.Read(ctx)
		if err == nil {
			return r, nil
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			return nil, err
		}
		r, ferr := fallback.Read(ctx)
		if ferr != nil {
			return nil, fmt.Errorf("%w (fallback: %w)", err, ferr)
		}
		r.warnf(false, "read `netstat -s` because /proc failed: %v", err)
		return r, nil
	})
}

// CommandSource runs the netstat command once per entry of Runs, joins the
// outputs and parses them in Format. The command runs without a shell,
// with LC_ALL=C (so the wording is the one the parsers know) and a timeout.
// It is safe for concurrent use.
type CommandSource struct {
	// Path is the command; "" means "netstat" looked up in PATH.
	Path string
	// Runs lists the argument lists, e.g. {{"-s", "-p", "tcp"}}.
	Runs [][]string
	// Format is the output format (one of Formats).
	Format string
	// Timeout bounds each run; 0 means DefaultCommandTimeout.
	Timeout time.Duration
}

// Read runs the command(s) and parses the output.
func (c *CommandSource) Read(ctx context.Context) (*Reading, error) {
	path := c.Path
	if path == "" {
		path = "netstat"
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	var all []byte
	for _, args := range c.Runs {
		out, err := runCommand(ctx, timeout, path, args...)
		if err != nil {
			return nil, fmt.Errorf("netstat: %w", err)
		}
		all = append(all, out...)
		if len(all) > 0 && all[len(all)-1] != '\n' {
			all = append(all, '\n')
		}
	}
	return Parse(c.Format, all)
}

// runCommand runs path with args, no shell, LC_ALL=C, and returns stdout.
func runCommand(ctx context.Context, timeout time.Duration, path string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = cEnv(os.Environ())
	cmd.WaitDelay = time.Second
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxOutput, 4096
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	name := filepath.Base(path) + " " + strings.Join(args, " ")
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("%s: timed out after %v", name, timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			return nil, fmt.Errorf("%s: %w: %s", name, err, clip(msg))
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if stdout.truncated {
		return nil, fmt.Errorf("%s: output larger than %d bytes", name, maxOutput)
	}
	return stdout.Bytes(), nil
}

// cEnv returns env with every locale variable replaced by LC_ALL=C.
func cEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "LANGUAGE=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LC_ALL=C")
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max       int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.max - b.Len(); room < len(p) {
		b.truncated = true
		if room < 0 {
			room = 0
		}
		p = p[:room]
	}
	b.Buffer.Write(p)
	return n, nil
}
