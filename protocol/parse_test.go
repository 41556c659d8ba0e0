package protocol

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ws is a wanted sample, built with chained setters to keep table rows on
// one line.
type ws Sample

func smp(name string, t Type, v float64) ws {
	return ws{Name: []byte(name), Type: t, Value: v, SampleRate: 1}
}
func set(name, member string) ws {
	return ws{Name: []byte(name), Type: Set, SetMember: []byte(member), SampleRate: 1}
}
func (w ws) tags(t string) ws      { w.Tags = []byte(t); return w }
func (w ws) rate(r float64) ws     { w.SampleRate = r; return w }
func (w ws) delta() ws             { w.Delta = true; return w }
func (w ws) ts(t int64) ws         { w.Timestamp = t; return w }
func (w ws) container(c string) ws { w.ContainerID = []byte(c); return w }
func samples(s ...ws) []Sample {
	out := make([]Sample, len(s))
	for i := range s {
		out[i] = Sample(s[i])
	}
	return out
}

var cmpOpts = cmp.Options{cmpopts.EquateEmpty()}

type parseCase struct {
	in   string
	want []Sample
	err  error
}

// Every parser-relevant example of specs/statsd-protocol.md, with our
// behaviour where it differs from the reference server. The comment names
// the spec rule.
var specCases = []parseCase{
	{"crlf:1|c\r", samples(smp("crlf", Counter, 1)), nil},                                                                                       // R1.2
	{"x:1|c", samples(smp("x", Counter, 1)), nil},                                                                                               // R1.5
	{"café:1|c", samples(smp("caf", Counter, 1)), nil},                                                                                          // R1.6
	{"notype:1", nil, ErrNoType},                                                                                                                // R2.1
	{":1|c", nil, ErrEmptyName},                                                                                                                 // R2.1 ours
	{"fl:1.5|c", samples(smp("fl", Counter, 1.5)), nil},                                                                                         // R2.2
	{"exp:+10e1|c", samples(smp("exp", Counter, 100)), nil},                                                                                     // R2.2
	{"hex:0x10|c", nil, ErrInvalidValue},                                                                                                        // R2.2 ours
	{"inf:Infinity|c", nil, ErrInvalidValue},                                                                                                    // R2.2 ours
	{"sp: 5 |c", nil, ErrInvalidValue},                                                                                                          // R2.2 ours: no spaces
	{"foo:abc|c", nil, ErrInvalidValue},                                                                                                         // R2.2
	{"hh:5|h", samples(smp("hh", Histogram, 5)), nil},                                                                                           // R2.3 ours
	{"dist:7|d", samples(smp("dist", Distribution, 7)), nil},                                                                                    // R2.3 ours
	{"zz:4|zz", nil, ErrUnknownType},                                                                                                            // R2.3 ours
	{"gorets:1|c|@0.1", samples(smp("gorets", Counter, 1).rate(0.1)), nil},                                                                      // R2.4
	{"sr:10|c|@2", nil, ErrInvalidRate},                                                                                                         // R2.4 ours
	{"zero:1|c|@0", nil, ErrInvalidRate},                                                                                                        // R2.4 ours
	{"nosr:1|c|0.5", nil, ErrInvalidRate},                                                                                                       // R2.4
	{"badsr:1|c|@x", nil, ErrInvalidRate},                                                                                                       // R2.4
	{"dd4:1|c|#a:b|@0.5", samples(smp("dd4", Counter, 1).rate(0.5).tags("a:b")), nil},                                                           // R2.4 ours
	{"glork:320|ms|@0.1", samples(smp("glork", Timer, 320).rate(0.1)), nil},                                                                     // R2.5
	{"fo/o:250|c|#tag1:val1", samples(smp("fo-o", Counter, 250).tags("tag1:val1")), nil},                                                        // R2.6
	{"tord:1|c|#b:2,a:1", samples(smp("tord", Counter, 1).tags("a:1,b:2")), nil},                                                                // R2.6 ours
	{"tord:1|c|#a:1,b:2", samples(smp("tord", Counter, 1).tags("a:1,b:2")), nil},                                                                // R2.6 ours
	{"dd2:1|c|T1656581400", samples(smp("dd2", Counter, 1).ts(1656581400)), nil},                                                                // R2.7 ours
	{"dd1:1|c|#t:v|c:abc123", samples(smp("dd1", Counter, 1).tags("t:v").container("abc123")), nil},                                             // R2.7 ours
	{"ne:1|c|#a:b|e:it-false,cn-x", samples(smp("ne", Counter, 1).tags("a:b")), nil},                                                            // R2.7 ours
	{"nc:1|c|c:abc", samples(smp("nc", Counter, 1).container("abc")), nil},                                                                      // R2.7 ours
	{"card:1|c|card:low", samples(smp("card", Counter, 1)), nil},                                                                                // R2.7 ours
	{"page.views:15|c|#env:dev|T1656581400", samples(smp("page.views", Counter, 15).tags("env:dev").ts(1656581400)), nil},                       // R2.7, R9.1
	{"mv:1|c:2|c:3|ms", samples(smp("mv", Counter, 1), smp("mv", Counter, 2), smp("mv", Timer, 3)), nil},                                        // R2.8 legacy
	{"dd:1:2:3|ms", samples(smp("dd", Timer, 1), smp("dd", Timer, 2), smp("dd", Timer, 3)), nil},                                                // R2.8 ours
	{"load.time:320|ms:200|ms|@0.1", samples(smp("load.time", Timer, 320), smp("load.time", Timer, 200).rate(0.1)), nil},                        // R2.8
	{"my_counter:1|c|c:0123abcd", samples(smp("my_counter", Counter, 1).container("0123abcd")), nil},                                            // R2.8
	{"gr;env=prod;dc=x:1|c", samples(smp("gr", Counter, 1).tags("dc:x,env:prod")), nil},                                                         // R2.9 ours
	{"users.current,service=payroll,region=us-west:32|g", samples(smp("users.current", Gauge, 32).tags("region:us-west,service:payroll")), nil}, // R2.9
	{"neg:-3|c", samples(smp("neg", Counter, -3)), nil},                                                                                         // R3.1
	{"gaugor:333|g", samples(smp("gaugor", Gauge, 333)), nil},                                                                                   // R3.3
	{"g1:-10|g", samples(smp("g1", Gauge, -10).delta()), nil},                                                                                   // R3.4
	{"g1:+4|g", samples(smp("g1", Gauge, 4).delta()), nil},                                                                                      // R3.4
	{"gz:0|g", samples(smp("gz", Gauge, 0)), nil},                                                                                               // R3.4
	{"gz:+5|g", samples(smp("gz", Gauge, 5).delta()), nil},                                                                                      // R3.4
	{"g2:-5|g", samples(smp("g2", Gauge, -5).delta()), nil},                                                                                     // R3.5
	{"tneg:-1|ms", nil, ErrNegativeTimer},                                                                                                       // R3.6
	{"plus:+1|ms", samples(smp("plus", Timer, 1)), nil},                                                                                         // R3.6
	{"t:1|ms", samples(smp("t", Timer, 1)), nil},                                                                                                // R3.7
	{"render.f:0.05|ms", samples(smp("render.f", Timer, 0.05)), nil},                                                                            // R3.9
	{"resp.size:1500|h", samples(smp("resp.size", Histogram, 1500)), nil},                                                                       // R3.11
	{"page.views:1:2:32|d", samples(smp("page.views", Distribution, 1), smp("page.views", Distribution, 2), smp("page.views", Distribution, 32)), nil}, // R3.12
	{"uniques:765|s", samples(set("uniques", "765")), nil},                                                                              // R3.13
	{"se:|s", samples(set("se", "0")), nil},                                                                                             // R3.13
	{"mysql.queries:1381|kv", nil, ErrUnknownType},                                                                                      // 3.7 ours
	{"requests:1000|C", nil, ErrUnknownType},                                                                                            // 3.7 ours
	{"a b\tc:1|c", samples(smp("a_b_c", Counter, 1)), nil},                                                                              // R6.1
	{"x/y/z:1|c", samples(smp("x-y-z", Counter, 1)), nil},                                                                               // R6.1
	{"foo+bar@baz!:1|c", samples(smp("foobarbaz", Counter, 1)), nil},                                                                    // R6.1
	{"b ar;tag1=val1;tag2=val2:250|c", samples(smp("b_ar", Counter, 250).tags("tag1:val1,tag2:val2")), nil},                             // R6.1 ours
	{"multitag:1|c|#a:b:c,novalue", samples(smp("multitag", Counter, 1).tags("a:b:c,novalue")), nil},                                    // R6.2 ours
	{"foo+bar:250|c|#tag1:val;1,tag3:val3,tag2:val2", samples(smp("foobar", Counter, 250).tags("tag1:val;1,tag2:val2,tag3:val3")), nil}, // R6.2 ours
	{"a  b/c;env=x:1|c", samples(smp("a_b-c", Counter, 1).tags("env:x")), nil},                                                          // R6.3 ours
	{"req.time:5|ms|#b:2,a:1", samples(smp("req.time", Timer, 5).tags("a:1,b:2")), nil},                                                 // R6.4
	{"req.time:7|ms|#a:1,b:2", samples(smp("req.time", Timer, 7).tags("a:1,b:2")), nil},                                                 // R6.4
	{"a_bad_test_value|z", nil, ErrNoValue},                                                                                             // R7.1
	{"empty1:|c", nil, ErrNoValue},                                                                                                      // R7.1
	{"good:1|c", samples(smp("good", Counter, 1)), nil},                                                                                 // R7.2
	{"bad:x|c", nil, ErrInvalidValue},                                                                                                   // R7.2
	{"_e{5,3}:hello|ab", nil, ErrInvalidEvent},                                                                                          // R8.1
	{"gorets:1|c", samples(smp("gorets", Counter, 1)), nil},                                                                             // R3.2
	{"g1:333|g", samples(smp("g1", Gauge, 333)), nil},                                                                                   // R3.4
	{"render.x:500|ms", samples(smp("render.x", Timer, 500)), nil},                                                                      // R3.9
	{"foo.t:50|ms", samples(smp("foo.t", Timer, 50)), nil},                                                                              // R3.9
	{"t:5|ms", samples(smp("t", Timer, 5)), nil},                                                                                        // R3.10
	{"uniques:766|s", samples(set("uniques", "766")), nil},                                                                              // R3.13
	{"requests:1250|C", nil, ErrUnknownType},                                                                                            // 3.7 ours
	{"a:2|c", samples(smp("a", Counter, 2)), nil},                                                                                       // R4.3
	{"c1:1|c", samples(smp("c1", Counter, 1)), nil},                                                                                     // R5.3
	{"x:5|c", samples(smp("x", Counter, 5)), nil},                                                                                       // R12.3
}

