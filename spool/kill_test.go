package spool

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A real kill -9 at a random moment while a child process pushes and
// acknowledges: the next Open holds exactly the records pushed and not
// acknowledged, consecutive, with at most the one operation in flight at
// the kill done or not.
func TestKill9AnyMoment(t *testing.T) {
	if os.Getenv("SPOOL_KILL_CHILD") != "" {
		t.Skip("in the child")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	for round := range 3 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
		cmd.Env = append(os.Environ(), "SPOOL_KILL_CHILD="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of reported operations.
		killAfter := 50 + rng.IntN(500)
		sc := bufio.NewScanner(out)
		pushed, acked, lines := 0, 0, 0
		deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		killed := false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			n, _ := strconv.Atoi(f[1])
			switch f[0] {
			case "P":
				pushed = n
			case "A":
				acked = n
			}
			if lines++; lines == killAfter && !killed {
				cmd.Process.Signal(os.Kill) // SIGKILL
				killed = true
			}
		}
		deadline.Stop()
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child ended after %d lines", round, lines)
		}
		q, err := Open(dir, Options{MaxBytes: 1 << 20, SegmentBytes: 2000})
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, r := range drain(t, q, 50) {
			i, err := strconv.Atoi(strings.SplitN(string(r), "|", 2)[0][len("record-"):])
			if err != nil {
				t.Fatalf("record %q", r)
			}
			got = append(got, i)
		}
		st := q.Stats()
		q.Close()
		first, end := acked, acked
		if len(got) > 0 {
			first, end = got[0], got[len(got)-1]+1
		}
		for k, i := range got {
			if i != first+k {
				t.Fatalf("round %d (seed %d): records not consecutive at %d: %v", round, seed, k, got)
			}
		}
		if first < acked || first > acked+1 || end < pushed || end > pushed+1 {
			t.Errorf("round %d (seed %d): reopened with records [%d, %d); the child reported %d pushed, %d acknowledged",
				round, seed, first, end, pushed, acked)
		}
		t.Logf("round %d: killed after %d pushes, %d acks; reopened with %d records, %d corrupt bytes", round, pushed, acked, len(got), st.CorruptBytes)
	}
}

// TestKillChild pushes and acknowledges until killed, reporting each
// operation once it returned.
func TestKillChild(t *testing.T) {
	dir := os.Getenv("SPOOL_KILL_CHILD")
	if dir == "" {
		t.Skip("run by TestKill9AnyMoment")
	}
	q, err := Open(dir, Options{MaxBytes: 1 << 20, SegmentBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 3))
	pushed, acked := 0, 0
	for range 1 << 22 {
		if rng.IntN(3) == 0 && acked < pushed {
			if err := q.Ack(1); err != nil {
				t.Fatal(err)
			}
			acked++
			fmt.Printf("A %d\n", acked)
			continue
		}
		if err := q.Push(rec(pushed, 14+rng.IntN(200))); err != nil {
			t.Fatal(err)
		}
		pushed++
		fmt.Printf("P %d\n", pushed)
	}
	t.Fatal("not killed")
}

// Opening a large spool reads it streaming: what Open allocates does not
// grow with the spool (16 MiB here).
func TestOpenMemory(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, Options{MaxBytes: 64 << 20, SegmentBytes: 4 << 20})
	r := make([]byte, 4000)
	for i := range r {
		r[i] = byte(i)
	}
	for range 4000 {
		if err := q.Push(r); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	q2, err := Open(dir, Options{MaxBytes: 64 << 20, SegmentBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	defer q2.Close()
	if q2.Len() != 4000 {
		t.Fatalf("Len %d", q2.Len())
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("Open of a %d-byte spool allocated %d bytes", q2.Bytes(), alloc)
	}
}
