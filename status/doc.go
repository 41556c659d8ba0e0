// Package status serves the agent's live status page at / on its HTTP
// endpoint: ingest rate, kernel and internal drops, series count, backend
// health and queue depths, the top series by rate and, for a chosen
// series, a chart of its recent values with its anomaly band and the
// values outside it marked. It links to /metrics.
//
// The page is one HTML file embedded in the binary (go:embed) with its
// script and styles inline: no CDN, no external request. It polls
// GET /api/status and GET /api/series (JSON) every half interval (1 to 5
// seconds) and redraws, and its layout fits a phone-sized screen.
//
// A Page sits beside the pipeline as a flush.Processor: on every snapshot
// it reads the agent's counters through a Source (AgentSource adapts an
// *agent.Agent and its Prometheus registry), the anomaly detector's
// verdicts through Verdicts (an *anomaly.Detector), and keeps a bounded
// ring of recent values per charted series (Config.MaxSeries rings of
// Config.Points values, about 40 B a value). Process is called from the
// flusher goroutine; the HTTP handlers run concurrently with it.
package status
