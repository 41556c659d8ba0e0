// Package netstat is the agent's built-in input: it reads the system's
// TCP/UDP/IP protocol counters, the values `netstat -s` prints, and feeds
// them into the aggregator like any other samples.
//
// On Linux it reads the kernel's counters directly from /proc/net/snmp,
// /proc/net/netstat and /proc/net/snmp6 (under a configurable procfs root);
// elsewhere, and as a Linux fallback, it runs `netstat -s` (with LC_ALL=C, a
// timeout and no shell) and parses the text. Every source is mapped to one
// set of documented names; see README.md for the table.
package netstat
