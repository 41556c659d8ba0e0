package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/statsd-agent/statsd-agent/flush/monitis"
	"github.com/statsd-agent/statsd-agent/flush/monitis/monitistest"
	"github.com/statsd-agent/statsd-agent/netstat"
)

const monitisUsage = `usage: statsd-agent monitis [-sandbox] [-v] [-url URL] [-validation checksum|token] COMMAND [ARGS]

Manage Monitis custom monitors (the Go counterpart of the Monitis SDK's
monitis_netstat.py example).

Commands:
  list [-tag T]                 list monitors, one per line: ID<TAB>name
                                (all monitors, or those tagged T)
  create-netstat NAME           create a netstat monitor (tag netstat) with the
                                params tcp_packets_in, tcp_packets_out,
                                udp_packets_in, udp_packets_out (pkts/s)
  update ID [-window 1s]        read the system's TCP/UDP counters twice, -window
                                apart, and post the four per-second rates to ID
  delete ID...                  delete monitors
  results ID [-date YYYY-MM-DD] print a monitor's results of a UTC day (default
                                today): checktime, then name=value per param
  create NAME -param name:Display Name:uom:type ... [-tag T] [-type TYPE]
                                create any custom monitor; type is 1-4 or
                                boolean, integer, string, float
  fake-server [-addr ADDR]      serve an in-memory fake Monitis API (for trying
                                the agent without an account; -v logs requests).
                                It accepts the keys in MONITIS_APIKEY/SECRETKEY,
                                or without them TESTAPIKEY1234567890ABCDEF /
                                TESTSECRETKEY1234567890ABC (made up, from the spec)

Every command accepts the common flags, before or after the command:
  -sandbox     use sandbox.monitis.com and the MONITIS_SANDBOX_* keys
  -v           print every request and response (keys redacted) to stderr
  -url URL     base URL (default http://monitis.com, sandbox
               http://sandbox.monitis.com), e.g. the fake server's
  -validation  POST validation: checksum (default) or token

Keys come from the environment: MONITIS_APIKEY and MONITIS_SECRETKEY
(sandbox: MONITIS_SANDBOX_APIKEY and MONITIS_SANDBOX_SECRETKEY).

Note on update: the SDK example posted the counters' totals since boot under
the unit pkts/s; update posts real per-second rates, measured over -window.

Exit status: 0 on success, 1 when the request fails, 2 on a usage error.
`

// runMonitis runs `statsd-agent monitis ...` and returns the exit code.
// getenv is usually os.Getenv.
func runMonitis(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cli := &monitisCLI{
		stdout:  stdout,
		stderr:  stderr,
		getenv:  getenv,
		netstat: netstat.System(""),
		now:     time.Now,
		sleep:   monitisSleep,
	}
	return cli.run(args)
}

// monitisCLI holds the subcommands' dependencies, so tests can replace
// the netstat source and the clock.
type monitisCLI struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	netstat        netstat.Source
	now            func() time.Time
	sleep          func(context.Context, time.Duration) error

	// common flags
	sandbox    bool
	verbose    bool
	url        string
	validation string
}

// monitisUsageError is a bad command line: exit status 2, with a hint.
type monitisUsageError struct{ msg string }

func (e *monitisUsageError) Error() string { return e.msg }

func monitisUsagef(format string, args ...any) error {
	return &monitisUsageError{fmt.Sprintf(format, args...)}
}

func (c *monitisCLI) run(args []string) int {
	// Common flags before the command.
	fs := c.flagSet("statsd-agent monitis")
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.stderr, monitisUsage)
			return 0
		}
		return c.fail("", monitisUsagef("%v", err))
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return c.fail("", monitisUsagef("missing command"))
	}
	cmd, rest := rest[0], rest[1:]
	var err error
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(c.stdout, monitisUsage)
		return 0
	case "list":
		err = c.list(rest)
	case "create-netstat":
		err = c.createNetstat(rest)
	case "update":
		err = c.update(rest)
	case "delete":
		err = c.delete(rest)
	case "results":
		err = c.results(rest)
	case "create":
		err = c.create(rest)
	case "fake-server":
		err = c.fakeServer(rest)
	default:
		return c.fail("", monitisUsagef("unknown command %q", cmd))
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return c.fail(cmd, err)
}

