package monitis

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
	"time"
)

// TimestampLayout is the format of the POST "timestamp" parameter
// (yyyy-MM-dd HH:mm:ss, always UTC).
const TimestampLayout = "2006-01-02 15:04:05"

// Checksum returns the "checksum" of a POST (spec §3.3): the Base64
// HMAC-SHA1, keyed with the secret key, of every parameter except "checksum"
// sorted byte-wise by name and concatenated as name1value1name2value2...
// Values are the strings handed to the form encoder (before transport
// encoding). A parameter sent more than once contributes each value in order.
func Checksum(secretKey string, params url.Values) string {
	return base64.StdEncoding.EncodeToString(checksumMAC(secretKey, signingString(params)))
}

// signingString builds the string Checksum signs.
func signingString(params url.Values) string {
	names := make([]string, 0, len(params))
	for name := range params {
		if name != "checksum" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		for _, v := range params[name] {
			b.WriteString(name)
			b.WriteString(v)
		}
	}
	return b.String()
}

func checksumMAC(secretKey, s string) []byte {
	m := hmac.New(sha1.New, []byte(secretKey))
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Timestamp formats t as the POST "timestamp" parameter, in UTC.
func Timestamp(t time.Time) string { return t.UTC().Format(TimestampLayout) }

// CheckTime returns t as a "checktime": milliseconds since the Unix epoch.
func CheckTime(t time.Time) int64 { return t.UnixMilli() }
