// Package otlptest is an in-process OTLP metrics receiver for tests, built
// from the protocol's generated types (go.opentelemetry.io/proto/otlp): the
// OTLP/HTTP binary-protobuf endpoint and the OTLP/gRPC MetricsService, on
// loopback. It checks every data point as a strict collector would and
// answers as the specification says: 200 (HTTP) or OK (gRPC) with an empty
// ExportMetricsServiceResponse when everything is valid, 400 with a
// google.rpc.Status body (HTTP) or InvalidArgument (gRPC) when not.
package otlptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"

	colmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Failure is a scripted answer: an HTTP status (and Retry-After) for the
// HTTP endpoint, a gRPC code for the gRPC one.
type Failure struct {
	HTTPStatus int
	RetryAfter string
	Code       codes.Code
	Message    string
}

// Receiver records the valid export requests it receives.
type Receiver struct {
	colmetricspb.UnimplementedMetricsServiceServer

	httpSrv *httptest.Server
	grpcSrv *grpc.Server
	grpcLis net.Listener

	mu       sync.Mutex
	requests []*colmetricspb.ExportMetricsServiceRequest
	headers  []map[string]string
	script   []Failure
}

// Start starts both endpoints on 127.0.0.1; Close stops them.
func Start() (*Receiver, error) {
	r := &Receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/metrics", r.serveHTTP)
	r.httpSrv = httptest.NewServer(mux)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.httpSrv.Close()
		return nil, err
	}
	r.grpcLis = lis
	r.grpcSrv = grpc.NewServer()
	colmetricspb.RegisterMetricsServiceServer(r.grpcSrv, r)
	go r.grpcSrv.Serve(lis)
	return r, nil
}

// HTTPURL is the OTLP/HTTP metrics URL.
func (r *Receiver) HTTPURL() string { return r.httpSrv.URL + "/v1/metrics" }

// GRPCAddr is the OTLP/gRPC host:port.
func (r *Receiver) GRPCAddr() string { return r.grpcLis.Addr().String() }

// Close stops both endpoints.
func (r *Receiver) Close() {
	r.httpSrv.Close()
	r.grpcSrv.Stop()
}

// Fail makes the next exports (either endpoint) get these answers.
func (r *Receiver) Fail(f ...Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script = append(r.script, f...)
}

// Requests returns the accepted requests in arrival order.
func (r *Receiver) Requests() []*colmetricspb.ExportMetricsServiceRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*colmetricspb.ExportMetricsServiceRequest(nil), r.requests...)
}

// Headers returns the HTTP headers or gRPC metadata (first values, lower
// case keys) of the accepted requests.
func (r *Receiver) Headers() []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]string(nil), r.headers...)
}

func (r *Receiver) next() (Failure, bool) {
	if len(r.script) == 0 {
		return Failure{}, false
	}
	f := r.script[0]
	r.script = r.script[1:]
	return f, true
}

func writeStatus(w http.ResponseWriter, code int, msg string) {
	b, _ := proto.Marshal(&statuspb.Status{Code: int32(codes.InvalidArgument), Message: msg})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(code)
	w.Write(b)
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.next(); ok {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		writeStatus(w, f.HTTPStatus, f.Message)
		return
	}
	if req.Method != http.MethodPost {
		writeStatus(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		writeStatus(w, http.StatusUnsupportedMediaType, "unsupported content type "+ct)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	var er colmetricspb.ExportMetricsServiceRequest
	if err := proto.Unmarshal(body, &er); err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := Validate(&er); err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	h := map[string]string{}
	for k := range req.Header {
		h[http.CanonicalHeaderKey(k)] = req.Header.Get(k)
	}
	r.requests = append(r.requests, &er)
	r.headers = append(r.headers, h)
	out, _ := proto.Marshal(&colmetricspb.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// Export implements the gRPC MetricsService.
func (r *Receiver) Export(ctx context.Context, er *colmetricspb.ExportMetricsServiceRequest) (*colmetricspb.ExportMetricsServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.next(); ok {
		return nil, status.Error(f.Code, f.Message)
	}
	if err := Validate(er); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	h := map[string]string{}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		for k, v := range md {
			if len(v) > 0 {
				h[k] = v[0]
			}
		}
	}
	r.requests = append(r.requests, proto.Clone(er).(*colmetricspb.ExportMetricsServiceRequest))
	r.headers = append(r.headers, h)
	return &colmetricspb.ExportMetricsServiceResponse{}, nil
}

// Validate checks a request as a strict receiver does: a resource with
// service.name, named metrics with data, timestamps set, sums with a
// temporality, exponential histograms whose buckets add up to their count.
func Validate(er *colmetricspb.ExportMetricsServiceRequest) error {
	if len(er.ResourceMetrics) == 0 {
		return errors.New("no resource metrics")
	}
	for _, rm := range er.ResourceMetrics {
		hasService := false
		for _, a := range rm.GetResource().GetAttributes() {
			if a.Key == "service.name" && a.GetValue().GetStringValue() != "" {
				hasService = true
			}
		}
		if !hasService {
			return errors.New("resource without service.name")
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if err := validateMetric(m); err != nil {
					return fmt.Errorf("metric %q: %w", m.Name, err)
				}
			}
		}
	}
	return nil
}

func validateMetric(m *metricspb.Metric) error {
	if m.Name == "" {
		return errors.New("empty name")
	}
	switch d := m.Data.(type) {
	case *metricspb.Metric_Sum:
		if d.Sum.AggregationTemporality == metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_UNSPECIFIED {
			return errors.New("sum without temporality")
		}
		for _, p := range d.Sum.DataPoints {
			if p.TimeUnixNano == 0 || p.StartTimeUnixNano == 0 || p.StartTimeUnixNano > p.TimeUnixNano {
				return fmt.Errorf("sum point times %d..%d", p.StartTimeUnixNano, p.TimeUnixNano)
			}
			if p.Value == nil {
				return errors.New("sum point without value")
			}
			if d.Sum.IsMonotonic && p.GetAsDouble() < 0 {
				return errors.New("negative monotonic sum")
			}
		}
	case *metricspb.Metric_Gauge:
		for _, p := range d.Gauge.DataPoints {
			if p.TimeUnixNano == 0 || p.Value == nil {
				return errors.New("gauge point without time or value")
			}
		}
	case *metricspb.Metric_ExponentialHistogram:
		if d.ExponentialHistogram.AggregationTemporality == metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_UNSPECIFIED {
			return errors.New("histogram without temporality")
		}
		for _, p := range d.ExponentialHistogram.DataPoints {
			if p.TimeUnixNano == 0 || p.StartTimeUnixNano == 0 || p.StartTimeUnixNano > p.TimeUnixNano {
				return fmt.Errorf("histogram point times %d..%d", p.StartTimeUnixNano, p.TimeUnixNano)
			}
			if p.Scale < -10 || p.Scale > 20 {
				return fmt.Errorf("scale %d", p.Scale)
			}
			n := p.ZeroCount
			for _, c := range p.GetPositive().GetBucketCounts() {
				n += c
			}
			for _, c := range p.GetNegative().GetBucketCounts() {
				n += c
			}
			if n != p.Count {
				return fmt.Errorf("histogram count %d, buckets hold %d", p.Count, n)
			}
			if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
				return errors.New("min > max")
			}
			if p.Sum != nil && math.IsNaN(*p.Sum) {
				return errors.New("NaN sum")
			}
		}
	default:
		return fmt.Errorf("unexpected data %T", m.Data)
	}
	return nil
}
