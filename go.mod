module github.com/statsd-agent/statsd-agent

go 1.26.8

require (
	github.com/DataDog/sketches-go v1.4.8 // indirect
	github.com/cactus/go-statsd-client/v5 v5.1.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/pelletier/go-toml/v2 v2.4.3 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)
