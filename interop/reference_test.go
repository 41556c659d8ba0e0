package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestReferenceServer checks the expected values themselves: it replays
// each client's golden datagrams into the real reference server and
// compares what its graphite backend emits with the same want lists that
// TestClients holds the agent to (with the reference's own tag handling,
// see wantTagged). It is opt-in, because it needs a statsd/statsd checkout
// and waits for one 10 s flush:
//
//	npm install --prefix /tmp/ref statsd
//	STATSD_REFERENCE=/tmp/ref/node_modules/statsd/stats.js go test -parallel 8 ./interop
//
// (each reference run waits about 11 s; -parallel runs them side by side)
func TestReferenceServer(t *testing.T) {
	t.Parallel()
	statsJS := os.Getenv("STATSD_REFERENCE")
	if statsJS == "" {
		t.Skip("set STATSD_REFERENCE to the reference server's stats.js to run it")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node not installed: %v", err)
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			grams := readGolden(t, filepath.Join("testdata", c.name+".golden"))
			got := runReference(t, node, statsJS, grams)
			want := map[string]map[string]float64{}
			for _, s := range referenceWant(c.want) {
				want[s.Name+"|"+s.Type+"|"+s.Tags] = valueMap(s)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("reference server output differs from the want list (-want +reference):\n%s", diff)
			}
		})
	}
}

// referenceWant rewrites the agent's expectations to the reference's where
// they deliberately differ: tag order and name-embedded tags
// (wantTagged), the DogStatsD types (wantDogStatsDTypes). A bare tag is a
// ";canary" key segment there, the same series.
func referenceWant(ss []series) []series {
	var out []series
	for _, s := range ss {
		if s.Type == "histogram" || s.Type == "distribution" {
			// Counted as a counter (wantDogStatsDTypes): 1+...+10.
			out = append(out, series{s.Name, "counter", "", vals("count", 55, "rate", 5.5)})
			continue
		}
		if s.Tags == "canary" {
			out = append(out, series{s.Name, s.Type, "canary", s.Values})
			continue
		}
		if s.Tags == "" {
			out = append(out, s)
			continue
		}
		one := vals("count", 1, "rate", 0.1)
		two := vals("count", 2, "rate", 0.2)
		switch {
		case strings.HasSuffix(s.Name, "_influx"):
			// The sanitiser deletes the commas of the name tags.
			out = append(out,
				series{s.Name + "env=devregion=eu", s.Type, "", one},
				series{s.Name + "region=euenv=dev", s.Type, "", two})
		default:
			// DogStatsD "|#" tags and Graphite ";k=v" name tags both end
			// up as ";k=v" key segments in received order.
			out = append(out,
				series{s.Name, s.Type, "env=dev;region=eu", one},
				series{s.Name, s.Type, "region=eu;env=dev", two})
		}
	}
	return out
}

func valueMap(s series) map[string]float64 {
	m := map[string]float64{}
	for _, v := range s.Values {
		m[v.Key] = v.Value
	}
	return m
}

func readGolden(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var grams []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		g, err := strconv.Unquote(l)
		if err != nil {
			t.Fatalf("%s: %q: %v", path, l, err)
		}
		grams = append(grams, g)
	}
	return grams
}

