# nutslave: two commands matter on a fresh Debian machine, `make demo` and `make check`.
# Everything else is a building block of those two.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
LDFLAGS  = -s -w -X main.version=$(VERSION)
GO      ?= go
# urfave_cli_no_docs leaves the Markdown man-page renderer out of the binaries:
# upsslave starts once per event, and command.Man writes the man pages.
TAGS    ?= urfave_cli_no_docs
DIST    ?= dist
# The captured HID descriptors live beside the checkout, never inside it.
NUTSLAVE_HID_CORPUS ?= $(abspath ../shared/testdata/hid)
export NUTSLAVE_HID_CORPUS

.PHONY: all build deps check test test-nocgo lint fuzz bench demo clean

all: build

# deps installs the Debian packages the tests and the demo use (root only;
# otherwise it prints the apt-get line to run).
deps:
	@./.ci/deps.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(DIST)/ ./cmd/upsslave
	CGO_ENABLED=1 $(GO) build -trimpath -tags $(TAGS) -ldflags '$(LDFLAGS)' -o $(DIST)/ ./cmd/upsflags ./cmd/upsusb

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...

test:
	$(GO) test -race -count=1 ./...

# The slave side must build and test without cgo or libusb.
test-nocgo:
	CGO_ENABLED=0 $(GO) build -tags $(TAGS) -o /dev/null ./cmd/upsslave
	CGO_ENABLED=0 $(GO) test -count=1 ./notify/... ./flags/... ./internal/conf/...

# A short run of every fuzz target, seeded from testdata: a fixed number of
# executions per target (FUZZ=100000x for a longer run).
FUZZ ?= 30000x
fuzz:
	@./.ci/fuzz.sh $(FUZZ)

check: deps lint test-nocgo test fuzz package-test

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(DIST)

-include packaging/package.mk
-include internal/lab/lab.mk
-include internal/e2e/e2e.mk
-include internal/bench/bench.mk
