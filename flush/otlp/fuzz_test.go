package otlp

import (
	"net/http"
	"testing"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

// FuzzHTTPOutcome feeds arbitrary answers to the OTLP/HTTP response
// handling: it never panics, classifies by status alone, keeps error
// messages bounded and reads partial successes only from 200 answers.
func FuzzHTTPOutcome(f *testing.F) {
	ok, _ := proto.Marshal(&colmetricspb.ExportMetricsServiceResponse{PartialSuccess: &colmetricspb.ExportMetricsPartialSuccess{RejectedDataPoints: 3, ErrorMessage: "bad"}})
	st, _ := proto.Marshal(&statuspb.Status{Code: 3, Message: "invalid"})
	f.Add(200, "", ok)
	f.Add(400, "application/x-protobuf", st)
	f.Add(503, "text/plain", []byte("busy"))
	f.Add(429, "application/x-protobuf", []byte{0xff, 0x01})
	f.Fuzz(func(t *testing.T, code int, ct string, body []byte) {
		h := http.Header{"Content-Type": {ct}, "Retry-After": {"5"}}
		out := httpOutcome("http://x/v1/metrics", code, "status", h, body)
		switch {
		case code == 200:
			if out.class != delivered || out.err != nil {
				t.Fatalf("200: %+v", out)
			}
		case code == 429 || code == 502 || code == 503 || code == 504:
			if out.class != retry || out.retryAfter <= 0 {
				t.Fatalf("%d: %+v", code, out)
			}
		default:
			if out.class != rejected || out.err == nil {
				t.Fatalf("%d: %+v", code, out)
			}
		}
		if out.err != nil && len(out.err.Error()) > 1024 {
			t.Fatalf("error message of %d bytes", len(out.err.Error()))
		}
	})
}