// freePort returns a port that was free a moment ago (the reference server
// cannot listen on port 0 and report it).
func freePort(t *testing.T, network string) int {
	t.Helper()
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

// runReference starts the reference server with a graphite backend that
// writes to a local TCP catcher, sends grams, and returns the first
// flush's series (internal statsd.* series left out) keyed
// "name|type|tags", each a map of the reference's key names to values.
func runReference(t *testing.T, node, statsJS string, grams []string) map[string]map[string]float64 {
	t.Helper()
	catcher, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer catcher.Close()
	udpPort := freePort(t, "udp")
	conf := fmt.Sprintf(`{
  address: "127.0.0.1", port: %d,
  mgmt_address: "127.0.0.1", mgmt_port: %d,
  graphiteHost: "127.0.0.1", graphitePort: %d,
  backends: ["./backends/graphite"],
  graphite: { legacyNamespace: false },
  flushInterval: 10000,
  percentThreshold: [90]
}`, udpPort, freePort(t, "tcp"), catcher.Addr().(*net.TCPAddr).Port)
	confPath := filepath.Join(t.TempDir(), "config.js")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, statsJS, confPath)
	cmd.Dir = filepath.Dir(statsJS)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	up := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "server is up") {
				up <- nil
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		up <- fmt.Errorf("reference server exited before it was up: %v", sc.Err())
	}()
	if err := <-up; err != nil {
		t.Fatal(err)
	}

	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitUDP(t, conn)
	for _, g := range grams {
		if _, err := conn.Write([]byte(g)); err != nil {
			t.Fatal(err)
		}
	}

	// The first flush, 10 s after start: one TCP connection of
	// "path value timestamp" lines.
	if err := catcher.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	c, err := catcher.Accept()
	if err != nil {
		t.Fatalf("no flush from the reference server: %v", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return parseGraphite(t, string(out))
}

// waitUDP waits (bounded) until the server's UDP socket is bound: "server
// is up" is logged before the bind completes. It sends empty datagrams,
// which the reference skips (they count only as packets_received), until
// one draws no ICMP port-unreachable (ECONNREFUSED on the connected socket).
func waitUDP(t *testing.T, conn net.Conn) {
	t.Helper()
	buf := make([]byte, 1)
	for range 500 {
		if _, err := conn.Write(nil); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatal(err)
		}
		if err := conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		_, err := conn.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return // no error came back: the port is open
		}
		if err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // refused: not bound yet
	}
	t.Fatal("the reference server's UDP port never opened")
}

// parseGraphite maps the graphite backend's non-legacy paths
// (stats.counters.<key>.<count|rate>, stats.timers.<key>.<stat>,
// stats.gauges.<key>, stats.sets.<key>.count, tags as ";k=v" after the
// path) to series.
func parseGraphite(t *testing.T, out string) map[string]map[string]float64 {
	t.Helper()
	got := map[string]map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("graphite line %q", line)
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Fatalf("graphite line %q: %v", line, err)
		}
		path, tags, _ := strings.Cut(f[0], ";")
		var typ, name, key string
		switch {
		case strings.HasPrefix(path, "stats.counters."):
			typ = "counter"
			name, key = cutLast(strings.TrimPrefix(path, "stats.counters."))
		case strings.HasPrefix(path, "stats.timers."):
			typ = "timer"
			name, key = cutLast(strings.TrimPrefix(path, "stats.timers."))
		case strings.HasPrefix(path, "stats.sets."):
			typ = "set"
			name, key = cutLast(strings.TrimPrefix(path, "stats.sets."))
		case strings.HasPrefix(path, "stats.gauges."):
			typ, name, key = "gauge", strings.TrimPrefix(path, "stats.gauges."), "value"
		default:
			continue // stats.statsd.*: the server's own numbers
		}
		if strings.HasPrefix(name, "statsd.") {
			continue
		}
		id := name + "|" + typ + "|" + tags
		if got[id] == nil {
			got[id] = map[string]float64{}
		}
		got[id][key] = v
	}
	return got
}

