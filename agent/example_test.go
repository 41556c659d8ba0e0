package agent_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/statsd-agent/statsd-agent/agent"
	"github.com/statsd-agent/statsd-agent/aggregate"
	"github.com/statsd-agent/statsd-agent/flush"
)

// printer is an application's own backend: one method.
type printer struct{}

func (printer) Flush(_ context.Context, s *aggregate.Snapshot) error {
	for _, series := range s.Series {
		// The final flush's rate is per second of the partial interval,
		// which varies; print the count.
		fmt.Println(series.Type, series.Name, series.TagString(), series.Value)
	}
	return nil
}

// An application hosts the agent in-process with its own backend.
func Example() {
	a, err := agent.New(agent.Config{
		UDP:       "127.0.0.1:0", // any free port; agent.DefaultUDP is 127.0.0.1:8125
		Aggregate: aggregate.Config{Interval: time.Hour},
	}, []flush.Backend{printer{}}, nil)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()

	conn, _ := net.Dial("udp", a.UDPAddr().String())
	conn.Write([]byte("checkout.total:3|c|#region:eu\ncheckout.total:1|c|@0.5|#region:eu"))
	conn.Close()
	for a.LinesReceived() < 2 {
		time.Sleep(time.Millisecond)
	}

	cancel() // like SIGTERM: drain, final flush to every backend, stop
	if err := <-done; err != nil {
		panic(err)
	}
	// Output:
	// counter checkout.total region:eu 5
}
