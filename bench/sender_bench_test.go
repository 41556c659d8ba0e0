package bench

import (
	"net"
	"testing"

	"golang.org/x/net/ipv4"
)

// BenchmarkSenderBatch measures one sendmmsg call of 64 datagrams of 20
// counter lines to a loopback socket that is never read (the kernel drops
// what does not fit): the sender's cost per batch, without a reader.
func BenchmarkSenderBatch(b *testing.B) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	pool, err := Workload{Keys: 1000, LinesPerPacket: 20}.Build()
	if err != nil {
		b.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	pc := ipv4.NewPacketConn(conn)
	ms := make([]ipv4.Message, 64)
	for i := range ms {
		ms[i].Buffers = [][]byte{pool.Datagrams[i].Payload}
	}
	b.ReportAllocs()
	b.SetBytes(int64(64 * 20)) // "bytes" are lines here: MB/s reads as million lines/s
	for b.Loop() {
		if _, err := pc.WriteBatch(ms, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCountLines measures the bare reader's per-datagram work.
func BenchmarkCountLines(b *testing.B) {
	pool, err := Workload{Keys: 1000, LinesPerPacket: 20}.Build()
	if err != nil {
		b.Fatal(err)
	}
	p := pool.Datagrams[0].Payload
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if CountLines(p) != 20 {
			b.Fatal("wrong count")
		}
	}
}
