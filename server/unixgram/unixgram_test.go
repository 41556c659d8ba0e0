package unixgram

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/ingest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

func TestStaleSocketAndDelivery(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "statsd.sock")
	// A socket file left by a crashed run.
	old, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Skipf("no stale socket file left on this system: %v", err)
	}
	agg := aggregate.New(aggregate.Config{})
	p := ingest.New(agg, protocol.Options{}, nil, nil)
	s, err := Listen(path, 0, 1, p, nil)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	s.Start()
	c, err := net.Dial("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("u:1|c\nu:2|c")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if snap := agg.Flush(time.Unix(0, 0)); len(snap.Series) != 1 || snap.Series[0].Value != 3 {
		t.Errorf("series %+v, want u = 3", snap.Series)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Error("socket file not removed on shutdown")
	}
}

func TestRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := ingest.New(aggregate.New(aggregate.Config{}), protocol.Options{}, nil, nil)
	if _, err := Listen(path, 0, 1, p, nil); err == nil {
		t.Fatal("a regular file was replaced by a socket")
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Error("the file was changed")
	}
}
