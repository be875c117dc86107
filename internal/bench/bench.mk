# Targets of internal/bench (included by the root Makefile). Both need root
# and Debian's openssh-server (make deps); they print Markdown figures, the
# source of BENCHMARKS.md. Every load is bounded in count and time.

NSBENCH = $(GO) run ./internal/bench/cmd/nsbench -repo .

.PHONY: bench-slave bench-fleet bench-return

# bench-slave: one upsslave (and the original bash script from
# ../shared/seed, if present) against a real sshd on 127.0.0.1: log-only
# event cost, sdf → shutdown latency, SSH connections per outage, CPU while
# waiting (5 windows). About 7 minutes.
bench-slave:
	$(NSBENCH) slave -runs 30 -logonly 200 -window 20s -windows 5

# bench-fleet: 50, 100 and 200 upsslave instances waiting on one sshd with
# the default MaxStartups; 15 s of silent master, then sdf. About 2 minutes.
bench-fleet:
	$(NSBENCH) fleet -sizes 50,100,200 -silent 15s -timeout 90s

# bench-return: after an outage that 1, 5 and 20 slaves acknowledged, power
# back → every slave's heartbeat seen again by the master: slaves in network
# namespaces, woken by Wake-on-LAN, a simulated boot of 3 s; then 1 slave
# whose first magic packet is lost. About 2 minutes. make bench runs it too
# (with -optional: skipped, saying why, when not root or without sshd).
BENCH_RETURN = return -sizes 1,5,20 -lost-sizes 1 -boot 3s
bench-return:
	$(NSBENCH) $(BENCH_RETURN)
