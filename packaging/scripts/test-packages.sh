#!/usr/bin/env bash
# test-packages.sh: test the packages "make package" built (listed in
# $DIST/packages.txt). Run by "make package-test", as root.
#
#   1. reproducible: a second build of the same version is byte-identical
#   2. static: lintian (warnings fail), contents, modes, owners, conffiles,
#      dependencies of the .deb and .rpm; the sshd example passes sshd -t
#   3. .deb in a fresh Debian 12 chroot: apt-get install (pulls the real
#      nut-client from the mirror), every file's owner and mode, the
#      directories and the account, units enabled, systemd-analyze verify,
#      the binaries as user nut, logrotate; then an administrator's edits
#      (a conffile, a disabled timer), an upgrade to a newer build, and a
#      purge that leaves nothing behind but the nutslave account
#   4. .rpm the same way with rpm --root in another fresh chroot. Debian's
#      chroot has no RPM provider of nut-client or libusb-1.0.so.0, so rpm
#      runs with --nodeps; nut-client and libusb come from apt instead, so
#      that the user nut exists as it would on RHEL.
#
# Ends with "package-test: N passed, M failed"; exits 1 if any failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=packaging/scripts/lib.sh
. packaging/scripts/lib.sh

need_root "make package-test"
for c in lintian rpm debootstrap dpkg-deb objdump readelf; do
	command -v "$c" >/dev/null || die "$c is missing (apt-get install lintian rpm debootstrap binutils)"
done
DIST=${DIST:-dist}
[ -s "$DIST/packages.txt" ] || die "no $DIST/packages.txt: run make package first"
VERSION=${VERSION:?}

section() { printf '\n== %s\n' "$*"; }