// More cases: dialect corners and the decisions documented in the code.
var moreCases = []parseCase{
	{"", nil, nil},
	{"\r", nil, nil},
	{"a:.5|c", samples(smp("a", Counter, 0.5)), nil},
	{"a:5.|c", samples(smp("a", Counter, 5)), nil},
	{"a:1E3|c", samples(smp("a", Counter, 1000)), nil},
	{"a:1e-3|ms", samples(smp("a", Timer, 0.001)), nil},
	{"a:12345678901234567890|c", samples(smp("a", Counter, 12345678901234567890)), nil},
	{"a:0.1234567890123456789|c", samples(smp("a", Counter, 0.1234567890123456789)), nil},
	{"a:1e400|c", nil, ErrInvalidValue},
	{"a:NaN|c", nil, ErrInvalidValue},
	{"a:-|c", nil, ErrInvalidValue},
	{"a:.|c", nil, ErrInvalidValue},
	{"a:1e|c", nil, ErrInvalidValue},
	{"a:1_000|c", nil, ErrInvalidValue},
	{"a:-0|ms", samples(smp("a", Timer, 0)), nil},
	{"a:-2|h", samples(smp("a", Histogram, -2)), nil},
	{"a:-2|d", samples(smp("a", Distribution, -2)), nil},
	{"a:1|", nil, ErrNoType},
	{"a:1|m", nil, ErrUnknownType},
	{"a:1|c|", samples(smp("a", Counter, 1)), nil},
	{"a:1|c||@0.5", samples(smp("a", Counter, 1).rate(0.5)), nil},
	{"a:1|c|@1", samples(smp("a", Counter, 1)), nil},
	{"a:1|c|@1.5", nil, ErrInvalidRate},
	{"a:1|c|@-0.5", nil, ErrInvalidRate},
	{"a:1|c|@", nil, ErrInvalidRate},
	{"a:1|c|@NaN", nil, ErrInvalidRate},
	{"a:1|c|#x|@0.25|T12|c:id", samples(smp("a", Counter, 1).rate(0.25).tags("x").ts(12).container("id")), nil},
	{"a:1|g|@0.5", samples(smp("a", Gauge, 1).rate(0.5)), nil},
	{"a:1|c|T", nil, ErrInvalidTimestamp},
	{"a:1|c|T0", nil, ErrInvalidTimestamp},
	{"a:1|c|T-5", nil, ErrInvalidTimestamp},
	{"a:1|c|Tabc", nil, ErrInvalidTimestamp},
	{"a:1|c|T99999999999999999999", nil, ErrInvalidTimestamp},
	{"a:1|c|x", nil, ErrUnknownField},
	{"a:1|c|!", nil, ErrUnknownField},
	{"a:1|c|future-field:v", samples(smp("a", Counter, 1)), nil},
	{"a:1|c|#", samples(smp("a", Counter, 1)), nil},
	{"a:1|c|#b,,a,", samples(smp("a", Counter, 1).tags("a,b")), nil},
	{"a:1|c|#:v", nil, ErrInvalidTags},
	{"a:1|c|#k:", samples(smp("a", Counter, 1).tags("k:")), nil},
	{"a:1|c|#k=v", samples(smp("a", Counter, 1).tags("k=v")), nil},
	{"a:1|c|#env:b,env:a,env", samples(smp("a", Counter, 1).tags("env,env:a,env:b")), nil},
	{"a:1|c|#url:http://x/y?z=1", samples(smp("a", Counter, 1).tags("url:http://x/y?z=1")), nil},
	{"a:1|c|#b:1|#a:1", samples(smp("a", Counter, 1).tags("a:1,b:1")), nil},
	{"a:1|c|#Ünï:cödé", samples(smp("a", Counter, 1).tags("Ünï:cödé")), nil},
	{"a:1|c|c:", samples(smp("a", Counter, 1)), nil},
	{"a:1|c|#k\r\r", samples(smp("a", Counter, 1).tags("k")), nil},
	{"a:1|c|#k\nv:x\r|c:i\rd\r", samples(smp("a", Counter, 1).tags("kv:x").container("id")), nil},
	{"a:1|c|c:x|c:y", samples(smp("a", Counter, 1).container("y")), nil},
	{"a:1|c|e:x|card:high|c:ci-1", samples(smp("a", Counter, 1).container("ci-1")), nil},
	// Packing: empty values skipped, sets never split, bad values reported.
	{"a:21::22|h", samples(smp("a", Histogram, 21), smp("a", Histogram, 22)), nil},
	{"a::|c", nil, ErrNoValue},
	{"a:1:x:3|c", samples(smp("a", Counter, 1), smp("a", Counter, 3)), ErrInvalidValue},
	{"a:1:-2|ms", samples(smp("a", Timer, 1)), ErrNegativeTimer},
	{"a:1:2|c|#k:v|@0.5", samples(smp("a", Counter, 1).tags("k:v").rate(0.5), smp("a", Counter, 2).tags("k:v").rate(0.5)), nil},
	{"a:x:y|s", samples(set("a", "x:y")), nil},
	{"a:+1:-1|g", samples(smp("a", Gauge, 1).delta(), smp("a", Gauge, -1).delta()), nil},
	// Legacy multi-sample lines.
	{"a:1|c|@0.5:2|c", samples(smp("a", Counter, 1).rate(0.5), smp("a", Counter, 2)), nil},
	{"a:1|c:2|ms|#k:v", samples(smp("a", Counter, 1).tags("k:v"), smp("a", Timer, 2).tags("k:v")), nil},
	{"a:1|c:2|ms|#k:v|@0.5", samples(smp("a", Counter, 1).tags("k:v").rate(0.5), smp("a", Timer, 2).tags("k:v").rate(0.5)), nil},
	{"a:1|c:x|s:3|g", samples(smp("a", Counter, 1), set("a", "x"), smp("a", Gauge, 3)), nil},
	{"a:1|c:-1|ms:3|c", samples(smp("a", Counter, 1), smp("a", Counter, 3)), ErrNegativeTimer},
	{"a:1|c:2", samples(smp("a", Counter, 1)), ErrNoType},
	{"a:1|c:|c", samples(smp("a", Counter, 1)), ErrNoValue},
	{"a:1|c:2|zz", samples(smp("a", Counter, 1)), ErrUnknownType},
	{"a:1|c:2|c|@7", samples(smp("a", Counter, 1)), ErrInvalidRate},
	{"a:1|c:2|c|#:x", nil, ErrInvalidTags},
	{"a:1|c|bogus|@0.5:2|c", samples(smp("a", Counter, 2)), ErrUnknownField},
	{"a:1|zz|@0.5:2|c", samples(smp("a", Counter, 2)), ErrUnknownType},
	{"a:1|c|#k:v|@0.5:2|c", nil, ErrInvalidRate},
	{"a:1|c|#k:v,j|@0.5|bogus|@0.5:2|c", nil, ErrUnknownField},
	// Name-embedded tag styles.
	{"m#k=v,j=w:1|c", samples(smp("m", Counter, 1).tags("j:w,k:v")), nil},
	{"m[k=v,j=w]:1|c", samples(smp("m", Counter, 1).tags("j:w,k:v")), nil},
	{"m[k=v].count:1|c", samples(smp("m.count", Counter, 1).tags("k:v")), nil},
	{"m[k=v:1|c", nil, ErrInvalidTags},
	{"m[k=v];x=y:1|c", nil, ErrInvalidTags},
	{"m,k=v:1|c|#a:b", nil, ErrMixedTagStyles},
	{"m;k=v:1|c:2|c|#a:b", nil, ErrMixedTagStyles},
	{"m,=v:1|c", nil, ErrInvalidTags},
	{"m,bare,k=v=w:1|c", samples(smp("m", Counter, 1).tags("bare,k:v=w")), nil},
	// Without any k=v a delimiter is punctuation, not a tag style: the
	// name is sanitised as a whole, like the reference ("cachehits").
	{"cache#hits:1|c", samples(smp("cachehits", Counter, 1)), nil},
	{"a,b:1|c", samples(smp("ab", Counter, 1)), nil},
	{"a[b]:1|c", samples(smp("ab", Counter, 1)), nil},
	{"a;b:1|c", samples(smp("a;b", Counter, 1)), nil},
	{"a#b:1|c|#env:x", samples(smp("ab", Counter, 1).tags("env:x")), nil},
	{"m;k=a,b:1|c", samples(smp("m", Counter, 1).tags("k:ab")), nil},
	{"m,k=v,,:1|c", samples(smp("m", Counter, 1).tags("k:v")), nil},
	{",k=v:1|c", nil, ErrEmptyName},
	{"m=x;k=v:1|c", samples(smp("m=x", Counter, 1).tags("k:v")), nil},
	// Sanitiser corners.
	{"!!!:1|c", nil, ErrEmptyName},
	{"a\u00a0\u2003 b:1|c", samples(smp("a_b", Counter, 1)), nil},
	{"a\xff\xfeb:1|c", samples(smp("ab", Counter, 1)), nil},
	{"a \xff b:1|c", samples(smp("a__b", Counter, 1)), nil},
	{"a|b:1|c", nil, ErrNoValue},
	{"novalue", nil, ErrNoValue},
	// Events and service checks are rejected here when malformed; the valid
	// ones are in TestParseEvents.
	{"_e{0,0}:|", nil, ErrInvalidEvent},
	{"_e{5,4}:hello|text|p:urgent", nil, ErrInvalidEvent},
	{"_sc|x|4", nil, ErrInvalidCheck},
	{"_sc||0", nil, ErrInvalidCheck},
	{"_sc|x", nil, ErrInvalidCheck},
}

