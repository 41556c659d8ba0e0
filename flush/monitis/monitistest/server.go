package monitistest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"time"
)

// Server is a Fake listening on 127.0.0.1 on a random port.
type Server struct {
	*Fake
	// URL is the base URL to give the client, e.g. "http://127.0.0.1:34567".
	URL string
	ts  *httptest.Server
}

// NewServer starts a Fake on 127.0.0.1:0. Call Close when done.
func NewServer(opts Options) *Server {
	f := New(opts)
	ts := httptest.NewServer(f)
	return &Server{Fake: f, URL: ts.URL, ts: ts}
}

// Close releases hanging requests, then stops the server.
func (s *Server) Close() {
	s.Fake.Close()
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Run serves a Fake on addr until ctx is done. ready, if not nil, is called
// with the listening address once the listener is open.
func Run(ctx context.Context, addr string, opts Options, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	f := New(opts)
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	f.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
