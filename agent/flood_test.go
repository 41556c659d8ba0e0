package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// A garbage flood mixed with valid lines: every valid line is counted,
// memory stays bounded, nothing crashes.
func TestGarbageFlood(t *testing.T) {
	a, _ := start(t, Config{TCP: "127.0.0.1:0", Aggregate: aggregate.Config{MaxSeries: 500}})
	u, err := net.Dial("udp", a.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	r := rand.New(rand.NewPCG(7, 8))
	garbage := func() string {
		switch r.IntN(6) {
		case 0: // random bytes, newlines removed
			b := make([]byte, 1+r.IntN(300))
			for i := range b {
				b[i] = byte(r.IntN(256))
				if b[i] == '\n' {
					b[i] = 'x'
				}
			}
			return string(b)
		case 1: // invalid UTF-8 in names and tags
			return "bad\xff\xfe.name:1|c|#k:\xc3\x28"
		case 2: // huge tag set
			var sb strings.Builder
			sb.WriteString(fmt.Sprintf("huge.%d:1|c|#", r.IntN(1e6)))
			for i := 0; i < 500; i++ {
				fmt.Fprintf(&sb, "t%d:%d,", i, r.IntN(1e6))
			}
			return sb.String()
		case 3:
			return "nan:NaN|c"
		case 4:
			return "_e{999,1}:x|y"
		default: // high cardinality, valid
			return fmt.Sprintf("card.%d:1|c", r.IntN(1e6))
		}
	}
	const datagrams = 1500
	valid := 0
	var lines uint64
	for i := 0; i < datagrams; i++ {
		var parts []string
		for j := 0; j < 5; j++ {
			if j%2 == 0 {
				parts = append(parts, "valid.count:1|c")
				valid++
			} else {
				parts = append(parts, garbage())
			}
		}
		msg := strings.Join(parts, "\n")
		if len(msg) > 60000 {
			msg = msg[:60000]
		}
		lines += uint64(strings.Count(msg, "\n") + 1)
		if _, err := u.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			time.Sleep(time.Millisecond) // stay under the socket buffer
		}
	}
	// An overlong TCP line among valid ones.
	tc, err := net.Dial("tcp", a.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(tc, "valid.count:1|c\n%s\nvalid.count:1|c\n", strings.Repeat("z", 200<<10))
	tc.Close()
	valid += 2
	lines += 3

	deadline := time.Now().Add(20 * time.Second)
	for a.LinesReceived() < lines && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	snap := a.Flush(context.Background(), time.Unix(0, 0))
	var count float64
	for _, s := range snap.Series {
		if s.Name == "valid.count" && s.Type == protocol.Counter {
			count = s.Value
		}
	}
	if count != float64(valid) {
		drops, _ := a.udp.KernelDrops()
		t.Errorf("valid.count = %v, want %d (lines %d of %d, kernel drops %d)", count, valid, a.LinesReceived(), lines, drops)
	}
	if len(snap.Series) > 500 {
		t.Errorf("%d series beyond the budget of 500", len(snap.Series))
	}
	if a.Metrics().Invalid.Load() == 0 {
		t.Error("no invalid lines counted")
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > 256<<20 {
		t.Errorf("heap %d MiB after the flood", ms.HeapAlloc>>20)
	}
}
