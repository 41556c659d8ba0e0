#!/usr/bin/env node
// Interop workload for hot-shots (npm), in plain StatsD/DogStatsD mode.
//
// Usage: node client.js HOST PORT
//
// Sends the fixed workload of the statsd-agent interop tests through the
// client's public API. hot-shots samples randomly: a call with rate < 1 is
// sent only when Math.random() < rate. We pin Math.random to 0, so the
// rate-0.1 calls are always sent, with their "|@0.1" field, and nothing is
// dropped client-side. Datadog mode (container ID, telemetry) is off so the
// datagrams do not depend on the environment.
'use strict';

const StatsD = require('hot-shots');

Math.random = () => 0; // force sampling in: always send, keep |@rate

const [host, portArg] = process.argv.slice(2);
const port = Number(portArg);
if (!host || !Number.isInteger(port)) {
  console.error('usage: node client.js HOST PORT');
  process.exit(2);
}

const c = new StatsD({
  host,
  port,
  datadog: false,
  errorHandler: (err) => {
    console.error('hot-shots:', err.message);
    process.exitCode = 1;
  },
});

// Counters: 1 + 5 - 1 = 5, then one sampled call (1 at rate 0.1 = 10).
c.increment('interop.counter');
c.increment('interop.counter', 5);
c.decrement('interop.counter');
c.increment('interop.sampled', 1, 0.1);

// Gauges: set 333, +4, -10 (gaugeDelta) = 327.
c.gauge('interop.gauge', 333);
c.gaugeDelta('interop.gauge', 4);
c.gaugeDelta('interop.gauge', -10);
// A negative absolute value: hot-shots targets DogStatsD, where "-7|g" sets
// -7, and has no helper for the reference server's delta rule; the way to
// get -7 there is to set 0 first, then send -7.
c.gauge('interop.negative', 0);
c.gauge('interop.negative', -7);

// Timers: 1..10 ms, then 320 ms at rate 0.1.
for (let v = 1; v <= 10; v++) {
  c.timing('interop.timer', v);
}
c.timing('interop.sampled_timer', 320, 0.1);

// Sets: 765, 765, 766 = 2 unique.
c.set('interop.set', 765);
c.set('interop.set', 765);
c.set('interop.set', 766);

// A name the server must sanitise (whitespace, '/', '+'); hot-shots only
// rewrites ':', '|' and newlines.
c.increment('interop.odd name/x+y');

// Tags (DogStatsD "|#k:v,..."), the same tag set in two orders.
c.increment('interop.tagged', 1, ['env:dev', 'region:eu']);
c.increment('interop.tagged', 2, ['region:eu', 'env:dev']);

// A bare tag (key without value).
c.increment('interop.bare_tag', 1, ['canary']);

// DogStatsD types: histogram "|h" and distribution "|d", values 1..10.
for (let v = 1; v <= 10; v++) {
  c.histogram('interop.histogram', v);
  c.distribution('interop.distribution', v);
}

c.close((err) => {
  if (err) {
    console.error('hot-shots close:', err.message);
    process.exitCode = 1;
  }
});
