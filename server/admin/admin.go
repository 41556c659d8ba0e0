// Package admin serves the agent's own HTTP endpoint: /metrics (the agent's
// self-metrics in the Prometheus text format, through client_golang) and
// /healthz. It sits beside the pipeline, not in it: it only reads counters.
//
// The endpoint binds to localhost by default (the caller chooses the
// address) and sets read and write timeouts, so a slow client cannot hold
// it. Handler is safe for concurrent use.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/statsd-agent/statsd-agent/secret"
)

// Health is the state reported by /healthz.
type Health struct {
	Status        string   `json:"status"` // "ok"
	Version       string   `json:"version"`
	UptimeSeconds float64  `json:"uptime_seconds"`
	LastFlush     int64    `json:"last_flush_unix,omitempty"`
	Backends      []string `json:"backends"`
	UDP           string   `json:"udp,omitempty"`
}

// Config configures a Server.
type Config struct {
	// Addr is the listen address, e.g. "127.0.0.1:9102".
	Addr string
	// Gatherer is the registry /metrics exposes.
	Gatherer prometheus.Gatherer
	// Health returns the state for /healthz; nil reports only "ok".
	Health func() Health
	// Logger receives serving errors; nil discards.
	Logger *slog.Logger
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every route but /healthz.
	Token secret.String
	// Reload, when set, is called by "POST /-/reload"; it returns nil when
	// the new configuration was applied. Only loopback clients may call it
	// unless ReloadFromAnywhere is set.
	Reload             func() error
	ReloadFromAnywhere bool
	// Delete, when set, is called by "POST /-/delete?name=PATTERN" to
	// forget the carried state of the matching series; the same loopback
	// rule as Reload applies.
	Delete func(pattern string) (int, error)
	// Routes adds handlers by http.ServeMux pattern, e.g. a status page at
	// "GET /{$}" (replacing the default index) or "GET /api/status".
	Routes map[string]http.Handler
}

// Server is the agent's HTTP endpoint.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Handler returns the endpoint's routes.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := Health{Status: "ok"}
		if cfg.Health != nil {
			h = cfg.Health()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h)
	})
	if _, ok := cfg.Routes["GET /{$}"]; !ok {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><title>statsd-agent</title><h1>statsd-agent</h1>`+
				`<ul><li><a href="/metrics">/metrics</a> (Prometheus)</li><li><a href="/healthz">/healthz</a></li></ul>`)
		})
	}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ready")
	})
	if cfg.Delete != nil {
		mux.HandleFunc("POST /-/delete", func(w http.ResponseWriter, r *http.Request) {
			if !cfg.ReloadFromAnywhere && !loopback(r.RemoteAddr) {
				http.Error(w, "delete is only allowed from localhost", http.StatusForbidden)
				return
			}
			pattern := r.URL.Query().Get("name")
			if pattern == "" {
				http.Error(w, "missing name=PATTERN (a glob such as api.* or an exact name)", http.StatusBadRequest)
				return
			}
			n, err := cfg.Delete(pattern)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintf(w, "deleted %d series\n", n)
		})
	}
	if cfg.Reload != nil {
		mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
			if !cfg.ReloadFromAnywhere && !loopback(r.RemoteAddr) {
				http.Error(w, "reload is only allowed from localhost", http.StatusForbidden)
				return
			}
			if err := cfg.Reload(); err != nil {
				http.Error(w, "reload rejected, the running configuration stays: "+err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprintln(w, "configuration reloaded")
		})
	}
	for pattern, h := range cfg.Routes {
		mux.Handle(pattern, h)
	}
	if cfg.Token.IsZero() {
		return mux
	}
	want := "Bearer " + cfg.Token.Reveal()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="statsd-agent"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func loopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Listen binds the endpoint's address. Serving starts with Serve.
func Listen(cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("http: listen %s: %w", cfg.Addr, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Server{ln: ln, srv: &http.Server{
		Handler:           Handler(cfg),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}, nil
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the server gracefully.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
