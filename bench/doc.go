// Package bench is the load tool behind `statsd-agent bench`: it offers a
// StatsD server a measured load over UDP and reports what arrived.
//
// It stands outside the pipeline (apps -> server/udp -> aggregate -> flush)
// and plays the apps: a Sender cycles over a Pool of prebuilt datagrams
// (Workload: keys, type mix, DogStatsD tags, lines per datagram) and sends
// them with sendmmsg (golang.org/x/net/ipv4 PacketConn.WriteBatch) in
// batches paced to an offered rate; a Verifier reads the agent's own
// counters from its Prometheus /metrics page before and after and waits for
// the agent to catch up; a Baseline is a bare recvmmsg reader (ReadBatch,
// like server/udp) that only counts lines, the physical limit of the machine
// for the same sender; Sweep runs a list of rates against a fresh agent
// process and a fresh bare reader process (`statsd-agent bench baseline`),
// measured alike (counters, CPU from /proc/PID/stat, VmHWM), and WriteTable
// and WriteSVG report it. The bare reader runs as a process of its own
// rather than beside the sender: in one process the two share the Go
// scheduler and network poller, and the reader then falls far short of the
// machine's limit (in one sweep here at max: 3.7 M lines/s received
// in-process, 13.3 M as a process).
//
// Concurrency: Sender.Run and Baseline.Run each run once (the sender on an
// OS thread of its own, and either pinned to a CPU with sched_setaffinity
// when asked); their Stats methods may be called from any goroutine
// meanwhile. Everything else is plain sequential code.
//
// Only loopback is used by the tests and benchmarks. The CLI sends to
// 127.0.0.1:8125 unless the user names another target.
//
// # Commands
//
// Load one agent (progress on stderr, summary on stdout):
//
//	statsd-agent bench -target 127.0.0.1:8125 -rate 500000 -duration 10s -keys 1000 \
//	    -mix c=70,ms=20,g=10,s=0 -packet-bytes 1400 -verify http://127.0.0.1:9102/metrics
//
// The bare reader, alone (then point `bench -target 127.0.0.1:8125
// -verify http://127.0.0.1:9103/metrics` at it from another terminal):
//
//	statsd-agent bench baseline -listen 127.0.0.1:8125 -http 127.0.0.1:9103
//
// The sweep of the targets (counters only, 1,000 keys, 20 lines per
// datagram; sender pinned to CPU 0, agent and bare reader to CPU 1):
//
//	go run ./cmd/statsd-agent bench sweep -rates 100k,300k,1M,3M,5M,max -duration 5s \
//	    -mix c=100 -keys 1000 -lines-per-packet 20 -cpu-sender 0 -cpu-agent 1 -svg bench-sweep.svg
//
// # Go benchmarks
//
// The pipeline's benchmarks are in this package (pipeline_bench_test.go), on
// three workloads (counters only; mixed c/ms/g/s/d; mixed with 3 DogStatsD
// tags; 1,000 keys, 20 lines per datagram). One op is one datagram; each
// also reports ns/line and lines/s, and all call b.ReportAllocs():
//
//	go test -run '^$' -bench 'Parse$' ./bench/            # protocol.Parser on every line
//	go test -run '^$' -bench ParseAggregate ./bench/      # ingest.Worker: parse into a shard
//	go test -run '^$' -bench Flush100kSeries ./bench/     # aggregate.Flush of 100,000 series
//	go test -run '^$' -bench EndToEnd ./bench/            # loopback UDP into an in-process agent
//	go test -run '^$' -bench 'SenderBatch|CountLines' ./bench/  # the tool's own hot paths
//
// The packages' own benchmarks: go test -run '^$' -bench . ./protocol/ ./ingest/.
// Pin them like the sweep when comparing runs, and compare with benchstat:
//
//	taskset -c 1 go test -run '^$' -bench . -count 5 ./bench/ | tee new.txt
//
// # Reading the numbers
//
// Loss is (sent - received) / sent, from the agent's counter
// statsd_agent_lines_received_total; CPU is the agent process's utime+stime
// from /proc/PID/stat (10 ms resolution) per million lines received; peak
// RSS is VmHWM from /proc/PID/status. The bare reader's columns are measured
// the same way. The ratio is the agent's received rate over the bare
// reader's at the same offered rate in the same run.
//
// "max" sends as fast as the kernel accepts, and the kernel accepts faster
// the more the receiver drops, so at max a slower receiver faces a heavier
// overload than the bare reader (24 M against 15 M lines/s here); the
// "peak received" line (each receiver's best rate over all rows) is the
// fairer capacity figure. A receiver's first seconds (growing maps, heap)
// can lose lines that its steady state does not: -warmup 2s measures the
// steady state. The machine has 2 cores: anything else running shows as
// loss and as rows where the sender fell short (the sweep warns of both).
//
// The goal on the 2-core machine: 0 % loss at 5 million lines/s
// offered, at most 0.15 CPU seconds per million lines, and at least 40 % of
// the bare reader's rate.
package bench
