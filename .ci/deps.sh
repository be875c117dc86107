#!/usr/bin/env bash
# Installs the Debian packages nutslave's tests, demo and packages need.
# As root it runs apt-get; otherwise it prints the line to run.
set -euo pipefail
pkgs=(nut-server nut-client openssh-server openssh-sftp-server openssh-client
      libusb-1.0-0-dev pkg-config gcc nftables iproute2 util-linux procps
      lintian debootstrap rpm prometheus)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
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