func TestParse(t *testing.T) {
	p := NewParser(Options{})
	for _, tc := range append(specCases, moreCases...) {
		t.Run(tc.in, func(t *testing.T) {
			res, err := p.Parse([]byte(tc.in))
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("Parse(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if res.Event != nil || res.ServiceCheck != nil {
				t.Fatalf("Parse(%q) gave an event or service check", tc.in)
			}
			if diff := cmp.Diff(tc.want, res.Samples, cmpOpts); diff != "" {
				t.Errorf("Parse(%q) samples (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		opts Options
		parseCase
	}{
		{Options{UnknownTypeAsCounter: true}, parseCase{"zz:4|zz", samples(smp("zz", Counter, 4)), nil}}, // R2.3 compat
		{Options{UnknownTypeAsCounter: true}, parseCase{"z:4|zz|@0.5", samples(smp("z", Counter, 4).rate(0.5)), nil}},
		{Options{UnknownTypeAsCounter: true}, parseCase{"zz:x|zz", nil, ErrInvalidValue}},
		{Options{UnknownTypeAsCounter: true}, parseCase{"zz:1|", nil, ErrNoType}},
		{Options{NoGaugeDeltas: true}, parseCase{"g1:-10|g", samples(smp("g1", Gauge, -10)), nil}}, // R3.5 gauge_deltas=false
		{Options{NoGaugeDeltas: true}, parseCase{"g1:+4|g", samples(smp("g1", Gauge, 4)), nil}},
		{Options{NoSanitize: true}, parseCase{"a b/c!:1|c", samples(smp("a b/c!", Counter, 1)), nil}},
		{Options{NoSanitize: true}, parseCase{"café,k=v:1|c", samples(smp("café", Counter, 1).tags("k:v")), nil}},
		{Options{NoSanitize: true}, parseCase{"[k=v]_e{x:1|c", nil, ErrInvalidTags}},
		{Options{MaxValuesPerLine: 2}, parseCase{"a:1:2|c", samples(smp("a", Counter, 1), smp("a", Counter, 2)), nil}},
		{Options{MaxValuesPerLine: 2}, parseCase{"a:1:2:3|c", nil, ErrTooManyValues}},
		{Options{MaxValuesPerLine: 2}, parseCase{"a:1::2:|c", samples(smp("a", Counter, 1), smp("a", Counter, 2)), nil}},
		{Options{MaxValuesPerLine: 2}, parseCase{"a:1|c:2|c:3|c", nil, ErrTooManyValues}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			res, err := NewParser(tc.opts).Parse([]byte(tc.in))
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("Parse(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if diff := cmp.Diff(tc.want, res.Samples, cmpOpts); diff != "" {
				t.Errorf("Parse(%q) samples (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestMaxValuesDefault(t *testing.T) {
	p := NewParser(Options{})
	line := "a:" + strings.Repeat("1:", DefaultMaxValuesPerLine-1) + "1|c"
	res, err := p.Parse([]byte(line))
	if err != nil || len(res.Samples) != DefaultMaxValuesPerLine {
		t.Fatalf("%d values: got %d samples, err %v", DefaultMaxValuesPerLine, len(res.Samples), err)
	}
	res, err = p.Parse([]byte("a:1:" + line[2:]))
	if !errors.Is(err, ErrTooManyValues) || res.Samples != nil {
		t.Fatalf("%d values: got %d samples, err %v; want ErrTooManyValues", DefaultMaxValuesPerLine+1, len(res.Samples), err)
	}
}

func TestParseEvents(t *testing.T) {
	tests := []struct {
		in   string
		want Result
	}{
		{"_e{21,36}:An exception occurred|Cannot parse CSV file from 10.0.0.17|t:warning|#err_type:bad_file", Result{Event: &Event{ // R8.1
			Title: "An exception occurred", Text: "Cannot parse CSV file from 10.0.0.17", Priority: "normal", AlertType: "warning",
			Tags: []Tag{{"err_type", "bad_file"}}}}},
		{"_e{5,4}:title|text", Result{Event: &Event{Title: "title", Text: "text", Priority: "normal", AlertType: "info"}}}, // R7.1 ours
		{"_e{5,12}:hello|line1\\nline2|d:1700000000|h:web1|k:agg|p:low|s:src|t:error|#b,a:1|c:ci-x|future:1", Result{Event: &Event{
			Title: "hello", Text: "line1\nline2", Timestamp: 1700000000, Hostname: "web1", AggregationKey: "agg", Priority: "low",
			SourceType: "src", AlertType: "error", Tags: []Tag{{"a", "1"}, {"b", ""}}}}},
		{"_e{3,3}:a|b|c|d", Result{Event: &Event{Title: "a|b", Text: "c|d", Priority: "normal", AlertType: "info"}}},
		{"_e{2,0}:hi|", Result{Event: &Event{Title: "hi", Priority: "normal", AlertType: "info"}}},
		{"_sc|Redis connection|2|#env:dev|m:Redis connection timed out after 10s", Result{ServiceCheck: &ServiceCheck{ // R8.2
			Name: "Redis connection", Status: 2, Message: "Redis connection timed out after 10s", Tags: []Tag{{"env", "dev"}}}}},
		{"_sc|name|0", Result{ServiceCheck: &ServiceCheck{Name: "name"}}}, // R7.1 ours
		{"_sc|db|1|d:1700000000|h:db1|#z,y:2|m:a m\\: b\\nc|d", Result{ServiceCheck: &ServiceCheck{
			Name: "db", Status: 1, Timestamp: 1700000000, Hostname: "db1", Message: "a m: b\nc|d", Tags: []Tag{{"y", "2"}, {"z", ""}}}}},
	}
	p := NewParser(Options{})
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := p.Parse([]byte(tc.in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got, cmpOpts); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseInvalidEvents(t *testing.T) {
	tests := []struct {
		in  string
		err error
	}{
		{"_e{5,3}:hello|ab", ErrInvalidEvent},   // R8.1: text shorter than declared
		{"_e{5,3}:hello|abcd", ErrInvalidEvent}, // text longer than declared
		{"_e{5,3}:hell|abcd", ErrInvalidEvent},  // title length wrong
		{"_e{0,3}:|abc", ErrInvalidEvent},       // empty title
		{"_e{x,3}:hello|abc", ErrInvalidEvent},
		{"_e{5,-3}:hello|abc", ErrInvalidEvent},
		{"_e{5,3:hello|abc", ErrInvalidEvent},
		{"_e{5,3}hello|abc", ErrInvalidEvent},
		{"_e{99999999999,3}:hello|abc", ErrInvalidEvent},
		{"_e{", ErrInvalidEvent},
		{"_e{5,3}:hello|abc|t:fatal", ErrInvalidEvent},
		{"_e{5,3}:hello|abc|d:soon", ErrInvalidEvent},
		{"_e{5,3}:hello|abc|#:v", ErrInvalidEvent},
		{"_e{5,3}:hello|abc|junk", ErrInvalidEvent},
		{"_sc|", ErrInvalidCheck},
		{"_sc|x|", ErrInvalidCheck},
		{"_sc|x|01", ErrInvalidCheck},
		{"_sc|x|-1", ErrInvalidCheck},
		{"_sc|x|0|d:x", ErrInvalidCheck},
		{"_sc|x|0|#:v", ErrInvalidCheck},
		{"_sc|x|0|junk", ErrInvalidCheck},
	}
	p := NewParser(Options{})
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := p.Parse([]byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("Parse(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if diff := cmp.Diff(Result{}, got); diff != "" {
				t.Errorf("Parse(%q) result not empty:\n%s", tc.in, diff)
			}
		})
	}
}

// TestDatagram parses whole datagrams with NextLine, as a reader does:
// empty lines are skipped and a bad line does not cost the others.
func TestDatagram(t *testing.T) {
	tests := []struct {
		in      string
		want    []Sample
		reasons []string
	}{
		{"a:1|c\nb:2|c\n", samples(smp("a", Counter, 1), smp("b", Counter, 2)), nil},         // R1.1
		{"crlf:1|c\r\n", samples(smp("crlf", Counter, 1)), nil},                              // R1.2
		{"g3:0|g\ng3:-7|g", samples(smp("g3", Gauge, 0), smp("g3", Gauge, -7).delta()), nil}, // R3.5
		{"good:1|c\nbad:x|c", samples(smp("good", Counter, 1)), []string{"invalid_value"}},   // R7.2
		{"\n\n\r\na:1|c\n\n", samples(smp("a", Counter, 1)), nil},
		{"a:1|c\nb:2|ms", samples(smp("a", Counter, 1), smp("b", Timer, 2)), nil}, // R12.2
		{"t:1|ms\nt:2|ms\nt:3|ms\nt:4|ms\nt:5|ms\nt:6|ms\nt:7|ms\nt:8|ms\nt:9|ms\nt:10|ms", samples(smp("t", Timer, 1), smp("t", Timer, 2), // R3.7
			smp("t", Timer, 3), smp("t", Timer, 4), smp("t", Timer, 5), smp("t", Timer, 6), smp("t", Timer, 7), smp("t", Timer, 8), smp("t", Timer, 9), smp("t", Timer, 10)), nil},
		{"tcpa:1|c\ntcpb:2|", samples(smp("tcpa", Counter, 1)), []string{"no_type"}}, // R1.4: a stream reader must keep an unterminated tail, not parse it
		{"a:1|c\nzz:1|zz\n:1|c\nb:1:y|c", samples(smp("a", Counter, 1), smp("b", Counter, 1)), []string{"unknown_type", "empty_name", "invalid_value"}},
	}
	p := NewParser(Options{})
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var got []Sample
			var reasons []string
			for buf := []byte(tc.in); len(buf) > 0; {
				var line []byte
				line, buf = NextLine(buf)
				res, err := p.Parse(line)
				for _, s := range res.Samples {
					got = append(got, cloneSample(s))
				}
				if err != nil {
					reasons = append(reasons, Reason(err))
				}
			}
			if diff := cmp.Diff(tc.want, got, cmpOpts); diff != "" {
				t.Errorf("samples (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.reasons, reasons, cmpOpts); diff != "" {
				t.Errorf("reasons (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLargeDatagram parses a 9000-byte datagram (R1.3: nothing is lost).
func TestLargeDatagram(t *testing.T) {
	var buf []byte
	var want []Sample
	for i := 0; len(buf) < 9000; i++ {
		name := fmt.Sprintf("jumbo.metric_%04d", i)
		buf = fmt.Appendf(buf, "%s:%d|c|#i:%d\n", name, i, i)
		want = append(want, Sample(smp(name, Counter, float64(i)).tags(fmt.Sprintf("i:%d", i))))
	}
	p := NewParser(Options{})
	var got []Sample
	for len(buf) > 0 {
		var line []byte
		line, buf = NextLine(buf)
		res, err := p.Parse(line)
		if err != nil {
			t.Fatalf("Parse(%q): %v", line, err)
		}
		for _, s := range res.Samples {
			got = append(got, cloneSample(s))
		}
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
}

func cloneSample(s Sample) Sample {
	s.Name = append([]byte(nil), s.Name...)
	s.Tags = append([]byte(nil), s.Tags...)
	s.SetMember = append([]byte(nil), s.SetMember...)
	s.ContainerID = append([]byte(nil), s.ContainerID...)
	return s
}

func TestNextLine(t *testing.T) {
	tests := []struct {
		in, line, rest string
		restNil        bool
	}{
		{"", "", "", true},
		{"a", "a", "", true},
		{"a\r", "a", "", true},
		{"a\nb", "a", "b", false},
		{"a\r\nb\n", "a", "b\n", false},
		{"\n", "", "", false},
		{"a\r\r\n", "a\r", "", false},
	}
	for _, tc := range tests {
		line, rest := NextLine([]byte(tc.in))
		if string(line) != tc.line || string(rest) != tc.rest || (rest == nil) != tc.restNil {
			t.Errorf("NextLine(%q) = %q, %q (nil %v); want %q, %q (nil %v)", tc.in, line, rest, rest == nil, tc.line, tc.rest, tc.restNil)
		}
	}
}

func TestScratchIsolation(t *testing.T) {
	// Appending to a returned slice must not overwrite the next field.
	p := NewParser(Options{})
	res, err := p.Parse([]byte("name:1|c|#k:v"))
	if err != nil {
		t.Fatal(err)
	}
	s := res.Samples[0]
	_ = append(s.Name, "XXXXXXXX"...)
	if string(s.Tags) != "k:v" {
		t.Fatalf("Tags = %q after appending to Name", s.Tags)
	}
	_ = append(res.Samples, Sample{})
	if len(p.samples) != 1 {
		t.Fatal("appending to Samples changed the parser")
	}
}

func TestParseTags(t *testing.T) {
	tests := []struct {
		in   string
		want []Tag
	}{
		{"", nil},
		{"a:1,b,c:2", []Tag{{"a", "1"}, {"b", ""}, {"c", "2"}}},
		{"url:http://x:80/,k=v", []Tag{{"url", "http://x:80/"}, {"k=v", ""}}},
		{"a:,,b", []Tag{{"a", ""}, {"b", ""}}},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, ParseTags([]byte(tc.in))); diff != "" {
			t.Errorf("ParseTags(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestReason(t *testing.T) {
	for _, r := range reasons {
		if got := Reason(r.err); got != r.label {
			t.Errorf("Reason(%v) = %q, want %q", r.err, got, r.label)
		}
		wrapped := errors.Join(errors.New("context"), r.err)
		if got := Reason(wrapped); got != r.label {
			t.Errorf("Reason(wrapped %v) = %q, want %q", r.err, got, r.label)
		}
	}
	if got := Reason(errors.New("x")); got != "other" {
		t.Errorf("Reason(other) = %q", got)
	}
	want := []string{"empty_name", "no_value", "no_type", "unknown_type", "invalid_value", "negative_timer",
		"invalid_sample_rate", "invalid_tags", "mixed_tag_styles", "invalid_timestamp", "unknown_field",
		"invalid_event", "invalid_service_check", "too_many_values", "line_too_long", "other"}
	if diff := cmp.Diff(want, Reasons()); diff != "" {
		t.Errorf("Reasons() (-want +got):\n%s", diff)
	}
}

func TestAppendSample(t *testing.T) {
	tests := []struct {
		s    ws
		want string
	}{
		{smp("a", Counter, 1), "a:1|c"},
		{smp("a", Counter, -1.5).rate(0.1), "a:-1.5|c|@0.1"},
		{smp("a", Gauge, 3).delta(), "a:+3|g"},
		{smp("a", Gauge, -3).delta(), "a:-3|g"},
		{smp("a", Gauge, 3), "a:3|g"},
		{smp("a", Timer, 1e21).tags("k:v,x").container("c1").ts(17), "a:1e+21|ms|#k:v,x|c:c1|T17"},
		{set("u", "x:y"), "u:x:y|s"},
		{set("u", ""), "u:0|s"},
		{smp("h", Histogram, 0.25), "h:0.25|h"},
		{smp("d", Distribution, 2), "d:2|d"},
	}
	for _, tc := range tests {
		s := Sample(tc.s)
		if got := string(AppendSample(nil, &s)); got != tc.want {
			t.Errorf("AppendSample(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
