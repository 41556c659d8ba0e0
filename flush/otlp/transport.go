package otlp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

type class uint8

const (
	delivered class = iota
	retry           // retryable per the OTLP specification
	rejected        // not retryable: drop
)

// outcome is the result of one export.
type outcome struct {
	class      class
	err        error
	retryAfter time.Duration
	// rejectedPoints and message are the partial success of an accepted
	// export.
	rejectedPoints int64
	message        string
}

// transport sends one export request.
type transport interface {
	export(ctx context.Context, req *request) outcome
	close() error
}

// httpTransport is OTLP/HTTP with binary protobuf.
type httpTransport struct {
	url     string
	headers map[string]Secret
	client  *http.Client
}

func (t *httpTransport) export(ctx context.Context, r *request) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(r.Body))
	if err != nil {
		return outcome{class: rejected, err: err}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "statsd-agent")
	for k, v := range t.headers {
		req.Header.Set(k, v.Reveal())
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return outcome{class: retry, err: redactURL(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return httpOutcome(t.url, resp.StatusCode, resp.Status, resp.Header, body)
}

// httpOutcome classifies an OTLP/HTTP answer (a pure function of it): 200
// is delivered, with any partial success from the body; 429, 502, 503 and
// 504 are retryable (honouring Retry-After in seconds); every other status
// is rejected, with the message of the google.rpc.Status body or the text.
func httpOutcome(endpoint string, code int, statusText string, h http.Header, body []byte) outcome {
	if code == http.StatusOK {
		var er colmetricspb.ExportMetricsServiceResponse
		if err := proto.Unmarshal(body, &er); err == nil && er.PartialSuccess != nil {
			return outcome{class: delivered, rejectedPoints: er.PartialSuccess.RejectedDataPoints, message: er.PartialSuccess.ErrorMessage}
		}
		return outcome{class: delivered}
	}
	msg := strings.TrimSpace(string(body))
	var st statuspb.Status
	if strings.HasPrefix(h.Get("Content-Type"), "application/x-protobuf") && proto.Unmarshal(body, &st) == nil {
		msg = st.GetMessage()
	}
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if len(msg) > 512 {
		msg = msg[:512] + "..."
	}
	out := outcome{err: fmt.Errorf("POST %s: %s: %s", logURL(endpoint), statusText, msg)}
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		out.class = retry
		if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
			out.retryAfter = min(time.Duration(s)*time.Second, time.Hour)
		}
	default:
		out.class = rejected
	}
	return out
}

func (t *httpTransport) close() error {
	t.client.CloseIdleConnections()
	return nil
}

// grpcTransport is OTLP/gRPC.
type grpcTransport struct {
	conn    *grpc.ClientConn
	client  colmetricspb.MetricsServiceClient
	md      metadata.MD
	timeout time.Duration
}

func newGRPCTransport(r resolved) (*grpcTransport, error) {
	creds := insecure.NewCredentials()
	if r.grpcTLS {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	conn, err := grpc.NewClient(r.grpcTarget, grpc.WithTransportCredentials(creds), grpc.WithUserAgent("statsd-agent"))
	if err != nil {
		return nil, fmt.Errorf("otlp: grpc client: %w", err)
	}
	md := metadata.MD{}
	for k, v := range r.Headers {
		md.Set(strings.ToLower(k), v.Reveal())
	}
	return &grpcTransport{conn: conn, client: colmetricspb.NewMetricsServiceClient(conn), md: md, timeout: time.Duration(r.Timeout)}, nil
}

func (t *grpcTransport) export(ctx context.Context, r *request) outcome {
	ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, t.md), t.timeout)
	defer cancel()
	msg := r.Msg
	if msg == nil { // read back from the spool
		msg = &colmetricspb.ExportMetricsServiceRequest{}
		if err := proto.Unmarshal(r.Body, msg); err != nil {
			return outcome{class: rejected, err: fmt.Errorf("spooled export: %w", err)}
		}
	}
	resp, err := t.client.Export(ctx, msg)
	if err == nil {
		if ps := resp.GetPartialSuccess(); ps != nil {
			return outcome{class: delivered, rejectedPoints: ps.RejectedDataPoints, message: ps.ErrorMessage}
		}
		return outcome{class: delivered}
	}
	st := status.Convert(err)
	out := outcome{err: fmt.Errorf("grpc Export: %s: %s", st.Code(), st.Message())}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss, codes.ResourceExhausted:
		out.class = retry
	default:
		out.class = rejected
	}
	return out
}

func (t *grpcTransport) close() error { return t.conn.Close() }

// logURL returns u without its query, which may hold a credential.
func logURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?[redacted]"
	}
	return u
}

// redactURL removes the query from the URL of a *url.Error; errors.Is
// still sees the cause.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: logURL(ue.URL), Err: ue.Err}
	}
	return err
}
