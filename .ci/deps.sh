#!/usr/bin/env bash
# Installs the Debian packages nutslave needs. As root it runs apt-get;
# otherwise it prints the line to run.
#
#   .ci/deps.sh        everything make check needs (tests, packages, lint)
#   .ci/deps.sh demo   only what make demo needs, after saying what that
#                      changes on this machine
set -euo pipefail
demo_pkgs=(nut-server nut-client openssh-server openssh-sftp-server iproute2)
check_pkgs=("${demo_pkgs[@]}" openssh-client
	libusb-1.0-0-dev pkg-config gcc nftables util-linux procps
	lintian debootstrap rpm prometheus dropbear-bin
	qemu-system-x86 busybox-static kmod cpio)
if [ "${1:-}" = demo ]; then pkgs=("${demo_pkgs[@]}"); else pkgs=("${check_pkgs[@]}"); fi

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# What make demo changes, said before it changes anything.
if [ "${1:-}" = demo ]; then
	echo "make demo: what it changes on this machine:"
	if [ ${#missing[@]} -gt 0 ]; then
		echo "  - installs with apt-get: ${missing[*]} (and what they depend on; apt may"
		echo "    upgrade installed packages they need newer, e.g. openssh-client)"
		echo "  - Debian enables their services at boot: ssh.service (sshd on port 22,"
		echo "    started now), nut-server.service and nut-monitor.service (idle until"
		echo "    /etc/nut/nut.conf sets MODE); and creates the system user nut"
	else
		echo "  - installs nothing: ${pkgs[*]} are installed"
	fi
	if ! getent passwd nutslave >/dev/null; then
		echo "  - creates the system user nutslave (no password, no shell) for the demo's"
		echo "    SFTP flag account; it stays (userdel nutslave removes it)"
	fi
	echo "  - runs NUT, sshd, upsmon, upsflags and upsslave on 127.0.0.1 under"
	echo "    /run/nutslave-lab and ./demo-logs, and stops them at the end;"
	echo "    nothing is shut down: every shutdown command is a recorder"
	echo "  - for the return of the power, creates network namespaces nutslave-demo-<pid>-*"
	echo "    joined by veth pairs on 198.18.0.0/15 (no route out) for the Wake-on-LAN"
	echo "    packets, and deletes them at the end"
fi

[ ${#missing[@]} -eq 0 ] && exit 0
line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages; run as root:" >&2
	echo "  apt-get update && $line" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