// fail prints err and returns its exit status.
func (c *monitisCLI) fail(cmd string, err error) int {
	if err == nil {
		return 0
	}
	prefix := "statsd-agent monitis"
	if cmd != "" {
		prefix += " " + cmd
	}
	var ue *monitisUsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "%s: %s\n\tfor help use: statsd-agent monitis help\n", prefix, ue.msg)
		return 2
	}
	fmt.Fprintf(c.stderr, "%s: %s\n", prefix, describeMonitisErr(err))
	return 1
}

// describe turns a client error into a message for a person.
func describeMonitisErr(err error) string {
	var ae *monitis.APIError
	switch {
	case errors.Is(err, monitis.ErrMissingKeys):
		return err.Error()
	case errors.Is(err, monitis.ErrAuth):
		return fmt.Sprintf("authentication failed (check the keys in %s/%s, or the sandbox ones with -sandbox): %v",
			monitis.EnvAPIKey, monitis.EnvSecretKey, err)
	case errors.As(err, &ae):
		return fmt.Sprintf("Monitis refused %s: %s", ae.Action, ae.Message)
	}
	return err.Error()
}

// flagSet returns a FlagSet with the common flags.
func (c *monitisCLI) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	// Func flags, so that a value given before the command survives and
	// the usage shows no misleading default.
	boolFlag := func(p *bool) func(string) error {
		return func(s string) error {
			v, err := strconv.ParseBool(s)
			*p = v
			return err
		}
	}
	fs.BoolFunc("sandbox", "use the Monitis sandbox and the MONITIS_SANDBOX_* keys", boolFlag(&c.sandbox))
	fs.BoolFunc("v", "print requests and responses (keys redacted) to stderr", boolFlag(&c.verbose))
	fs.Func("url", "Monitis base `URL` (default "+monitis.ProductionURL+", sandbox "+monitis.SandboxURL+")", func(s string) error {
		c.url = s
		return nil
	})
	fs.Func("validation", "POST validation: checksum (default) or token", func(s string) error {
		c.validation = s
		return nil
	})
	return fs
}

// parse parses a command's flags, which may come before or after its
// positional arguments, and returns the positional arguments.
func (c *monitisCLI) parse(fs *flag.FlagSet, usage string, args []string) ([]string, error) {
	// The flag package's own messages are suppressed: a parse error is
	// reported once, by fail, with a hint; -h prints the usage.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(c.stderr, "usage: statsd-agent monitis %s\n", usage)
				fs.SetOutput(c.stderr)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, monitisUsagef("%v (usage: statsd-agent monitis %s)", err, usage)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *monitisCLI) client() (*monitis.Client, error) {
	apiKey, secretKey := monitis.KeysFromEnv(c.getenv, c.sandbox)
	if apiKey.IsZero() || secretKey.IsZero() {
		a, s := monitis.EnvAPIKey, monitis.EnvSecretKey
		if c.sandbox {
			a, s = monitis.EnvSandboxAPIKey, monitis.EnvSandboxSecretKey
		}
		return nil, fmt.Errorf("%w: set %s and %s", monitis.ErrMissingKeys, a, s)
	}
	base := c.url
	if base == "" {
		base = monitis.ProductionURL
		if c.sandbox {
			base = monitis.SandboxURL
		}
	}
	cfg := monitis.ClientConfig{BaseURL: base, APIKey: apiKey, SecretKey: secretKey, Validation: monitis.Validation(c.validation)}
	if c.verbose {
		cfg.Trace = c.stderr
	}
	cl, err := monitis.NewClient(cfg)
	if err != nil && !errors.Is(err, monitis.ErrMissingKeys) {
		return nil, &monitisUsageError{err.Error()}
	}
	return cl, err
}

func (c *monitisCLI) ctx() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	return ctx, func() { cancel(); stop() }
}

func monitisParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, monitisUsagef("invalid monitor ID %q: want a positive number (see: statsd-agent monitis list)", s)
	}
	return id, nil
}