pkgfile() { grep -E "/$1" "$DIST/packages.txt"; }
DEB_S=$(pkgfile 'nutslave_[^/]*\.deb$')
DEB_M=$(pkgfile 'nutslave-master_[^/]*\.deb$')
RPM_S=$(pkgfile 'nutslave-[0-9][^/]*\.rpm$')
RPM_M=$(pkgfile 'nutslave-master-[0-9][^/]*\.rpm$')
for f in "$DEB_S" "$DEB_M" "$RPM_S" "$RPM_M"; do [ -f "$f" ] || die "missing package $f"; done
DEBVER=$(dpkg-deb -f "$DEB_S" Version)
UPSTREAM=${DEBVER%-*}
RELEASE=${DEBVER##*-}
RPMARCH=$(rpm -qp --qf '%{ARCH}' "$RPM_S" 2>/dev/null)

WORK=$(mktemp -d)
TMPDIRS+=("$WORK")

# Quiet rpm on Debian: it warns about itself on every call.
rpmq() {
	rpm "$@" 2> >(grep -v -e 'use Alien instead' -e 'assuming you know what you are doing' >&2)
}

# ---- 1. builds -------------------------------------------------------------

section "rebuild: reproducibility, and a newer version for the upgrade test"
say "building the same version again"
DIST=$WORK/repro PKG_STAGE=$WORK/repro/pkg PKG_VERSION=$UPSTREAM PKG_RELEASE=$RELEASE \
	./packaging/scripts/package.sh 2>"$WORK/repro.log" || { cat "$WORK/repro.log"; die "rebuild failed"; }
for f in "$DEB_S" "$DEB_M" "$RPM_S" "$RPM_M"; do
	t "reproducible: $(basename "$f")" cmp -s "$f" "$WORK/repro/$(basename "$f")"
done
NEWVERSION=$VERSION+upgradetest
say "building a newer version $UPSTREAM.1 for the upgrade test"
DIST=$WORK/v2 PKG_STAGE=$WORK/v2/pkg VERSION=$NEWVERSION PKG_VERSION=$UPSTREAM.1 PKG_RELEASE=$RELEASE \
	./packaging/scripts/package.sh 2>"$WORK/v2.log" || { cat "$WORK/v2.log"; die "second build failed"; }
V2_DEB_S=$(grep -E '/nutslave_[^/]*\.deb$' "$WORK/v2/packages.txt")
V2_DEB_M=$(grep -E '/nutslave-master_[^/]*\.deb$' "$WORK/v2/packages.txt")
V2_RPM_S=$(grep -E '/nutslave-[0-9][^/]*\.rpm$' "$WORK/v2/packages.txt")
V2_RPM_M=$(grep -E '/nutslave-master-[0-9][^/]*\.rpm$' "$WORK/v2/packages.txt")
t "newer build sorts higher for dpkg" dpkg --compare-versions "$(dpkg-deb -f "$V2_DEB_S" Version)" gt "$DEBVER"

# ---- 2. static checks --------------------------------------------------------

section "static: lintian, contents, dependencies"
if lintian --fail-on error,warning "$DEB_S" "$DEB_M" >"$WORK/lintian.out" 2>&1; then
	pass "lintian --fail-on error,warning"
else
	fail "lintian --fail-on error,warning"
	sed 's/^/     /' "$WORK/lintian.out"
fi
for b in upsflags upsusb; do
	floor=$(objdump -T "$DIST/pkg/bin/$b" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1)
	pass "$b needs $floor (reported, not a gate)"
done
t "upsslave is static" sh -c "! readelf -lW '$DIST/pkg/bin/upsslave' | grep -q INTERP"

for f in packaging/completion/*; do
	t "bash -n $f" bash -n "$f"
done
for f in packaging/scripts/deb-* packaging/scripts/rpm-*; do
	t "sh -n $f" sh -n "$f"
done

# Every key a program documents in its --help must be in its example
# config, so the examples keep up as keys are added. A candidate is any
# upper-case word of --help; it is a key unless the program calls it an
# unknown key. (A second, surely unknown key stops the program before it
# does anything with a valid configuration.)
for b in upsslave upsflags; do
	missing=
	for k in $("$DIST/pkg/bin/$b" --help 2>&1 | grep -oE '\b[A-Z][A-Z_]{2,}\b' | sort -u); do
		printf '%s=x\nZZ_NOT_A_KEY=1\n' "$k" >"$WORK/key.conf"
		out=$("$DIST/pkg/bin/$b" --config "$WORK/key.conf" check 2>&1) || true
		grep -q ":1: $k: unknown key" <<<"$out" && continue
		grep -q "^#$k=" "packaging/etc/$b.conf" || missing="$missing $k"
	done
	is "every key $b documents is in packaging/etc/$b.conf" "${missing# }" ""
done

debls() { dpkg-deb -c "$1" | awk '{print $1, $2, $6}'; }
debls "$DEB_S" >"$WORK/deb-s.list"
debls "$DEB_M" >"$WORK/deb-m.list"
for want in \
	'-rwxr-xr-x root/root ./usr/sbin/upsslave' \
	'-rw-r----- root/nut ./etc/nut/upsslave.conf' \
	'-rw-r--r-- root/root ./lib/systemd/system/upsslave-heartbeat.timer' \
	'-rw-r--r-- root/root ./usr/share/man/man8/upsslave.8.gz' \
	'-rw-r--r-- root/root ./usr/lib/tmpfiles.d/nutslave.conf'; do
	t "nutslave.deb has $want" grep -qxF -- "$want" "$WORK/deb-s.list"
done
for want in \
	'-rwxr-xr-x root/root ./usr/sbin/upsflags' \
	'-rwxr-xr-x root/root ./usr/sbin/upsusb' \
	'-rw-r----- root/nut ./etc/nut/upsflags.conf' \
	'-rw-r--r-- root/root ./lib/systemd/system/upsflags.path' \
	'-rwxr-xr-x root/root ./lib/systemd/system-shutdown/nutslave-killpower' \
	'-rw-r--r-- root/root ./usr/share/nutslave/sshd-nutslave-sftp.conf' \
	'-rw-r--r-- root/root ./usr/share/nutslave/cron.d-nutslave-master'; do
	t "nutslave-master.deb has $want" grep -qxF -- "$want" "$WORK/deb-m.list"
done
t "no file of ours in /etc/cron.d (the cron example is not active)" sh -c "! grep -q ' \./etc/cron\.d/' '$WORK/deb-m.list'"
t "no file of ours in /srv or /etc/ssh in the .deb" sh -c "! grep -qE ' \./(srv|etc/ssh)/' '$WORK/deb-s.list' '$WORK/deb-m.list'"
is "nutslave.deb conffiles" "$(dpkg-deb --info "$DEB_S" conffiles | sort | tr '\n' ' ')" "/etc/logrotate.d/nutslave /etc/nut/upsslave.conf "
is "nutslave-master.deb conffiles" "$(dpkg-deb --info "$DEB_M" conffiles | sort | tr '\n' ' ')" "/etc/logrotate.d/nutslave-master /etc/nut/upsflags.conf "
is "nutslave.deb Depends" "$(dpkg-deb -f "$DEB_S" Depends)" "nut-client"
t "nutslave-master.deb Depends libusb-1.0-0, libc6, nut-client" sh -c \
	"dpkg-deb -f '$DEB_M' Depends | grep -q 'nut-client, libc6 (>= [0-9.]*), libusb-1.0-0, adduser'"
is "nutslave-master.deb Recommends" "$(dpkg-deb -f "$DEB_M" Recommends)" "nut-server"

rpmls() { rpmq -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$1"; }
rpmls "$RPM_S" >"$WORK/rpm-s.list"
rpmls "$RPM_M" >"$WORK/rpm-m.list"
for want in \
	'-rwxr-xr-x root root  /usr/sbin/upsslave' \
	'-rw-r----- root nut cn /etc/ups/upsslave.conf' \
	'-rw-r--r-- root root  /usr/lib/systemd/system/upsslave-heartbeat.timer' \
	'-rw-r--r-- root root  /usr/lib/systemd/system-preset/50-nutslave.preset'; do
	t "nutslave.rpm has $want" grep -qxF -- "$want" "$WORK/rpm-s.list"
done
for want in \
	'-rwxr-xr-x root root  /usr/sbin/upsflags' \
	'-rw-r----- root nut cn /etc/ups/upsflags.conf' \
	'-rw-r--r-- root root  /usr/lib/systemd/system/upsflags-reset.service' \
	'-rwxr-xr-x root root  /usr/lib/systemd/system-shutdown/nutslave-killpower'; do
	t "nutslave-master.rpm has $want" grep -qxF -- "$want" "$WORK/rpm-m.list"
done
is "nutslave.rpm Requires" "$(rpmq -qp --requires "$RPM_S" | grep -v '^rpmlib(' | tr '\n' ' ')" "nut-client "
t "nutslave-master.rpm Requires libusb-1.0.so.0()(64bit) and a libc.so.6 version" sh -c \
	"rpm -qp --requires '$RPM_M' 2>/dev/null | grep -qx 'libusb-1.0.so.0()(64bit)' && rpm -qp --requires '$RPM_M' 2>/dev/null | grep -q '^libc.so.6(GLIBC_'"
t "rpm digests" sh -c "rpm -Kv '$RPM_S' '$RPM_M' 2>/dev/null | grep -q 'Payload SHA256 digest: OK'"

# The sshd example must be valid sshd configuration and do what it says.
if [ -d /run/sshd ] && command -v sshd >/dev/null; then
	ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
	{
		printf 'HostKey %s\nUsePAM no\n' "$WORK/hostkey"
		cat packaging/sshd/nutslave-sftp.conf
	} >"$WORK/sshd_config"
	t "sshd -t accepts the sshd example" sshd -t -f "$WORK/sshd_config"
	sshd -T -f "$WORK/sshd_config" -C user=nutslave,host=slave,addr=127.0.0.1 >"$WORK/sshd.T" 2>&1 || true
	for want in 'forcecommand internal-sftp -d /flags' 'chrootdirectory /srv/nutslave' \
		'passwordauthentication no' 'allowtcpforwarding no' 'permittty no' 'authenticationmethods publickey'; do
		t "sshd example for user nutslave: $want" grep -qx "$want" "$WORK/sshd.T"
	done
	sshd -T -f "$WORK/sshd_config" -C user=alice,host=slave,addr=127.0.0.1 >"$WORK/sshd.alice" 2>&1 || true
	t "sshd example leaves other users alone" grep -qx 'forcecommand none' "$WORK/sshd.alice"
else
	pass "sshd example check skipped: no sshd or no /run/sshd on this machine"
fi

# ---- helpers for the chroots ---------------------------------------------------

# in_ch CMD...: run in the chroot $CH.
in_ch() { chroot "$CH" "$@"; }
# as_nut CMD...: run in the chroot as user nut, with a clean environment.
as_nut() { chroot --userspec=nut:nut "$CH" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/nut "$@"; }
apt_in() { in_ch env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }
st() { in_ch stat -c '%a %U:%G' "$1" 2>&1; }
# expect_dirs: the tmpfiles directories, as systemd-tmpfiles makes them.
expect_dirs() {
	is "$1: /run/nutslave" "$(st /run/nutslave)" "770 root:nut"
	is "$1: /var/lib/nutslave" "$(st /var/lib/nutslave)" "750 nut:nut"
	is "$1: /var/log/nutslave" "$(st /var/log/nutslave)" "750 nut:nut"
	is "$1: /srv/nutslave" "$(st /srv/nutslave)" "755 root:root"
	is "$1: /srv/nutslave/flags" "$(st /srv/nutslave/flags)" "755 root:root"
	is "$1: /srv/nutslave/flags/acks" "$(st /srv/nutslave/flags/acks)" "1770 root:nutslave"
}
expect_account() {
	is "$1: account nutslave" "$(in_ch getent passwd nutslave | cut -d: -f1,6,7)" "nutslave:/srv/nutslave:/usr/sbin/nologin"
	is "$1: group nutslave" "$(in_ch getent group nutslave | cut -d: -f1)" "nutslave"
	is "$1: nutslave has no password" "$(in_ch getent shadow nutslave | cut -d: -f2)" "*"
}
# run_binaries ETCDIR WANTVERSION
run_binaries() {
	local etc=$1 want=$2 b out rc
	for b in upsslave upsflags upsusb; do
		out=$(as_nut "/usr/sbin/$b" --version 2>&1) || true
		case $out in
		*"$want"*) pass "$b --version as nut: $out" ;;
		*) fail "$b --version as nut: \"$out\", want $want" ;;
		esac
	done
	# The shipped example has MASTER commented out: "not configured".
	rc=0
	out=$(as_nut /usr/sbin/upsslave --config "$etc/upsslave.conf" check 2>&1) || rc=$?
	is "upsslave --config $etc/upsslave.conf check as nut: exit code" "$rc" 6
	t "upsslave check names the missing MASTER" grep -q 'MASTER' <<<"$out"
	rc=0
	out=$(as_nut /usr/sbin/upsslave check 2>&1) || rc=$?
	is "upsslave check finds $etc/upsslave.conf by itself: exit code" "$rc" 6
	t "upsslave check (default path) reads $etc/upsslave.conf" grep -q "$etc/upsslave.conf" <<<"$out"
	# Every example key, uncommented, must be a key the program knows.
	for b in upsslave upsflags; do
		sed 's/^#\([A-Z_][A-Z0-9_]*=\)/\1/' "$CH$etc/$b.conf" >"$CH/tmp/$b-all.conf"
		chmod 0644 "$CH/tmp/$b-all.conf"
		out=$(as_nut "/usr/sbin/$b" --config "/tmp/$b-all.conf" check 2>&1) || true
		if grep -qiE 'unknown key|malformed line|key set more than once' <<<"$out"; then
			fail "$b knows every key of the example $b.conf:"$'\n'"$(sed 's/^/     /' <<<"$out")"
		else
			pass "$b knows every key of the example $b.conf"
		fi
	done
}
# verify_units UNIT...: systemd-analyze verify, run inside the chroot (its
# systemd, no systemd needed here); --man=no because minbase has no man(1)
# (lintian checks the pages).
verify_units() {
	local out
	if out=$(in_ch systemd-analyze verify --man=no "$@" 2>&1) && [ -z "$out" ]; then
		pass "systemd-analyze verify: $*"
	else
		fail "systemd-analyze verify: $*"$'\n'"$(sed 's/^/     /' <<<"$out")"
	fi
}
# leftovers: our names anywhere in the chroot, except package databases.
leftovers() {
	(cd "$CH" && find . -xdev \( -path ./proc -o -path ./var/lib/dpkg -o -path ./var/lib/apt \
		-o -path ./var/cache/apt -o -path ./var/log/apt -o -path ./var/lib/rpm -o -path ./root/.rpmdb \
		-o -path ./tmp \) -prune -o \( -name '*nutslave*' -o -name '*upsslave*' -o -name '*upsflags*' \
		-o -name '*upsusb*' \) -print | sed 's/^\.//' | sort)
}
enter_chroot() {
	fresh_bookworm
	mnt -t proc proc "$CH/proc"
	mkdir -p "$CH/tmp/pkgs"
}
leave_chroot() {
	umount_all
	rm_tree "$CH"
}

# ---- 3. .deb -------------------------------------------------------------------

section ".deb: install into a fresh Debian 12 chroot"
enter_chroot
cp "$DEB_S" "$DEB_M" "$V2_DEB_S" "$V2_DEB_M" "$CH/tmp/pkgs/"
d1s=/tmp/pkgs/$(basename "$DEB_S") d1m=/tmp/pkgs/$(basename "$DEB_M")
d2s=/tmp/pkgs/$(basename "$V2_DEB_S") d2m=/tmp/pkgs/$(basename "$V2_DEB_M")
apt_in update >/dev/null 2>&1 || die "apt-get update failed in the chroot"
if apt_in install --no-install-recommends "$d1s" "$d1m" >"$WORK/apt1.log" 2>&1; then
	pass "apt-get install ./nutslave*.deb (pulls nut-client, libusb-1.0-0)"
else
	fail "apt-get install"
	sed 's/^/     /' "$WORK/apt1.log"
fi
is "dpkg status nutslave" "$(in_ch dpkg-query -W -f '${db:Status-Status} ${Version}' nutslave)" "installed $DEBVER"
is "dpkg status nutslave-master" "$(in_ch dpkg-query -W -f '${db:Status-Status} ${Version}' nutslave-master)" "installed $DEBVER"

# Every file: owner and mode as the package says.
check_deb_files() {
	local list=$1 bad=0 perm owner path got
	while read -r perm owner path; do
		case $perm in d*) continue ;; esac
		path=${path#.}
		got=$(in_ch stat -c '%A %U/%G' "$path" 2>&1)
		if [ "$got" != "$perm $owner" ]; then
			fail "$2: $path is \"$got\", want \"$perm $owner\""
			bad=1
		fi
	done <"$list"
	[ $bad = 1 ] || pass "$2: every file has the owner and mode of the package"
}
check_deb_files "$WORK/deb-s.list" "nutslave installed"
check_deb_files "$WORK/deb-m.list" "nutslave-master installed"
# apt unpacks our packages before nut-client's postinst creates the group
# nut; then dpkg gives the config group root and our postinst fixes it.
if awk '/Unpacking nutslave /{u=NR} /Setting up nut-client /{s=NR} END{exit !(u && s && u < s)}' "$WORK/apt1.log"; then
	pass "unpacked before the group nut existed: the postinst's group fix was exercised"
else
	pass "nut-client was set up before our unpack: the postinst's group fix was not needed"
fi
is "/etc/nut/upsslave.conf" "$(st /etc/nut/upsslave.conf)" "640 root:nut"
is "/etc/nut/upsflags.conf" "$(st /etc/nut/upsflags.conf)" "640 root:nut"
t "user nut can read upsslave.conf" as_nut test -r /etc/nut/upsslave.conf
expect_dirs "deb"
expect_account "deb"
t "the sshd example is not active" test ! -e "$CH/etc/ssh/sshd_config.d/nutslave-sftp.conf"
W=$CH/etc/systemd/system
for l in timers.target.wants/upsslave-heartbeat.timer timers.target.wants/upsflags.timer \
	paths.target.wants/upsflags.path multi-user.target.wants/upsflags-reset.service; do
	t "enabled: $l" test -L "$W/$l"
done
t "not enabled: upsflags-watch.service" test ! -e "$W/multi-user.target.wants/upsflags-watch.service"
t "the postinst printed the next steps" grep -q 'Nothing runs until you have done this' "$WORK/apt1.log"
t "not marked checked: upsflags.service does not run yet" test ! -e "$CH/var/lib/nutslave/upsflags.checked"
t "upsflags.service waits for upsflags check" grep -qx 'ConditionPathExists=/var/lib/nutslave/upsflags.checked' "$CH/lib/systemd/system/upsflags.service"
verify_units upsslave-heartbeat.service upsslave-heartbeat.timer upsflags.service upsflags.timer \
	upsflags.path upsflags-reset.service upsflags-watch.service
run_binaries /etc/nut "$VERSION"
# The halt hook on an ordinary halt (no sdf in this boot): tells the UPS nothing.
out=$(in_ch /lib/systemd/system-shutdown/nutslave-killpower poweroff 2>&1) && rc=0 || rc=$?
is "the halt hook on an ordinary halt: exit code" "$rc" 0
t "the halt hook on an ordinary halt tells the UPS nothing" grep -q 'no sdf in this boot: an ordinary poweroff, the UPS is not told anything' <<<"$out"
if in_ch logrotate -d /etc/logrotate.d/nutslave /etc/logrotate.d/nutslave-master >"$WORK/logrotate.out" 2>&1 &&
	! grep -q '^error' "$WORK/logrotate.out"; then
	pass "logrotate accepts our files"
else
	fail "logrotate accepts our files"
	sed 's/^/     /' "$WORK/logrotate.out"
fi
t "dpkg -V is clean" test -z "$(in_ch dpkg -V nutslave nutslave-master 2>&1)"

section ".deb: administrator's changes survive an upgrade"
echo '# edited by package-test' >>"$CH/etc/nut/upsslave.conf"
echo '# edited by package-test' >>"$CH/etc/nut/upsflags.conf"
echo 'NOTIFYCMD "/usr/sbin/upssched"' >>"$CH/etc/nut/upsmon.conf"
in_ch systemctl disable upsslave-heartbeat.timer >/dev/null 2>&1
t "admin disabled upsslave-heartbeat.timer" test ! -e "$W/timers.target.wants/upsslave-heartbeat.timer"
if apt_in install --no-install-recommends "$d2s" "$d2m" >"$WORK/apt2.log" 2>&1; then
	pass "apt-get install of the newer build"
else
	fail "apt-get install of the newer build"
	sed 's/^/     /' "$WORK/apt2.log"
fi
is "upgraded nutslave" "$(in_ch dpkg-query -W -f '${Version}' nutslave)" "$UPSTREAM.1-$RELEASE"
t "postinst: the lines that keep upsmon's NOTIFYCMD (slave)" grep -qF 'in /etc/nut/upsslave.conf:  NOTIFYCMD_NEXT="/usr/sbin/upssched"' "$WORK/apt2.log"
t "postinst: the lines that keep upsmon's NOTIFYCMD (master)" grep -qF 'NOTIFYCMD /usr/sbin/upsflags' "$WORK/apt2.log"
is "upgraded nutslave-master" "$(in_ch dpkg-query -W -f '${Version}' nutslave-master)" "$UPSTREAM.1-$RELEASE"
t "edit of upsslave.conf survived" grep -q 'edited by package-test' "$CH/etc/nut/upsslave.conf"
t "edit of upsflags.conf survived" grep -q 'edited by package-test' "$CH/etc/nut/upsflags.conf"
t "no .dpkg-dist/.dpkg-new left" sh -c "! ls '$CH'/etc/nut/*.dpkg-* 2>/dev/null | grep -q ."
is "/etc/nut/upsslave.conf after upgrade" "$(st /etc/nut/upsslave.conf)" "640 root:nut"
t "upsslave-heartbeat.timer still disabled" test ! -e "$W/timers.target.wants/upsslave-heartbeat.timer"
t "upsflags.timer still enabled" test -L "$W/timers.target.wants/upsflags.timer"
out=$(as_nut /usr/sbin/upsslave --version 2>&1) || true
t "the new upsslave is installed" grep -qF -- "$NEWVERSION" <<<"$out"
t "dpkg -V lists only the edited conffiles" sh -c \
	"chroot '$CH' dpkg -V nutslave nutslave-master | grep -vE ' c /etc/nut/(upsslave|upsflags).conf$' | grep -q . && exit 1 || exit 0"
expect_dirs "deb upgraded"

section ".deb: purge"
if apt_in purge nutslave nutslave-master >"$WORK/apt3.log" 2>&1; then
	pass "apt-get purge"
else
	fail "apt-get purge"
	sed 's/^/     /' "$WORK/apt3.log"
fi
left=$(leftovers)
is "nothing of ours left after purge" "$left" ""
is "the account nutslave stays (Debian policy)" "$(in_ch getent passwd nutslave | cut -d: -f1)" "nutslave"
t "no deb-systemd-helper state left" sh -c "! grep -rqE 'upsflags|upsslave' '$CH/var/lib/systemd/deb-systemd-helper-enabled' 2>/dev/null"
leave_chroot

# ---- 4. .rpm -------------------------------------------------------------------

section ".rpm: install with rpm --root into a fresh Debian 12 chroot (--nodeps)"
enter_chroot
apt_in update >/dev/null 2>&1 || die "apt-get update failed in the chroot"
apt_in install --no-install-recommends nut-client libusb-1.0-0 >"$WORK/apt4.log" 2>&1 ||
	{ cat "$WORK/apt4.log"; die "could not install nut-client in the rpm chroot"; }
in_ch systemctl disable nut-monitor.service >/dev/null 2>&1 || true
rpmq --root "$CH" --initdb
if rpmq --root "$CH" -i --nodeps "$RPM_S" "$RPM_M" >"$WORK/rpm1.log" 2>&1; then
	pass "rpm -i --nodeps"
else
	fail "rpm -i --nodeps"
	sed 's/^/     /' "$WORK/rpm1.log"
fi
t "rpm -i printed no warnings" sh -c "! grep -qi warn '$WORK/rpm1.log'"
t "rpm -i printed the next steps" grep -q 'Run: upsflags check' "$WORK/rpm1.log"
t "not marked checked (rpm): upsflags.service does not run yet" test ! -e "$CH/var/lib/nutslave/upsflags.checked"
is "rpm -q" "$(rpmq --root "$CH" -q nutslave nutslave-master | tr '\n' ' ')" \
	"nutslave-$UPSTREAM-$RELEASE.$RPMARCH nutslave-master-$UPSTREAM-$RELEASE.$RPMARCH "
out=$(rpmq --root "$CH" -V --nodeps nutslave nutslave-master 2>&1) || true
is "rpm -V (every file's digest, mode, owner)" "$out" ""
is "/etc/ups/upsslave.conf" "$(st /etc/ups/upsslave.conf)" "640 root:nut"
is "/etc/ups/upsflags.conf" "$(st /etc/ups/upsflags.conf)" "640 root:nut"
t "the .rpm's upsslave.conf names /etc/ups, not /etc/nut" sh -c \
	"grep -q '^#IDENTITY=/etc/ups/upsslave.key$' '$CH/etc/ups/upsslave.conf' && ! grep -q /etc/nut/ '$CH/etc/ups/upsslave.conf'"
expect_dirs "rpm"
expect_account "rpm"
W=$CH/etc/systemd/system
for l in timers.target.wants/upsslave-heartbeat.timer timers.target.wants/upsflags.timer \
	paths.target.wants/upsflags.path multi-user.target.wants/upsflags-reset.service; do
	t "enabled by preset: $l" test -L "$W/$l"
done
t "not enabled: upsflags-watch.service" test ! -e "$W/multi-user.target.wants/upsflags-watch.service"
verify_units upsslave-heartbeat.service upsslave-heartbeat.timer upsflags.service upsflags.timer \
	upsflags.path upsflags-reset.service upsflags-watch.service
run_binaries /etc/ups "$VERSION"

section ".rpm: administrator's changes survive an upgrade"
echo '# edited by package-test' >>"$CH/etc/ups/upsslave.conf"
echo '# edited by package-test' >>"$CH/etc/ups/upsflags.conf"
in_ch systemctl disable upsslave-heartbeat.timer >/dev/null 2>&1
if rpmq --root "$CH" -U --nodeps "$V2_RPM_S" "$V2_RPM_M" >"$WORK/rpm2.log" 2>&1; then
	pass "rpm -U --nodeps of the newer build"
else
	fail "rpm -U --nodeps of the newer build"
	sed 's/^/     /' "$WORK/rpm2.log"
fi
is "rpm -q after upgrade" "$(rpmq --root "$CH" -q nutslave nutslave-master | tr '\n' ' ')" \
	"nutslave-$UPSTREAM.1-$RELEASE.$RPMARCH nutslave-master-$UPSTREAM.1-$RELEASE.$RPMARCH "
t "edit of upsslave.conf survived" grep -q 'edited by package-test' "$CH/etc/ups/upsslave.conf"
t "edit of upsflags.conf survived" grep -q 'edited by package-test' "$CH/etc/ups/upsflags.conf"
t "no .rpmnew (the packaged config did not change)" sh -c "! ls '$CH'/etc/ups/*.rpmnew 2>/dev/null | grep -q ."
t "upsslave-heartbeat.timer still disabled" test ! -e "$W/timers.target.wants/upsslave-heartbeat.timer"
t "upsflags.timer still enabled" test -L "$W/timers.target.wants/upsflags.timer"
out=$(as_nut /usr/sbin/upsslave --version 2>&1) || true
t "the new upsslave is installed" grep -qF -- "$NEWVERSION" <<<"$out"
out=$(rpmq --root "$CH" -V --nodeps nutslave nutslave-master 2>&1 | grep -vE ' c /etc/ups/(upsslave|upsflags)\.conf$') || true
is "rpm -V lists only the edited configs" "$out" ""

section ".rpm: erase"
if rpmq --root "$CH" -e --nodeps nutslave nutslave-master >"$WORK/rpm3.log" 2>&1; then
	pass "rpm -e"
else
	fail "rpm -e"
	sed 's/^/     /' "$WORK/rpm3.log"
fi
# RPM keeps an edited config as .rpmsave, and log and state files (not
# owned by the package); the account stays.
is "only the edited configs (.rpmsave), logs and state are left" \
	"$(leftovers | grep -vE '^/var/(log|lib)/nutslave(/|$)' | tr '\n' ' ')" \
	"/etc/ups/upsflags.conf.rpmsave /etc/ups/upsslave.conf.rpmsave "
t "units disabled on erase" sh -c "! find '$W' -name 'ups*' | grep -q ."
leave_chroot

printf '\npackage-test: %d passed, %d failed\n' "$PASS" "$FAIL"
[ "$FAIL" -eq 0 ]
