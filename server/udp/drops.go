package udp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// kernelDrops sums the "drops" column of the sockets with the given inodes
// in procNet/udp and procNet/udp6.
func kernelDrops(procNet string, inodes []uint64) (uint64, error) {
	var total uint64
	found := 0
	for _, name := range []string{"udp", "udp6"} {
		f, err := os.Open(filepath.Join(procNet, name))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return 0, err
		}
		n, k, err := parseDrops(bufio.NewScanner(f), inodes)
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		total += n
		found += k
	}
	if found == 0 && len(inodes) > 0 {
		return 0, errors.New("udp: our sockets are not listed in /proc/net/udp")
	}
	return total, nil
}

// parseDrops reads a /proc/net/udp table: a header line, then one socket
// per line whose 10th field is the inode and last field the drop count.
func parseDrops(sc *bufio.Scanner, inodes []uint64) (drops uint64, found int, err error) {
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		f := bytes.Fields(sc.Bytes())
		if len(f) < 13 {
			continue
		}
		ino, err := strconv.ParseUint(string(f[9]), 10, 64)
		if err != nil {
			continue
		}
		for _, want := range inodes {
			if ino == want {
				d, err := strconv.ParseUint(string(f[len(f)-1]), 10, 64)
				if err != nil {
					return 0, found, fmt.Errorf("bad drops field %q", f[len(f)-1])
				}
				drops += d
				found++
			}
		}
	}
	return drops, found, sc.Err()
}
