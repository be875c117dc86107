# Targets of internal/e2e (included by the root Makefile).
# Both need root and Debian's nut-server, nut-client and openssh-server;
# make demo installs just those (.ci/deps.sh demo, which first says what it
# will change), make deps everything the tests need.

.PHONY: demo e2e-test

# demo plays one whole outage through real upsmon, upsd, dummy-ups, sshd,
# upsflags and upsslave, then the return of the power (the UPS armed and
# cycled through NUT's halt hook, the master's boot, Wake-on-LAN over veth
# pairs in network namespaces it creates and deletes, the slaves back),
# prints its timeline and roster, and leaves the logs in
# ./demo-logs/<time>. Nothing is shut down: every shutdown command, and
# upsdrvctl, is a recorder. DEMO_FLAGS="--dir DIR" or "--stand-in" change it.
demo:
	@./.ci/deps.sh demo
	$(GO) run ./internal/e2e/demo $(DEMO_FLAGS)

# e2e-test runs only the end-to-end outages (they also run in make test).
e2e-test:
	$(GO) test -count=1 -v -timeout 15m ./internal/e2e/...
