package clientlibtest_test

import (
	"fmt"

	"github.com/statsd-agent/statsd-agent/clientlib"
	"github.com/statsd-agent/statsd-agent/clientlib/clientlibtest"
	"github.com/statsd-agent/statsd-agent/protocol"
)

// checkout is the code under test: it takes its *clientlib.Client as a
// dependency.
func checkout(c *clientlib.Client, items int) {
	c.Count("cart.checkout", 1, clientlib.Tag{"payment", "card"})
	c.Histogram("cart.items", float64(items))
}

// In a test, build the Client on a Recorder (clientlibtest.New does it and
// closes the Client when the test ends) and assert on parsed samples.
func ExampleRecorder() {
	rec := clientlibtest.NewRecorder()
	c, _ := clientlib.New(clientlib.Config{Sender: rec, Unbuffered: true})
	checkout(c, 3)

	samples, err := clientlibtest.Parse(rec.Packets())
	if err != nil {
		fmt.Println(err)
	}
	for _, s := range clientlibtest.Find(samples, "cart.items", protocol.Histogram) {
		fmt.Println(s.Name, s.Value)
	}
	checkouts := clientlibtest.Find(samples, "cart.checkout", protocol.Counter)
	payment, _ := checkouts[0].Tag("payment")
	fmt.Println(payment)
	// Output:
	// cart.items 3
	// card
}
