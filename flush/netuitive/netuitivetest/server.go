package netuitivetest

import (
	"net/http/httptest"
)

// Server is a Fake served on a loopback httptest.Server.
type Server struct {
	*Fake
	HTTP *httptest.Server
}

// NewServer starts a Fake accepting the given API keys (none: any key) on
// 127.0.0.1. Call Close when done.
func NewServer(keys ...string) *Server {
	f := New(keys...)
	return &Server{Fake: f, HTTP: httptest.NewServer(f)}
}

// URL returns the base ingest URL to configure a client with
// ("http://127.0.0.1:port/ingest"); the client appends the API key.
func (s *Server) URL() string {
	return s.HTTP.URL + "/ingest"
}

// Close releases held requests and stops the server.
func (s *Server) Close() {
	s.Fake.Close()
	s.HTTP.CloseClientConnections()
	s.HTTP.Close()
}
