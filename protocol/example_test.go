package protocol_test

import (
	"fmt"

	"github.com/statsd-agent/statsd-agent/protocol"
)

func ExampleParser_Parse() {
	p := protocol.NewParser(protocol.Options{})
	datagram := []byte("api.latency:12:15|ms|@0.5|#service:web,env:prod\nqueue,host=a:-3|g\nbad:x|c\n")
	for len(datagram) > 0 {
		var line []byte
		line, datagram = protocol.NextLine(datagram)
		res, err := p.Parse(line)
		for _, s := range res.Samples {
			fmt.Printf("%s %s %v rate=%v delta=%v tags=%q\n", s.Type, s.Name, s.Value, s.SampleRate, s.Delta, s.Tags)
		}
		if err != nil {
			fmt.Println("rejected:", protocol.Reason(err))
		}
	}
	// Output:
	// timer api.latency 12 rate=0.5 delta=false tags="env:prod,service:web"
	// timer api.latency 15 rate=0.5 delta=false tags="env:prod,service:web"
	// gauge queue -3 rate=1 delta=true tags="host:a"
	// rejected: invalid_value
}
