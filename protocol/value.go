package protocol

import (
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// pow10 holds the powers of ten that are exact in a float64.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseNumber parses a decimal number [+-]?digits[.digits][(e|E)[+-]digits]
// (digits may be missing on one side of the '.', as in ".5" or "5.", not on
// both). NaN, infinities, hex, spaces and out-of-range values are rejected.
// signed reports a leading '+' or '-' (a gauge delta).
func parseNumber(b []byte) (v float64, signed, ok bool) {
	i := 0
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		signed, neg = true, b[0] == '-'
		i++
	}
	var mant uint64
	nd := 0 // digits seen, integer and fraction part
	start := i
	for ; i < len(b) && isDigit(b[i]); i++ {
		if nd < 19 {
			mant = mant*10 + uint64(b[i]-'0')
		}
		nd++
	}
	nInt := i - start
	nFrac := 0
	if i < len(b) && b[i] == '.' {
		i++
		start = i
		for ; i < len(b) && isDigit(b[i]); i++ {
			if nd < 19 {
				mant = mant*10 + uint64(b[i]-'0')
			}
			nd++
		}
		nFrac = i - start
	}
	if nInt+nFrac == 0 {
		return 0, false, false
	}
	exp := false
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		exp = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start = i
		for i < len(b) && isDigit(b[i]) {
			i++
		}
		if i == start {
			return 0, false, false
		}
	}
	if i != len(b) {
		return 0, false, false
	}
	if !exp && nd <= 15 && nFrac < len(pow10) {
		// Exact: mant < 2^53 and 10^nFrac is exact, so one division rounds
		// correctly (Clinger's fast path), as strconv would.
		v = float64(mant)
		if nFrac > 0 {
			v /= pow10[nFrac]
		}
		if neg {
			v = -v
		}
		return v, signed, true
	}
	v, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false, false
	}
	return v, signed, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseUnix parses a positive decimal Unix time in seconds.
func parseUnix(b []byte) (int64, bool) {
	n, ok := parseUint(b)
	return n, ok && n > 0
}

// parseUint parses a non-negative decimal int64 (digits only).
func parseUint(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// Byte classes for the name sanitiser.
const (
	clsDelete = iota
	clsKeep
	clsSpace
	clsSlash
	clsHigh // a byte >= 0x80: part of a UTF-8 sequence, maybe whitespace
)

var nameClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '-', c == '.', c == ';', c == '=':
			t[c] = clsKeep
		case c == ' ', c >= '\t' && c <= '\r':
			t[c] = clsSpace
		case c == '/':
			t[c] = clsSlash
		case c >= 0x80:
			t[c] = clsHigh
		}
	}
	return t
}()

// sanitize applies the reference server's key sanitiser (stats.js
// sanitizeKeyName) to b in place and returns the new length: every run of
// whitespace (JavaScript's \s, which includes Unicode spaces such as U+00A0)
// becomes '_', every '/' becomes '-', and every other byte outside
// [A-Za-z0-9_.;=-] is deleted, which removes all non-ASCII text.
func sanitize(b []byte) int {
	i := 0
	for i < len(b) && nameClass[b[i]] == clsKeep {
		i++
	}
	w := i
	for i < len(b) {
		c := b[i]
		switch nameClass[c] {
		case clsKeep:
			b[w] = c
			w++
			i++
		case clsSlash:
			b[w] = '-'
			w++
			i++
		case clsDelete:
			i++
		default: // clsSpace, clsHigh
			n := spaceLen(b[i:])
			if n == 0 {
				i++ // not whitespace: a non-ASCII byte, deleted
				continue
			}
			for n > 0 {
				i += n
				n = spaceLen(b[i:])
			}
			b[w] = '_'
			w++
		}
	}
	return w
}

// spaceLen returns the length of the whitespace character b starts with, or
// 0 when b does not start with one. Whitespace is JavaScript's \s.
func spaceLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch c := b[0]; nameClass[c] {
	case clsSpace:
		return 1
	case clsHigh:
		r, n := utf8.DecodeRune(b)
		if isJSSpace(r) {
			return n
		}
	}
	return 0
}

// isJSSpace reports whether r is non-ASCII whitespace for JavaScript's \s:
// U+00A0, U+FEFF, the Zs category and U+2028/U+2029.
func isJSSpace(r rune) bool {
	switch r {
	case 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}
