#!/usr/bin/ruby
# Interop workload for reinh/statsd (statsd-ruby, Debian ruby-statsd).
#
# Usage: client.rb HOST PORT
#
# Sends the fixed workload of the statsd-agent interop tests through the
# client's public API. statsd-ruby samples randomly: a call with rate < 1 is
# sent only when Kernel#rand < rate. We override rand for Statsd instances to
# return 0.0, so the rate-0.1 calls are always sent, with their "|@0.1"
# field, and nothing is dropped client-side.
require 'statsd'

class Statsd
  private

  def rand(*)
    0.0 # force sampling in: always send, keep |@rate
  end
end

host, port = ARGV[0], Integer(ARGV[1])
c = Statsd.new(host, port)

# Counters: 1 + 5 - 1 = 5, then one sampled call (1 at rate 0.1 = 10).
c.increment('interop.counter')
c.count('interop.counter', 5)
c.decrement('interop.counter')
c.increment('interop.sampled', 0.1)

# Gauges: set 333, +4, -10 = 327. statsd-ruby has no delta API: it sends the
# value as given, so a string "+4" is a positive delta and -10 a negative one.
c.gauge('interop.gauge', 333)
c.gauge('interop.gauge', '+4')
c.gauge('interop.gauge', -10)
# A negative absolute value: "0|g" then "-7|g" in one datagram (batch).
c.batch do |b|
  b.gauge('interop.negative', 0)
  b.gauge('interop.negative', -7)
end

# Timers: 1..10 ms, then 320 ms at rate 0.1.
(1..10).each { |v| c.timing('interop.timer', v) }
c.timing('interop.sampled_timer', 320, 0.1)

# Sets: 765, 765, 766 = 2 unique.
c.set('interop.set', 765)
c.set('interop.set', 765)
c.set('interop.set', 766)

# A name the server must sanitise (whitespace, '/', '+'); statsd-ruby only
# rewrites '::', ':', '|' and '@'.
c.increment('interop.odd name/x+y')

# statsd-ruby has no tags.