func cutLast(s string) (string, string) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// parityLines are lines, from the spec's [run] examples and edge cases of
// the reference algorithm (number formats, sample rates, percentile
// rounding, float summation order, set member strings, the key sanitiser),
// on which the agent promises the reference server's exact output. Lines
// where the agent differs on purpose are left out (specs R2.1-R2.8: empty
// names, hex/Infinity/space-padded values, unknown types, rates outside
// (0,1], packed values, tag order, name-embedded tags, h/d types), and so
// is one difference this suite found, kept on purpose:
//
//   - "r:1|c|@1e-1": the reference reads the rate with /^@([\d.]+)/, i.e.
//     as 1 (count 1); the agent applies 0.1 (count 10), the number written.
//
// A second one, "a,b:1|c", "a#b:1|c", "a[b]:1|c" read as name "a" with a
// bare tag "b", was fixed: without any "k=v" these are plain names and the
// agent now gives the reference's counter "ab" too.
var parityLines = []string{
	"a,b:1|c", "a#b:1|c", "a[b]:1|c",
	"a:1|c\nb:2|c\n", "crlf:1|c\r\n", "fl:1.5|c", "exp:+10e1|c", "neg:-3|c",
	"gorets:1|c", "gorets:1|c|@0.1", "fo/o:250|c|#tag1:val1", "mv:1|c:2|c:3|ms",
	"c14:1E2|c", "c16:+1|c", "c17:-0.5|c", "c18:1|c|@.1", "c21:00001|c", "c22:1e-2|c",
	"c24:1|c|@0.33", "c12:0.1|c\nc12:0.2|c\nc12:0.7|c", "c20:1|c\n\n\nc20:1|c",
	"c19:1|c|@0.1|#a:b", "c9:0|c",
	"gz:0|g", "gz:+5|g", "g3:0|g\ng3:-7|g", "g2:-5|g", "g4:1.5|g", "g4:+0.25|g",
	"g5:10|g|@0.5", "g6:-0|g", "g7:+3|g", "g9:5|g\ng9:-0|g",
	"plus:+1|ms", "t0:0|ms", "t3:1|ms|@0.5", "t3:3|ms|@0.5", "t7:1|ms|@0.1\nt7:2|ms",
	"t:1|ms\nt:2|ms\nt:3|ms\nt:4|ms\nt:5|ms\nt:6|ms\nt:7|ms\nt:8|ms\nt:9|ms\nt:10|ms",
	"glork:320|ms|@0.1", "t8:1e2|ms", "t10:.5|ms", "t11:5.|ms", "t12:1|ms|@1.0", "t13:1e-320|ms",
	"t14:1|ms|@0.3\nt14:2|ms|@0.7", "t15:5|ms\nt15:5|ms\nt15:5|ms",
	"t4:5|ms\nt4:1|ms\nt4:9|ms\nt4:3|ms\nt4:7|ms",
	"t5:0.1|ms\nt5:0.7|ms\nt5:0.2|ms\nt5:0.3|ms\nt5:1.1|ms\nt5:0.05|ms",
	"t9:3|ms\nt9:1|ms\nt9:4|ms\nt9:1|ms\nt9:5|ms\nt9:9|ms\nt9:2|ms\nt9:6|ms\nt9:5|ms\nt9:3|ms\nt9:5|ms\nt9:8|ms\nt9:9|ms\nt9:7|ms\nt9:9|ms",
	"big:1e300|ms\nbig:1e300|ms",
	"uniques:765|s", "uniques:765|s", "uniques:766|s", "s3:1.0|s", "s3:1|s", "s2:1|s|@0.5",
	"s5:a b|s", "s7:a#b|s",
	"a b\tc:1|c", "x/y/z:1|c", "foo+bar@baz!:1|c", "caf\xc3\xa9:1|c", "..d..:1|c", "e=f:1|c", "u_1-2.3:1|c",
}

// TestReferenceLines is opt-in like TestReferenceServer: it sends
// parityLines, one datagram each, to the reference server and to the agent
// and compares the whole flushes.
func TestReferenceLines(t *testing.T) {
	t.Parallel()
	statsJS := os.Getenv("STATSD_REFERENCE")
	if statsJS == "" {
		t.Skip("set STATSD_REFERENCE to the reference server's stats.js to run it")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node not installed: %v", err)
	}
	ref := runReference(t, node, statsJS, parityLines)
	ours := runAgent(t, func(addr net.Addr) {
		conn, err := net.Dial("udp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, g := range parityLines {
			if _, err := conn.Write([]byte(g)); err != nil {
				t.Fatal(err)
			}
		}
	}, countLines(parityLines))
	got := map[string]map[string]float64{}
	for _, s := range ours {
		// The reference writes a tag k:v as a ";k=v" key segment.
		tags := strings.ReplaceAll(strings.ReplaceAll(s.Tags, ":", "="), ",", ";")
		got[s.Name+"|"+s.Type+"|"+tags] = valueMap(s)
	}
	if diff := cmp.Diff(ref, got); diff != "" {
		t.Errorf("flushes differ (-reference +agent):\n%s", diff)
	}
}
