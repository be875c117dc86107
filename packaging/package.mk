# Packaging targets, included by the root Makefile.
#
#   make package        .deb and .rpm of nutslave (slave) and nutslave-master
#                       into $(DIST)/, listed in $(DIST)/packages.txt
#   make package-test   lintian, then install / upgrade / purge tests of both
#                       formats in fresh Debian 12 chroots (root only)
#   make walkthrough-test   README's master and slave setup steps, followed
#                       literally with the .debs on two network namespaces
#                       (each its own Debian 12 chroot), then a drill and a
#                       recorded outage (root only)
#   make package-tools  nfpm $(NFPM_VERSION) into $(PKG_BIN) (not in go.mod)
#   make package-cache-clean   forget the cached chroots
#
# Knobs: PKG_CGO=auto|bullseye|host (where the cgo binaries are built, see
# packaging/scripts/package.sh), PKG_CACHE (chroots, default
# /var/cache/nutslave), PKG_MIRROR (Debian mirror), PKG_VERSION and
# PKG_RELEASE (default: from git describe, release 1).

NFPM_VERSION ?= v2.45.2
PKG_BIN      ?= $(CURDIR)/bin
NFPM         ?= $(PKG_BIN)/nfpm
PKG_CACHE    ?= /var/cache/nutslave
PKG_MIRROR   ?= http://deb.debian.org/debian
PKG_CGO      ?= auto

PKG_ENV = VERSION='$(VERSION)' DIST='$(DIST)' GO='$(GO)' NFPM='$(NFPM)' \
	PKG_CACHE='$(PKG_CACHE)' PKG_MIRROR='$(PKG_MIRROR)' PKG_CGO='$(PKG_CGO)' \
	$(if $(PKG_VERSION),PKG_VERSION='$(PKG_VERSION)') \
	$(if $(PKG_RELEASE),PKG_RELEASE='$(PKG_RELEASE)')

.PHONY: package package-test walkthrough-test package-tools package-cache-clean

package-tools: $(NFPM)

# The version file makes a change of NFPM_VERSION reinstall nfpm.
$(NFPM): $(PKG_BIN)/.nfpm-$(NFPM_VERSION)
$(PKG_BIN)/.nfpm-$(NFPM_VERSION):
	mkdir -p $(PKG_BIN)
	GOBIN=$(PKG_BIN) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	touch $@

package: package-tools
	$(PKG_ENV) ./packaging/scripts/package.sh

package-test: package
	$(PKG_ENV) ./packaging/scripts/test-packages.sh

walkthrough-test: package
	$(PKG_ENV) ./packaging/scripts/walkthrough.sh

package-cache-clean:
	PKG_CACHE='$(PKG_CACHE)' ./packaging/scripts/cache-clean.sh