func (c *monitisCLI) list(args []string) error {
	fs := c.flagSet("list")
	tag := fs.String("tag", "", "list only monitors with this tag")
	pos, err := c.parse(fs, "list [-tag T]", args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return monitisUsagef("unexpected argument %q", pos[0])
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	ms, err := cl.Monitors(ctx, *tag)
	if err != nil {
		return err
	}
	for _, m := range ms {
		fmt.Fprintf(c.stdout, "%d\t%s\n", m.ID, m.Name)
	}
	return nil
}

func (c *monitisCLI) createNetstat(args []string) error {
	fs := c.flagSet("create-netstat")
	pos, err := c.parse(fs, "create-netstat NAME", args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] == "" {
		return monitisUsagef("want exactly one monitor NAME, got %d arguments", len(pos))
	}
	return c.addMonitor(monitis.NewMonitor{Name: pos[0], Tag: "netstat", ResultParams: monitis.NetstatResultParams()})
}

func (c *monitisCLI) addMonitor(m monitis.NewMonitor) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	id, err := cl.AddMonitor(ctx, m)
	if errors.Is(err, monitis.ErrNameExists) {
		return fmt.Errorf("a monitor named %q already exists (see: statsd-agent monitis list)", m.Name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Created monitor %d: %s\n", id, m.Name)
	return nil
}

// The four netstat values, in the order of the monitor's params.
var monitisNetstatValues = []struct{ param, counter string }{
	{"tcp_packets_in", netstat.TCPSegmentsIn},
	{"tcp_packets_out", netstat.TCPSegmentsOut},
	{"udp_packets_in", netstat.UDPDatagramsIn},
	{"udp_packets_out", netstat.UDPDatagramsOut},
}

func (c *monitisCLI) update(args []string) error {
	fs := c.flagSet("update")
	window := fs.Duration("window", time.Second, "measure the rates over this window")
	pos, err := c.parse(fs, "update ID [-window 1s]", args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return monitisUsagef("want exactly one monitor ID, got %d arguments", len(pos))
	}
	id, err := monitisParseID(pos[0])
	if err != nil {
		return err
	}
	if *window <= 0 {
		return monitisUsagef("-window %v: must be positive", *window)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	first, err := c.readNetstat(ctx)
	if err != nil {
		return err
	}
	t1 := c.now()
	if err := c.sleep(ctx, *window); err != nil {
		return err
	}
	second, err := c.readNetstat(ctx)
	if err != nil {
		return err
	}
	t2 := c.now()
	secs := t2.Sub(t1).Seconds()
	if secs <= 0 {
		return errors.New("the clock did not advance between the two readings")
	}
	values := make([]monitis.ResultValue, 0, len(monitisNetstatValues))
	var shown []string
	for _, v := range monitisNetstatValues {
		a, b := first[v.counter], second[v.counter]
		if b < a {
			return fmt.Errorf("netstat counter %s went backwards (%d -> %d): reset or wrapped; try again", v.counter, a, b)
		}
		rate := strconv.FormatInt(int64(float64(b-a)/secs+0.5), 10)
		values = append(values, monitis.ResultValue{Name: v.param, Value: rate})
		shown = append(shown, v.param+"="+rate)
	}
	if err := cl.AddResult(ctx, id, t2, values); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Posted to monitor %d (pkts/s over %v): %s\n", id, *window, strings.Join(shown, " "))
	return nil
}

// readNetstat returns the four counters the netstat monitor needs.
func (c *monitisCLI) readNetstat(ctx context.Context) (map[string]uint64, error) {
	r, err := netstat.Read(ctx, c.netstat)
	if err != nil {
		return nil, fmt.Errorf("reading the netstat counters: %w", err)
	}
	out := make(map[string]uint64, len(monitisNetstatValues))
	for _, v := range monitisNetstatValues {
		n, ok := r.Counters[v.counter]
		if !ok {
			return nil, fmt.Errorf("reading the netstat counters: this system does not provide %s", v.counter)
		}
		out[v.counter] = n
	}
	return out, nil
}

func (c *monitisCLI) delete(args []string) error {
	fs := c.flagSet("delete")
	pos, err := c.parse(fs, "delete ID...", args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return monitisUsagef("want at least one monitor ID")
	}
	ids := make([]int64, len(pos))
	for i, s := range pos {
		if ids[i], err = monitisParseID(s); err != nil {
			return err
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	if err := cl.DeleteMonitors(ctx, ids...); err != nil {
		return err
	}
	for _, id := range ids {
		fmt.Fprintf(c.stdout, "Monitor %d deleted\n", id)
	}
	return nil
}

func (c *monitisCLI) results(args []string) error {
	fs := c.flagSet("results")
	date := fs.String("date", "", "UTC day YYYY-MM-DD (default today)")
	pos, err := c.parse(fs, "results ID [-date YYYY-MM-DD]", args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return monitisUsagef("want exactly one monitor ID, got %d arguments", len(pos))
	}
	id, err := monitisParseID(pos[0])
	if err != nil {
		return err
	}
	day := c.now().UTC()
	if *date != "" {
		if day, err = time.Parse("2006-01-02", *date); err != nil {
			return monitisUsagef("-date %q: want YYYY-MM-DD", *date)
		}
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx()
	defer cancel()
	rs, err := cl.MonitorResults(ctx, id, day)
	if err != nil {
		return err
	}
	for _, r := range rs {
		names := make([]string, 0, len(r.Values))
		for k := range r.Values {
			names = append(names, k)
		}
		sort.Strings(names)
		var b strings.Builder
		b.WriteString(r.CheckTime.UTC().Format(time.RFC3339))
		for _, k := range names {
			fmt.Fprintf(&b, "\t%s=%s", k, r.Values[k])
		}
		fmt.Fprintln(c.stdout, b.String())
	}
	return nil
}

// monitisParamList collects repeated -param flags.
type monitisParamList []monitis.ResultParam

func (p *monitisParamList) String() string { return fmt.Sprint(len(*p), " params") }

// Set parses name:Display Name:uom:type.
func (p *monitisParamList) Set(s string) error {
	f := strings.Split(s, ":")
	if len(f) != 4 {
		return fmt.Errorf("%q: want name:Display Name:uom:type (4 fields separated by ':')", s)
	}
	if f[0] == "" {
		return fmt.Errorf("%q: empty param name", s)
	}
	var dt monitis.DataType
	switch strings.ToLower(f[3]) {
	case "1", "boolean":
		dt = monitis.Boolean
	case "2", "integer":
		dt = monitis.Integer
	case "3", "string":
		dt = monitis.String
	case "4", "float":
		dt = monitis.Float
	default:
		return fmt.Errorf("%q: type %q: want 1-4 or boolean, integer, string, float", s, f[3])
	}
	for _, have := range *p {
		if have.Name == f[0] {
			return fmt.Errorf("%q: param %q given twice", s, f[0])
		}
	}
	*p = append(*p, monitis.ResultParam{Name: f[0], DisplayName: f[1], UOM: f[2], DataType: dt})
	return nil
}

func (c *monitisCLI) create(args []string) error {
	fs := c.flagSet("create")
	var params monitisParamList
	fs.Var(&params, "param", "a result param name:Display Name:uom:type (repeatable, at least one)")
	tag := fs.String("tag", "custom", "the monitor's tag")
	typ := fs.String("type", "", "the monitor's type (optional, free text)")
	usage := "create NAME -param name:Display Name:uom:type ... [-tag T] [-type TYPE]"
	pos, err := c.parse(fs, usage, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] == "" {
		return monitisUsagef("want exactly one monitor NAME, got %d arguments", len(pos))
	}
	if len(params) == 0 {
		return monitisUsagef("want at least one -param name:Display Name:uom:type")
	}
	if *tag == "" {
		return monitisUsagef("-tag must not be empty")
	}
	return c.addMonitor(monitis.NewMonitor{Name: pos[0], Tag: *tag, Type: *typ, ResultParams: params})
}

func (c *monitisCLI) fakeServer(args []string) error {
	fs := c.flagSet("fake-server")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	pos, err := c.parse(fs, "fake-server [-addr ADDR]", args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return monitisUsagef("unexpected argument %q", pos[0])
	}
	opts := monitistest.Options{}
	if c.verbose {
		opts.Logger = slog.New(slog.NewTextHandler(c.stderr, nil))
	}
	if k, s := monitis.KeysFromEnv(c.getenv, c.sandbox); !k.IsZero() && !s.IsZero() {
		opts.Accounts = map[string]string{k.Reveal(): s.Reveal()}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return monitistest.Run(ctx, *addr, opts, func(a net.Addr) {
		fmt.Fprintf(c.stderr, "fake Monitis API on http://%s (Ctrl-C to stop); use -url http://%s\n", a, a)
	})
}

func monitisSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
