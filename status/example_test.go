package status_test

import (
	"context"
	"log"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/anomaly"
	"github.com/statsd-agent/statsd-agent/flush"
	"github.com/statsd-agent/statsd-agent/server/admin"
	"github.com/statsd-agent/statsd-agent/status"
)

// The wiring cmd/statsd-agent does: the detector first, then the page, as
// the agent's processors; the page reads the agent once it exists; the
// routes go on the HTTP endpoint; the baselines live in the state
// directory.
func Example() {
	reg := prometheus.NewRegistry()
	stateDir := "/var/lib/statsd-agent"

	det, err := anomaly.New(anomaly.Config{Enabled: true}, nil, reg)
	if err != nil {
		log.Fatal(err)
	}
	if err := det.Load(stateDir); err != nil {
		log.Print(err) // start learning afresh
	}
	page := status.New(status.Config{Anomaly: det, Version: "v1.0.0"})
	a, err := agent.New(agent.Config{Processors: []flush.Processor{det, page}, Registerer: reg}, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	page.SetSource(status.AgentSource(a, reg))

	srv, err := admin.Listen(admin.Config{Addr: "127.0.0.1:9102", Gatherer: reg, Routes: page.Routes()})
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = srv.Serve() }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = det.Autosave(ctx, stateDir, 10*time.Minute) }()
	if err := a.Run(ctx); err != nil {
		log.Print(err)
	}
	if err := det.Save(stateDir); err != nil { // after the final flush
		log.Print(err)
	}
}
