package otlp

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"

	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush/otlp/otlptest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

type fakeClock struct {
	now   time.Time
	slept []time.Duration
}

func newTestBackend(t *testing.T, cfg Config, log *bytes.Buffer) (*Backend, *fakeClock) {
	t.Helper()
	cfg.Host = "h"
	cfg.RequestsPerSecond = -1
	var logger *slog.Logger
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err := New(cfg, logger, prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	c := &fakeClock{now: time.Unix(1763769600, 0)}
	b.now = func() time.Time { return c.now }
	b.sleep = func(_ context.Context, d time.Duration) bool {
		c.slept = append(c.slept, d)
		c.now = c.now.Add(d)
		return true
	}
	b.jitter = func() float64 { return 1 }
	return b, c
}

func snap(i int, v float64) *aggregate.Snapshot {
	return &aggregate.Snapshot{
		Time: time.Unix(1763769600, 0).Add(time.Duration(i) * 10 * time.Second), Interval: 10 * time.Second,
		Series: []aggregate.Series{{Name: "c", Type: protocol.Counter, Value: v}},
	}
}

func withDeadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestRetryAndReject: per the OTLP specification 429/502/503/504 (HTTP)
// and Unavailable/ResourceExhausted/... (gRPC) are retried with backoff,
// other failures drop the export once, logged with the server's message.
func TestRetryAndReject(t *testing.T) {
	for _, proto := range []string{ProtocolHTTP, ProtocolGRPC} {
		t.Run(proto, func(t *testing.T) {
			rcv := startReceiver(t)
			ep := rcv.HTTPURL()
			if proto == ProtocolGRPC {
				ep = rcv.GRPCAddr()
			}
			var log bytes.Buffer
			b, clock := newTestBackend(t, Config{Protocol: proto, Endpoint: ep}, &log)
			rcv.Fail(
				otlptest.Failure{HTTPStatus: 503, Code: codes.Unavailable, Message: "busy"},
				otlptest.Failure{HTTPStatus: 429, Code: codes.ResourceExhausted, Message: "slow down"},
			)
			if err := b.Flush(withDeadline(t), snap(0, 1)); err != nil {
				t.Fatal(err)
			}
			if len(rcv.Requests()) != 1 || len(clock.slept) != 2 || testutil.ToFloat64(b.m.retries) != 2 {
				t.Fatalf("delivered %d after waits %v", len(rcv.Requests()), clock.slept)
			}
			rcv.Fail(
				otlptest.Failure{HTTPStatus: 400, Code: codes.InvalidArgument, Message: "bad point"},
				otlptest.Failure{HTTPStatus: 500, Code: codes.Internal, Message: "bad point"},
			)
			for i := 1; i <= 2; i++ {
				if err := b.Flush(withDeadline(t), snap(i, 1)); err != nil {
					t.Fatal(err)
				}
			}
			if got := testutil.ToFloat64(b.m.dropped.WithLabelValues("rejected")); got != 2 {
				t.Errorf("rejected = %v", got)
			}
			if n := strings.Count(log.String(), "level=ERROR"); n != 1 || !strings.Contains(log.String(), "bad point") {
				t.Errorf("want one error with the message:\n%s", log.String())
			}
			if len(clock.slept) != 2 {
				t.Errorf("rejections were retried: %v", clock.slept)
			}
		})
	}
}

func TestQueueAndClose(t *testing.T) {
	rcv := startReceiver(t)
	b, _ := newTestBackend(t, Config{Endpoint: rcv.HTTPURL(), QueueLimit: 2}, nil)
	rcv.Close()
	for i := range 3 {
		if err := b.Flush(context.Background(), snap(i, 1)); err == nil {
			t.Fatal("flush to a closed receiver succeeded")
		}
	}
	if got := testutil.ToFloat64(b.m.dropped.WithLabelValues("overflow")); got != 1 {
		t.Errorf("overflow = %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Close(ctx); err == nil || !strings.Contains(err.Error(), "2 data points undelivered") {
		t.Errorf("Close: %v", err)
	}
}

func TestConfig(t *testing.T) {
	host := func() (string, error) { return "myhost", nil }
	for _, bad := range []Config{
		{Protocol: "udp"}, {Temporality: "both"}, {Endpoint: "localhost:4318"}, {Protocol: "grpc", Endpoint: "http://x:1/v1"},
		{Protocol: "grpc", Endpoint: "nohost"}, {Scale: ptr(int32(9))}, {MaxDataPointsPerExport: -1}, {QueueLimit: -1},
		{Endpoint: "http://u:p@x/"}, {IdleTimeout: -1},
	} {
		if _, err := bad.resolve(host); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	r, err := Config{}.resolve(host)
	if err != nil {
		t.Fatal(err)
	}
	if r.Endpoint != DefaultHTTPEndpoint || !r.cumulative || r.scale != 6 || r.Host != "myhost" || r.ServiceName != "statsd-agent" {
		t.Errorf("defaults %+v", r)
	}
	r, _ = Config{Endpoint: "https://collector:4318"}.resolve(host)
	if r.Endpoint != "https://collector:4318/v1/metrics" {
		t.Errorf("path not added: %s", r.Endpoint)
	}
	r, _ = Config{Protocol: "grpc", Endpoint: "https://collector:4317"}.resolve(host)
	if r.grpcTarget != "collector:4317" || !r.grpcTLS {
		t.Errorf("grpc tls: %+v", r)
	}
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-otlp-endpoint", "localhost:4317", "-otlp-protocol", "grpc", "-otlp-temporality", "delta", "-otlp-scale", "4"}); err != nil {
		t.Fatal(err)
	}
	if c.Endpoint != "localhost:4317" || c.Protocol != "grpc" || c.Temporality != "delta" || *c.Scale != 4 {
		t.Errorf("flags %+v", c)
	}
	if s := NewSecret("key").String(); s != "[redacted]" {
		t.Errorf("secret %q", s)
	}
}

func ptr[T any](v T) *T { return &v }

func TestTOML(t *testing.T) {
	const doc = `
protocol = "grpc"
endpoint = "collector:4317"
temporality = "delta"
headers = { "api-key" = "s3cret" }
resource_attributes = { "deployment.environment" = "prod" }
scale = 5
idle_timeout = "1m"
`
	var c Config
	dec := toml.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Protocol != "grpc" || c.Endpoint != "collector:4317" || c.Temporality != "delta" || c.Headers["api-key"].Reveal() != "s3cret" ||
		*c.Scale != 5 || time.Duration(c.IdleTimeout) != time.Minute || c.ResourceAttributes["deployment.environment"] != "prod" {
		t.Errorf("decoded %+v", c)
	}
	out, err := toml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cret") {
		t.Errorf("config dump shows the header value:\n%s", out)
	}
}
