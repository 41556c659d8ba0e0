package netuitive

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The queue file keeps undelivered posts across a restart: Close writes
// what it could not deliver, New reads it back (and removes it, so a post
// is never loaded twice). One JSON object per line:
//
//	{"kind":"ingest","items":8,"body":[{"id":"web-01",...}]}
//
// The bodies carry their original timestamps; the API key is not in them
// (it is only ever part of a URL).
type savedPost struct {
	Kind  string          `json:"kind"`
	Items int             `json:"items"`
	Body  json.RawMessage `json:"body"`
}

// maxSavedLine bounds one line of the queue file (a post of up to about
// 3.5 MB by default; larger posts are kept up to this size).
const maxSavedLine = 64 << 20

// writeQueue writes posts to path atomically (temporary file and rename).
func writeQueue(path string, queue []queued) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename this fails harmlessly
	w := bufio.NewWriter(f)
	for _, q := range queue {
		line, err := json.Marshal(savedPost{Kind: q.kind.String(), Items: q.items, Body: q.body})
		if err != nil {
			f.Close()
			return err
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// readQueue parses a queue file. A line that is not a valid saved post is
// skipped and counted in bad; err is an I/O error.
func readQueue(r io.Reader) (posts []post, bad int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxSavedLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		p, ok := parseSaved(line)
		if !ok {
			bad++
			continue
		}
		posts = append(posts, p)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return posts, bad + 1, nil
		}
		return posts, bad, err
	}
	return posts, bad, nil
}

// parseSaved checks one line: a known kind, a positive item count and a
// body that is a JSON array.
func parseSaved(line []byte) (post, bool) {
	var s savedPost
	if json.Unmarshal(line, &s) != nil || s.Items <= 0 {
		return post{}, false
	}
	var k kind
	switch s.Kind {
	case "ingest":
		k = kindIngest
	case "events":
		k = kindEvents
	default:
		return post{}, false
	}
	body := bytes.TrimSpace(s.Body)
	if len(body) < 2 || body[0] != '[' || !json.Valid(body) {
		return post{}, false
	}
	var compact bytes.Buffer
	if json.Compact(&compact, body) != nil {
		return post{}, false
	}
	return post{kind: k, body: compact.Bytes(), items: s.Items}, true
}

// loadQueue reads and removes the queue file, if any, and queues its posts
// (within QueueLimit, oldest dropped first).
func (b *Backend) loadQueue() error {
	path := b.cfg.QueueFile
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netuitive: queue file: %w", err)
	}
	posts, bad, err := readQueue(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("netuitive: queue file %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("netuitive: queue file: %w", err)
	}
	if bad > 0 {
		b.log.Error("netuitive: skipped unreadable lines of the queue file", "file", path, "lines", bad)
	}
	dropped := b.enqueue(posts)
	if len(posts) > 0 {
		b.log.Info("netuitive: loaded undelivered posts from the last run", "file", path,
			"samples", b.queuedItems[kindIngest], "events", b.queuedItems[kindEvents],
			"dropped_samples", dropped[kindIngest], "dropped_events", dropped[kindEvents])
	}
	return nil
}
