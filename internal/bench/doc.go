// Package bench measures upsslave against a real OpenSSH sshd on loopback:
// the cost of a log-only event, the latency from the master's sdf to the
// shutdown command, SSH connections per outage, CPU while waiting, and a
// fleet of slaves waiting on one sshd, and the return after an outage
// (power back → every slave woken by Wake-on-LAN and its heartbeat seen
// again, in network namespaces). It can measure the original bash upsslave
// from the seed page the same way, adapted at run time.
//
// The figures are printed, never judged as pass/fail tests: command nsbench
// (make bench-slave, make bench-fleet, make bench-return) runs them and
// prints Markdown tables and one line per target. Everything here needs
// root, as internal/lab does.
package bench
