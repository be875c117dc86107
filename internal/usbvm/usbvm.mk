# make usb-e2e (part of make check): the USB lab (internal/usbvm). QEMU boots Debian's stock
# kernel (TCG, no network device) once per emulated UPS; inside, dummy_hcd
# connects the usbtool/gadget emulator to the kernel's USB host stack, and
# NUT's drivers (usbhid-ups, nutdrv_qx, with upsd and upsc) and upsusb read
# the same device; then upsflags rides an outage from the emulated UPS.
# Downloads (the kernel package) and builds are kept in USBVM_CACHE. Each
# boot has its own deadline; -timeout is the backstop.

USBVM_CACHE   ?= /var/cache/nutslave/usbvm
USBVM_TIMEOUT ?= 15m
USBVM_RUN     ?= TestUSBVM
# VMs booted at once: one per core (a TCG guest keeps a core busy).
USBVM_PARALLEL ?= $(shell nproc)
USBVM_DEBS     = qemu-system-x86 busybox-static kmod cpio nut-server nut-client libusb-1.0-0-dev pkg-config

.PHONY: usb-e2e usb-e2e-deps

# usb-e2e-deps installs the Debian packages the lab needs (root only;
# otherwise it prints the apt-get line to run).
usb-e2e-deps:
	@missing=$$(for p in $(USBVM_DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "usb-e2e: as root, run: apt-get install -y --no-install-recommends" $$missing; exit 1; fi; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing

# In make check it runs through internal/testsum (a line per package, the
# failures in full, the skips with their reasons); the cross-check table is
# left in $(USBVM_CACHE)/crosscheck.txt, each VM's console beside it.
usb-e2e: usb-e2e-deps
	@mkdir -p $(USBVM_CACHE) $(DIST)
	USBVM_CACHE=$(USBVM_CACHE) $(TESTSUM) $(GO) test -tags usbvm -run '$(USBVM_RUN)' -count=1 -parallel $(USBVM_PARALLEL) -timeout $(USBVM_TIMEOUT) -json ./internal/usbvm/
	@echo "usb-e2e: the cross-check table is in $(USBVM_CACHE)/crosscheck.txt"
