# Targets of nut/ and internal/lab/ (included by the root Makefile).
# Both need root and Debian's nut-server, nut-client and openssh-server
# (make deps); without them the tests skip and say why.

.PHONY: lab-test lab-bench

# lab-test runs the NUT client and the lab harness against real upsd,
# dummy-ups, upsmon and sshd on 127.0.0.1.
lab-test:
	$(GO) test -race -count=1 ./nut/... ./internal/lab/...

# lab-bench measures one ReadVars (dial, LIST VAR, close) against real upsd.
lab-bench:
	$(GO) test -run '^$$' -bench ReadVars -benchmem ./nut/
