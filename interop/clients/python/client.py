#!/usr/bin/python3
"""Interop workload for jsocol/pystatsd (Debian python3-statsd).

Usage: client.py HOST PORT

Sends the fixed workload of the statsd-agent interop tests through the
client's public API. pystatsd samples randomly: a call with rate < 1 is
dropped unless random.random() <= rate. The client calls the global
random.random, so we pin it to 0.0: the rate-0.1 calls are always sent, with
their "|@0.1" field, and nothing is dropped client-side.
"""
import random
import sys

import statsd

random.random = lambda: 0.0  # force sampling in: always send, keep |@rate

host, port = sys.argv[1], int(sys.argv[2])
c = statsd.StatsClient(host, port)

# Counters: 1 + 5 - 1 = 5, then one sampled call (1 at rate 0.1 = 10).
c.incr('interop.counter')
c.incr('interop.counter', 5)
c.decr('interop.counter')
c.incr('interop.sampled', 1, rate=0.1)

# Gauges: set 333, +4, -10 (deltas) = 327.
c.gauge('interop.gauge', 333)
c.gauge('interop.gauge', 4, delta=True)
c.gauge('interop.gauge', -10, delta=True)
# A negative absolute value: pystatsd sends "0|g" and "-7|g" in one datagram
# (jsocol/pystatsd#40).
c.gauge('interop.negative', -7)

# Timers: 1..10 ms, then 320 ms at rate 0.1.
for v in range(1, 11):
    c.timing('interop.timer', v)
c.timing('interop.sampled_timer', 320, rate=0.1)

# Sets: 765, 765, 766 = 2 unique.
c.set('interop.set', 765)
c.set('interop.set', 765)
c.set('interop.set', 766)

# A name the server must sanitise (whitespace, '/', '+'), sent as is.
c.incr('interop.odd name/x+y')

# pystatsd has no tags.
c.close()
