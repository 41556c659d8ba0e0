#!/usr/bin/perl
# Interop workload for Net::Statsd (CPAN, Debian libnet-statsd-perl).
#
# Usage: client.pl HOST PORT
#
# Sends the fixed workload of the statsd-agent interop tests through the
# client's public API. Net::Statsd samples randomly: a call with rate < 1 is
# sent only when rand() <= rate. We override the rand builtin before the
# module is compiled so that it returns 0: the rate-0.1 calls are always
# sent, with their "|@0.1" field, and nothing is dropped client-side.
use strict;
use warnings;

BEGIN { *CORE::GLOBAL::rand = sub { 0 } }    # force sampling in
use Net::Statsd;

my ($host, $port) = @ARGV;
die "usage: $0 HOST PORT\n" unless defined $port;
$Net::Statsd::HOST = $host;
$Net::Statsd::PORT = $port;

# Counters: 1 + 5 - 1 = 5, then one sampled call (1 at rate 0.1 = 10).
Net::Statsd::increment('interop.counter');
Net::Statsd::update_stats('interop.counter', 5);
Net::Statsd::decrement('interop.counter');
Net::Statsd::increment('interop.sampled', 0.1);

# Gauges: set 333, +4, -10 = 327. Net::Statsd sends the value as given
# ("%s|g"), so "+4" is a positive delta and -10 a negative one.
Net::Statsd::gauge('interop.gauge' => 333);
Net::Statsd::gauge('interop.gauge' => '+4');
Net::Statsd::gauge('interop.gauge' => -10);
# A negative absolute value: several values for one name in one call go out
# as one multi-metric datagram, "0|g\n-7|g".
Net::Statsd::gauge('interop.negative' => 0, 'interop.negative' => -7);

# Timers: 1..10 ms ("%d|ms": integers only), then 320 ms at rate 0.1.
Net::Statsd::timing('interop.timer', $_) for 1 .. 10;
Net::Statsd::timing('interop.sampled_timer', 320, 0.1);

# Sets: Net::Statsd has no set call; its raw send takes "value|type".
Net::Statsd::send({ 'interop.set' => '765|s' });
Net::Statsd::send({ 'interop.set' => '765|s' });
Net::Statsd::send({ 'interop.set' => '766|s' });

# A name the server must sanitise (whitespace, '/', '+'), sent as is.
Net::Statsd::increment('interop.odd name/x+y');

# Net::Statsd has no tags.
