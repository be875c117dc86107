# nutslave: two commands matter on a fresh Debian machine, `make demo` and `make check`.
# Everything else is a building block of those two.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
LDFLAGS  = -s -w -X main.version=$(VERSION)
GO      ?= go
# urfave_cli_no_docs leaves the Markdown man-page renderer out of the binaries:
# upsslave starts once per event, and command.Man writes the man pages.
TAGS    ?= urfave_cli_no_docs
DIST    ?= dist
# go test runs through internal/testsum: one line per package, every
# failing test in full, one line per skipped test with its reason (also
# appended to SKIPS, which check prints last), and a failure when a test
# leaves a process running.
TESTSUM  = $(GO) run ./internal/testsum -skips $(SKIPS)
SKIPS   ?= $(DIST)/skipped-tests.txt
# Every wait in the tests has its own deadline (a spec's program at most
# 90 s, see internal/scripttest); -timeout is the backstop. The end-to-end
# outages (internal/e2e, real NUT, sshd and Dropbear, 6 to 8 minutes in all) get
# their own, longer one.
TEST_TIMEOUT ?= 4m
E2E_TIMEOUT  ?= 15m
E2E_PKG       = ./internal/e2e

.PHONY: all build deps check test test-nocgo lint fuzz bench demo clean skips-reset skips-report

all: build

# deps installs the Debian packages the tests and the demo use (root only;
# otherwise it prints the apt-get line to run).
deps:
	@./.ci/deps.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(DIST)/ ./cmd/upsslave
	CGO_ENABLED=1 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(DIST)/ ./cmd/upsflags ./cmd/upsusb

# staticcheck at a pinned version, fetched through the module proxy on
# first use (not a dependency of the module).
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(STATICCHECK) ./...

test:
	@mkdir -p $(DIST)
	$(TESTSUM) $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) -json $$($(GO) list ./... | grep -v '/internal/e2e$$')
	$(TESTSUM) $(GO) test -race -count=1 -timeout $(E2E_TIMEOUT) -json $(E2E_PKG)

# The slave side must build and test without cgo or libusb.
test-nocgo:
	@mkdir -p $(DIST)
	CGO_ENABLED=0 $(GO) build -tags $(TAGS) -o /dev/null ./cmd/upsslave
	CGO_ENABLED=0 $(TESTSUM) $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -json ./notify/... ./flags/... ./internal/conf/... ./internal/slave/...

# A short run of every fuzz target, seeded from testdata: a fixed number of
# executions per target (FUZZ=100000x for a longer run).
FUZZ ?= 30000x
fuzz:
	@./.ci/fuzz.sh $(FUZZ)

check: deps lint skips-reset test-nocgo test usb-e2e fuzz package-test walkthrough-test skips-report

skips-reset:
	@mkdir -p $(DIST) && rm -f $(SKIPS)

# The last lines of make check: each skipped test and why (a test skipped
# by both the cgo-less and the -race run is listed once).
skips-report:
	@if [ -s $(SKIPS) ]; then sort -u -o $(SKIPS) $(SKIPS); echo "skipped tests in this make check ($$(wc -l < $(SKIPS))):"; cat $(SKIPS); \
	else echo "skipped tests in this make check: none"; fi

# bench: the Go benchmarks, then make bench-return's figures (skipped,
# saying why, when not root or without sshd; internal/bench/bench.mk).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(NSBENCH) -optional $(BENCH_RETURN)

clean:
	rm -rf $(DIST)

-include packaging/package.mk
-include internal/lab/lab.mk
-include internal/e2e/e2e.mk
-include internal/bench/bench.mk
-include internal/usbvm/usbvm.mk
