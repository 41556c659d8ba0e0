// Package browser holds the end-to-end browser test of the status page:
// an agent with the anomaly detector and the status page runs in-process,
// StatsD lines arrive over UDP, and headless Chromium (Debian's chromium
// package at /usr/bin/chromium, driven with chromedp) loads the page and
// checks that the numbers and the chart appear and update. The test skips
// when /usr/bin/chromium is absent (install with apt-get install -y
// chromium). Set STATUS_SCREENSHOT_DIR to keep the screenshots.
package browser
