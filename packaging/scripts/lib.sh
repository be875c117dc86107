# shellcheck shell=bash
# Shared shell functions of nutslave's packaging scripts (sourced by bash).
#
# Chroots are cached outside the checkout, in PKG_CACHE (default
# /var/cache/nutslave):
#   bullseye/            Debian 11 build chroot (gcc, libusb-1.0-0-dev) for
#                        the cgo binaries, so they need only an old glibc
#   gocache-bullseye/    Go build cache used inside it
#   bookworm-test.tar    pristine Debian 12 minbase + systemd + logrotate;
#                        every install test unpacks a fresh copy of it
#   walkthrough-apt/     the .debs apt downloaded in walkthrough.sh's
#                        chroots, kept for the next run
# Delete a file or directory there to rebuild it. Everything mounted into a
# chroot is recorded and unmounted by an EXIT trap, before any chroot copy
# is deleted.

PKG_CACHE=${PKG_CACHE:-/var/cache/nutslave}
PKG_MIRROR=${PKG_MIRROR:-http://deb.debian.org/debian}

say() { printf 'packaging: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

need_root() {
	[ "$(id -u)" -eq 0 ] || die "$1 needs root (debootstrap, chroot, mount)"
}

# ---- checks, for the test scripts -------------------------------------------

# PASS and FAIL count the checks; the scripts report them at the end.
PASS=0
FAIL=0
pass() {
	PASS=$((PASS + 1))
	printf 'ok   %s\n' "$*"
}
fail() {
	FAIL=$((FAIL + 1))
	printf 'FAIL %s\n' "$*"
}
# t DESCRIPTION CMD...: one check.
t() {
	local d=$1
	shift
	if "$@"; then pass "$d"; else fail "$d"; fi
}
# is DESCRIPTION GOT WANT
is() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got \"$2\", want \"$3\""; fi
}

# ---- mounts, always undone -------------------------------------------------

MOUNTED=()
TMPDIRS=()

# mnt ARGS... TARGET: mount and remember TARGET for cleanup.
mnt() {
	mount "$@"
	MOUNTED+=("${!#}")
}

umount_all() {
	local i
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true
	done
	MOUNTED=()
}

# rm_tree DIR: remove a chroot copy, but never while anything is mounted
# below it (bind mounts of the same file system would defeat
# --one-file-system).
rm_tree() {
	local d=$1
	[ -n "$d" ] && [ -d "$d" ] || return 0
	if awk -v d="$d/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
		say "not removing $d: something is still mounted below it"
		return 1
	fi
	rm -rf --one-file-system "$d"
}

cleanup() {
	umount_all
	local d
	for d in "${TMPDIRS[@]}"; do rm_tree "$d" || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the cache ---------------------------------------------------------------

# with_cache_lock CMD...: run CMD holding the cache lock, so that two runs
# do not build the same chroot at once.
with_cache_lock() {
	mkdir -p "$PKG_CACHE"
	(
		flock 9
		"$@"
	) 9>"$PKG_CACHE/.lock"
}

# debootstrap_into SUITE DIR: a minbase chroot (skipped if DIR already holds
# a finished one).
debootstrap_into() {
	local suite=$1 dir=$2
	if [ -x "$dir/usr/bin/apt-get" ] && [ ! -d "$dir/debootstrap" ]; then
		return 0
	fi
	rm_tree "$dir" || return 1
	say "debootstrap $suite from $PKG_MIRROR (a few minutes, once)"
	debootstrap --variant=minbase "$suite" "$dir" "$PKG_MIRROR" >"$dir.log" 2>&1 ||
		die "debootstrap $suite failed; see $dir.log"
	# Never start services inside the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d" || return 1
	chmod 0755 "$dir/usr/sbin/policy-rc.d"
}

# chroot_apt DIR PKG...: install Debian packages into a chroot.
chroot_apt() {
	local dir=$1
	shift
	chroot "$dir" apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed in $dir"
	chroot "$dir" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
		die "apt-get install $* failed in $dir"
}

build_bullseye_chroot() {
	local dir=$PKG_CACHE/bullseye
	[ -e "$dir/.nutslave-ready" ] && return 0
	# Each step checks for itself: this may run where errexit is off.
	debootstrap_into bullseye "$dir.tmp" || return 1
	chroot_apt "$dir.tmp" gcc libc6-dev libusb-1.0-0-dev pkg-config || return 1
	chroot "$dir.tmp" apt-get clean || return 1
	touch "$dir.tmp/.nutslave-ready" || return 1
	rm_tree "$dir" && mv "$dir.tmp" "$dir"
}

# ensure_bullseye: the cached Debian 11 build chroot, in $BULLSEYE.
ensure_bullseye() {
	command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
	with_cache_lock build_bullseye_chroot
	# shellcheck disable=SC2034 # used by the scripts that source this file
	BULLSEYE=$PKG_CACHE/bullseye
}

build_bookworm_tar() {
	local tar=$PKG_CACHE/bookworm-test.tar dir=$PKG_CACHE/bookworm.tmp
	[ -s "$tar" ] && return 0
	debootstrap_into bookworm "$dir" || return 1
	# systemd for systemd-analyze verify and systemd-tmpfiles, logrotate to
	# check our logrotate file; NUT itself comes from apt during the test.
	chroot_apt "$dir" systemd logrotate || return 1
	chroot "$dir" apt-get clean || return 1
	tar -C "$dir" --numeric-owner -cf "$tar.tmp" . || return 1
	mv "$tar.tmp" "$tar" && rm_tree "$dir"
}

# fresh_bookworm: unpack a fresh copy of the pristine Debian 12 chroot into
# a new directory, in $CH. It is removed on exit.
fresh_bookworm() {
	command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
	with_cache_lock build_bookworm_tar
	CH=$(mktemp -d "$PKG_CACHE/run.XXXXXX")
	TMPDIRS+=("$CH")
	tar -C "$CH" --numeric-owner -xf "$PKG_CACHE/bookworm-test.tar"
}
