package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// frameHeader is the size of a record's frame header: 4 bytes of payload
// length, then 4 bytes of CRC-32C, both little-endian.
const frameHeader = 8

// MaxRecordBytes is the largest payload a segment reader accepts; a longer
// length field is taken for corruption. Push refuses records larger than
// the segment size, which is at most this.
const MaxRecordBytes = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn means a segment ends in an incomplete or corrupt record.
var errTorn = errors.New("torn or corrupt record")

// checksum is the CRC-32C of the length field followed by the payload.
// Covering the length makes an all-zero region (a file extended but never
// written, after a power loss) invalid.
func checksum(lenField []byte, payload []byte) uint32 {
	c := crc32.Update(0, castagnoli, lenField)
	return crc32.Update(c, castagnoli, payload)
}

// appendFrame appends rec framed as [length][crc32c][payload] to dst.
func appendFrame(dst, rec []byte) []byte {
	var h [frameHeader]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(h[4:8], checksum(h[0:4], rec))
	return append(append(dst, h[:]...), rec...)
}

// readFrame reads one record from r into buf (grown as needed) and returns
// the payload. left is how many bytes r holds at most: a length field
// beyond it is corruption, found without allocating. It returns io.EOF at
// a clean end, and an error wrapping errTorn for a partial or invalid
// record; other errors are the reader's.
func readFrame(r *bufio.Reader, buf []byte, left int64) ([]byte, error) {
	var h [frameHeader]byte
	n, err := io.ReadFull(r, h[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("%w: %d-byte header cut short", errTorn, n)
	}
	if err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint32(h[0:4])
	if size == 0 || size > MaxRecordBytes {
		return nil, fmt.Errorf("%w: bad length %d", errTorn, size)
	}
	if int64(size) > left-frameHeader {
		return nil, fmt.Errorf("%w: %d-byte payload cut short", errTorn, size)
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: %d-byte payload cut short", errTorn, size)
		}
		return nil, err
	}
	if got, want := checksum(h[0:4], buf), binary.LittleEndian.Uint32(h[4:8]); got != want {
		return nil, fmt.Errorf("%w: checksum mismatch", errTorn)
	}
	return buf, nil
}

// scanSegment reads the records of one segment of size bytes from r in
// order, calling fn
// (when not nil) with each payload (valid only during the call). It returns
// the number of bytes holding valid records and their count. A torn or
// corrupt record ends the scan: err wraps errTorn and valid is the offset
// where it starts, so everything before it is kept. Memory use is bounded
// by the largest record, not the segment's size.
func scanSegment(r io.Reader, size int64, fn func(rec []byte)) (valid int64, recs int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for {
		rec, err := readFrame(br, buf, size-valid)
		if err == io.EOF {
			return valid, recs, nil
		}
		if err != nil {
			return valid, recs, err
		}
		buf = rec[:0]
		if fn != nil {
			fn(rec)
		}
		valid += int64(frameHeader + len(rec))
		recs++
	}
}
