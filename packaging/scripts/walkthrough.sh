#!/usr/bin/env bash
# walkthrough.sh: follow README.md's "Setting up the master" and "Setting
# up a slave" literally, with the .debs "make package" built, on two hosts:
# two network namespaces joined by a veth pair on 198.18.0.0/15 (no route
# out), each with its own fresh Debian 12 root (a chroot from the cached
# bookworm tarball, as test-packages.sh uses). Run by "make
# walkthrough-test", as root.
#
#   master  198.18.0.1  nutslave-master, nut-server, openssh-server;
#                       dummy-ups reads a .dev file instead of the USB
#                       cable; upsd, sshd and a primary upsmon (NOTIFYCMD
#                       upsflags, step 5) started by hand (no systemd)
#   slave   198.18.0.2  nutslave, nut-client; a real secondary upsmon
#                       whose NOTIFYCMD is upsslave
#
# Then the README's slave step 5: "upsflags drill" answered by the slave,
# "upsslave simulate ONBATT"; and a power failure: the dummy UPS goes on
# battery below STDWCHARGE, "upsflags watch" (the cron example's line,
# standing in for upsflags.timer) writes sdf, the slave's upsmon runs
# upsslave, which acknowledges and records its shutdown, and the master
# records its own, last.
#
# THE ONE DEVIATION FROM THE README: every SHUTDOWNCMD (upsflags.conf,
# upsslave.conf, the master's upsmon.conf) is a recorder that appends a
# line to a file; the slave's upsmon SHUTDOWNCMD stays "/usr/sbin/upsslave
# shutdown" as the README says, which runs upsslave.conf's recorder. As a
# safety net /usr/sbin/{shutdown,poweroff,halt,reboot} inside both roots
# are recorders too, and the test fails if one was called. Nothing here
# ever powers anything off.
# Where the README needs systemd (systemctl restart/reload, the timers),
# the daemons and the timers' commands are started by hand; each such
# place says so. Where the README, followed literally, does not work, the
# test does the closest correct thing and prints a "note" line (repeated
# at the end). Everything started is stopped by pid at the end; the
# namespaces, mounts and roots are removed by the EXIT trap, and the logs
# of both hosts are kept in $DIST/walkthrough-logs.
#
# Ends with "walkthrough: N passed, M failed"; exits 1 if any failed.
# Prints why and exits 0 when it cannot run here (not root, no debootstrap,
# no ip).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=packaging/scripts/lib.sh
. packaging/scripts/lib.sh

skip() {
	printf 'walkthrough: SKIP: %s\n' "$*"
	exit 0
}
[ "$(id -u)" -eq 0 ] || skip "needs root (chroot, mount, ip netns)"
command -v debootstrap >/dev/null || skip "no debootstrap (apt-get install debootstrap)"
command -v ip >/dev/null || skip "no ip (apt-get install iproute2)"
DIST=${DIST:-dist}
[ -s "$DIST/packages.txt" ] || die "no $DIST/packages.txt: run make package first"
DEB_S=$(grep -E '/nutslave_[^/]*\.deb$' "$DIST/packages.txt")
DEB_M=$(grep -E '/nutslave-master_[^/]*\.deb$' "$DIST/packages.txt")
[ -f "$DEB_S" ] && [ -f "$DEB_M" ] || die "missing $DEB_S or $DEB_M"

START=$(date +%s)
section() { printf '\n== %s (at %ds)\n' "$*" "$(($(date +%s) - START))"; }
# note: a place where the README, followed literally, does not work and
# the test does the closest correct thing (listed again at the end).
NOTES=()
note() {
	NOTES+=("$*")
	printf 'note %s\n' "$*"
}
indent() { sed 's/^/     /'; }

# The two hosts. The names carry our pid, so parallel runs do not clash;
# interface names stay under 15 characters.
MASTER_IP=198.18.0.1
SLAVE_IP=198.18.0.2
NS_M=walk-m$$
NS_S=walk-s$$
VETH_M=wkm$$
VETH_S=wks$$
UPS=ups1200lx-1 # the README's UPS name
NAME=web1       # the README's slave NAME
RECORD=/var/tmp/walkthrough-shutdowns

# ---- processes, namespaces: always undone --------------------------------------

PIDS=()
NETNS=()
CH_M=
CH_S=

# stop_pids PID...: TERM to all, up to 5 s for them to go, then KILL.
stop_pids() {
	local p i alive
	[ $# -gt 0 ] || return 0
	kill -TERM "$@" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ $alive = 1 ] || return 0
		sleep 0.1
	done
	kill -KILL "$@" 2>/dev/null || true
}

# in_roots: the pids of every process whose root directory is one of our
# chroots (sshd's sessions, upsmon's child, upsslave's watchers, a daemon
# that forked).
in_roots() {
	local p r c
	for p in /proc/[0-9]*; do
		r=$(readlink "$p/root" 2>/dev/null) || continue
		for c in "$CH_M" "$CH_S"; do
			[ -n "$c" ] || continue
			case $r in "$c" | "$c"/*) echo "${p#/proc/}" ;; esac
		done
	done
}

# stop_all: what we started (by pid), then anything else still running in
# our roots.
stop_all() {
	local p
	stop_pids "${PIDS[@]}"
	PIDS=()
	# shellcheck disable=SC2046 # one pid per word
	stop_pids $(in_roots)
	for p in $(in_roots); do kill -KILL "$p" 2>/dev/null || true; done
}

# keep_logs: copy both hosts' logs to $LOGS before the roots go.
LOGS=$DIST/walkthrough-logs
keep_logs() {
	local host root
	rm -rf "$LOGS"
	for host in master slave; do
		root=$CH_M
		[ $host = master ] || root=$CH_S
		[ -n "$root" ] && [ -d "$root" ] || continue
		mkdir -p "$LOGS/$host"
		cp -a "$root"/tmp/*.log "$root"/tmp/*.out "$root/var/log/nutslave" "$root$RECORD" "$LOGS/$host/" 2>/dev/null || true
	done
}

walk_cleanup() {
	local rc=$? n
	stop_all
	keep_logs
	for n in "${NETNS[@]}"; do ip netns delete "$n" 2>/dev/null || true; done
	NETNS=()
	cleanup # lib.sh: mounts, then the roots
	exit "$rc"
}
trap walk_cleanup EXIT

# bg_in NS ROOT LOG CMD...: start CMD in namespace NS and root ROOT, in the
# background; its pid (ip netns exec and chroot exec it) is remembered.
bg_in() {
	local ns=$1 root=$2 log=$3
	shift 3
	ip netns exec "$ns" chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C "$@" \
		>"$log" 2>&1 </dev/null &
	PIDS+=("$!")
}
# on_m / on_s CMD...: run CMD on the master / the slave, as root, in its
# namespace and root, with a clean environment and a deadline.
on_m() { timeout 120 ip netns exec "$NS_M" chroot "$CH_M" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C "$@"; }
on_s() { timeout 120 ip netns exec "$NS_S" chroot "$CH_S" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C "$@"; }
# sh_m / sh_s SCRIPT: the README's shell lines, as written, as root.
sh_m() { on_m sh -ec "$1"; }
sh_s() { on_s sh -ec "$1"; }

# wait_for SECONDS WHAT CMD...: poll CMD every 0.2 s until it succeeds;
# fails the check WHAT after SECONDS.
# A failed wait ends the walkthrough: what follows depends on it.
wait_for() {
	local secs=$1 what=$2 end
	shift 2
	end=$(($(date +%s) + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$end" ]; then
			fail "$what (not within ${secs}s)"
			abort
		fi
		sleep 0.2
	done
	pass "$what"
}
# abort: stop here, with the tails of the logs and the summary.
abort() {
	local f root
	for root in "$CH_M" "$CH_S"; do
		[ -n "$root" ] || continue
		for f in "$root"/tmp/*.log "$root"/var/log/nutslave/*.log; do
			[ -s "$f" ] || continue
			printf '     --- %s\n' "${f#"$PKG_CACHE"/}"
			tail -n 15 "$f" | indent
		done
	done
	summary
	exit 1
}
summary() {
	local n
	[ ${#NOTES[@]} -eq 0 ] || printf '\nwhere the README, followed literally, did not work (%d):\n' ${#NOTES[@]}
	for n in "${NOTES[@]}"; do printf 'note %s\n' "$n"; done
	printf '\nwalkthrough: %d passed, %d failed in %ds (logs: %s)\n' "$PASS" "$FAIL" "$(($(date +%s) - START))" "$LOGS"
}

# run_ok DESCRIPTION CMD...: one check that CMD exits 0; its output is
# shown when it does not.
run_ok() {
	local d=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$d"
	else
		fail "$d (exit $?)"
		printf '%s\n' "$out" | indent
	fi
}

# ---- the two hosts ------------------------------------------------------------

section "two hosts: network namespaces $NS_M ($MASTER_IP) and $NS_S ($SLAVE_IP)"
ip netns add "$NS_M" || skip "cannot create a network namespace here"
NETNS+=("$NS_M")
ip netns add "$NS_S"
NETNS+=("$NS_S")
# Both ends are created inside the namespaces: nothing touches the root
# namespace, and neither namespace has a route out of 198.18.0.0/30.
ip -n "$NS_M" link add "$VETH_M" type veth peer name "$VETH_S" netns "$NS_S"
ip -n "$NS_M" addr add "$MASTER_IP/30" dev "$VETH_M"
ip -n "$NS_S" addr add "$SLAVE_IP/30" dev "$VETH_S"
for pair in "$NS_M $VETH_M" "$NS_S $VETH_S"; do
	read -r ns veth <<<"$pair"
	ip -n "$ns" link set lo up
	ip -n "$ns" link set "$veth" up
	is "$ns has no default route" "$(ip -n "$ns" route show default)" ""
done

# A fresh Debian 12 root per host. apt runs in the root namespace (it
# needs the mirror, as in test-packages.sh); everything else runs inside
# the host's namespace. The downloaded .debs are kept in PKG_CACHE between
# runs.
APT_ARCHIVES=$PKG_CACHE/walkthrough-apt
mkdir -p "$APT_ARCHIVES/partial"
new_root() {
	fresh_bookworm
	mnt -t proc proc "$CH/proc"
	mnt --bind "$APT_ARCHIVES" "$CH/var/cache/apt/archives"
	mkdir -p "$CH/tmp/pkgs"
	# debootstrap leaves no /etc/hosts; an installed Debian has these.
	[ -s "$CH/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$CH/etc/hosts"
	# The safety net: no program inside can power anything off.
	local b
	for b in shutdown poweroff halt reboot; do
		rm -f "$CH/usr/sbin/$b"
		printf '#!/bin/sh\necho "UNEXPECTED $0 $*" >>%s\n' "$RECORD" >"$CH/usr/sbin/$b"
		chmod 0755 "$CH/usr/sbin/$b"
	done
}
apt_in() {
	chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "${@:2}"
}
install_in() {
	local root=$1 what=$2 log
	shift 2
	log=$(mktemp -p "$root/tmp" --suffix=.log apt.XXXXXX)
	if apt_in "$root" update >"$log" 2>&1 && apt_in "$root" install --no-install-recommends "$@" >>"$log" 2>&1; then
		pass "$what: apt-get install $*"
	else
		fail "$what: apt-get install $*"
		abort
	fi
}

new_root
CH_M=$CH
new_root
CH_S=$CH
cp "$DEB_M" "$CH_M/tmp/pkgs/"
cp "$DEB_S" "$CH_S/tmp/pkgs/"

# ---- the master: README "Setting up the master" ----------------------------------------

section "master: install (README: Installing the packages)"
install_in "$CH_M" master "/tmp/pkgs/$(basename "$DEB_M")" nut-server openssh-server
t "master: the postinst did not mark it checked" test ! -e "$CH_M/var/lib/nutslave/upsflags.checked"

section "master step 1: NUT, as it is (dummy-ups instead of the USB cable)"
# "NUT, as it is": the README assumes a working NUT. Here the UPS is
# dummy-ups reading a .dev file that the test rewrites for the outage.
write_dev() { # STATUS CHARGE
	printf 'ups.status: %s\nbattery.charge: %s\nbattery.runtime: 1800\n' "$1" "$2" >"$CH_M/etc/nut/$UPS.dev.tmp"
	mv "$CH_M/etc/nut/$UPS.dev.tmp" "$CH_M/etc/nut/$UPS.dev"
}
write_dev OL 100
chroot "$CH_M" chown root:nut "/etc/nut/$UPS.dev"
chmod 0640 "$CH_M/etc/nut/$UPS.dev"
cat >>"$CH_M/etc/nut/ups.conf" <<EOF
[$UPS]
	driver = dummy-ups
	port = $UPS.dev
	desc = "walkthrough: dummy-ups, not the USB cable"
EOF
# README: "with MODE=netserver in /etc/nut/nut.conf (Debian ships
# MODE=none, which keeps upsd and upsmon from starting)".
sed -i 's/^MODE=.*/MODE=netserver/' "$CH_M/etc/nut/nut.conf"
# README: "in /etc/nut/upsd.conf, LISTEN 0.0.0.0 3493 (or the master's
# address plus LISTEN 127.0.0.1 3493, where upsflags' SOURCE=auto looks)".
printf 'LISTEN %s 3493\nLISTEN 127.0.0.1 3493\n' "$MASTER_IP" >>"$CH_M/etc/nut/upsd.conf"
# README: "in /etc/nut/upsd.users an account for them", literally.
cat >>"$CH_M/etc/nut/upsd.users" <<'EOF'
[monslave]
    password = passw2
    upsmon secondary
EOF
# "NUT, as it is" includes the master's own upsmon as primary; its upsd
# account is the administrator's, not in the README.
cat >>"$CH_M/etc/nut/upsd.users" <<'EOF'
[upsmon-master]
    password = walkthrough-primary
    upsmon primary
EOF
# README: "then systemctl restart nut-server". No systemd here: the
# driver through upsdrvctl as NUT's units do, and upsd, by hand.
install -d -m 0770 -o root -g "$(chroot "$CH_M" id -g nut)" "$CH_M/run/nut"
run_ok "master: upsdrvctl start" on_m upsdrvctl start
DRIVER_PID=$(cat "$CH_M/run/nut/dummy-ups-$UPS.pid" 2>/dev/null || true)
[ -n "$DRIVER_PID" ] && PIDS+=("$DRIVER_PID")
bg_in "$NS_M" "$CH_M" "$CH_M/tmp/upsd.log" upsd -F
# upsd answers WAIT until the driver's first reading.
upsd_real() { [ "$(on_m upsc "$UPS@$MASTER_IP" ups.status 2>/dev/null)" = OL ]; }
wait_for 20 "master: upsd serves $UPS on $MASTER_IP:3493 (ups.status OL)" upsd_real

section "master step 2: /etc/nut/upsflags.conf"
# The README's lines, SLAVES naming our one slave; SHUTDOWNCMD is the
# recorder (the one deviation).
cat >"$CH_M/usr/local/sbin/record-shutdown" <<EOF
#!/bin/sh
# walkthrough: records a shutdown instead of doing it
echo "\$(date +%s.%N) \$*" >>$RECORD
EOF
chmod 0755 "$CH_M/usr/local/sbin/record-shutdown"
cat >>"$CH_M/etc/nut/upsflags.conf" <<EOF
SLAVES="$NAME"    # each slave's NAME: the master waits for all of them, then goes last
STDWCHARGE=50            # on battery, act below 50 % charge (DEBOUNCE=2 readings in a row)
#SOURCE=auto             # upsd on localhost if it serves the UPS (NUT's driver then holds
                         # the USB device), else USB; or nut://ups@localhost, usb://0001:0000
#STDWRUNTIME=300s  MAXONBATT=20m  HOSTSYNC=120s  DEADTIME=30s
SHUTDOWNCMD="/usr/local/sbin/record-shutdown master"    # walkthrough: never a real shutdown
EOF
is "master: upsflags.conf is root:nut 0640" "$(chroot "$CH_M" stat -c '%U:%G %a' /etc/nut/upsflags.conf)" "root:nut 640"

section "master step 3: let the slaves in over SFTP"
run_ok "master: the README's commands (cp, install, sshd -t)" sh_m '
mkdir -p /run/sshd   # systemd makes it for ssh.service (RuntimeDirectory)
cp /usr/share/nutslave/sshd-nutslave-sftp.conf /etc/ssh/sshd_config.d/nutslave-sftp.conf
install -m 0644 /dev/null /etc/ssh/nutslave_authorized_keys   # one line per slave key, below
sshd -t'
# README: "&& systemctl reload ssh". No systemd: sshd started by hand.
bg_in "$NS_M" "$CH_M" "$CH_M/tmp/sshd.log" /usr/sbin/sshd -D -e
banner() { on_s timeout 3 bash -c "exec 3<>/dev/tcp/$MASTER_IP/22 && head -c 8 <&3" | grep -q '^SSH-2.0-'; }
wait_for 20 "master: sshd answers the slave on $MASTER_IP:22" banner

section "master step 4: check"
rc=0
out=$(on_m upsflags check 2>&1) || rc=$?
printf '%s\n' "$out" | indent
t "master: upsflags check wrote /var/lib/nutslave/upsflags.checked (exit $rc; the slave is not seen yet)" \
	test -e "$CH_M/var/lib/nutslave/upsflags.checked"
is "master: FLAGDIR" "$(chroot "$CH_M" stat -c '%U:%G %a' /srv/nutslave/flags)" "root:root 755"
is "master: ACKDIR" "$(chroot "$CH_M" stat -c '%U:%G %a' /srv/nutslave/flags/acks)" "root:nutslave 1770"
run_ok "master: upsflags status" on_m upsflags status

section "master step 5: upsflags as the master's own NOTIFYCMD"
# The primary upsmon of "NUT, as it is" (its MONITOR line is the
# administrator's; SHUTDOWNCMD the recorder, the one deviation), with the
# README's step 5 lines.
cat >>"$CH_M/etc/nut/upsmon.conf" <<EOF
MONITOR $UPS@localhost 1 upsmon-master walkthrough-primary primary
SHUTDOWNCMD "/usr/local/sbin/record-shutdown master-upsmon"
NOTIFYCMD /usr/sbin/upsflags
NOTIFYFLAG ONBATT  SYSLOG+WALL+EXEC
NOTIFYFLAG ONLINE  SYSLOG+WALL+EXEC
NOTIFYFLAG LOWBATT SYSLOG+WALL+EXEC
NOTIFYFLAG FSD     SYSLOG+WALL+EXEC
EOF
# systemd would start nut-monitor; here upsmon by hand, as its unit does.
bg_in "$NS_M" "$CH_M" "$CH_M/tmp/upsmon.log" upsmon -F
master_logged_in() { on_m upsc -c "$UPS@localhost" | grep -qx 127.0.0.1; }
wait_for 30 "master's upsd: the master's own upsmon (primary) logged in" master_logged_in

# ---- the slave: README "Setting up a slave" ----------------------------------------

section "slave: install (README: Installing the packages)"
# README: "Install nutslave on the slave (and openssh-client, for
# ssh-keygen)".
install_in "$CH_S" slave "/tmp/pkgs/$(basename "$DEB_S")" nut-client openssh-client

section "slave step 1: a key for the master's SFTP account"
run_ok "slave: ssh-keygen, chown, chmod as written" sh_s '
ssh-keygen -t ed25519 -N "" -C "upsslave@$(hostname -s)" -f /etc/nut/upsslave.key
chown root:nut /etc/nut/upsslave.key*; chmod 0640 /etc/nut/upsslave.key'
# "cat /etc/nut/upsslave.key.pub    # append this line on the master"
on_s cat /etc/nut/upsslave.key.pub >>"$CH_M/etc/ssh/nutslave_authorized_keys"
is "master: one key in /etc/ssh/nutslave_authorized_keys" "$(wc -l <"$CH_M/etc/ssh/nutslave_authorized_keys")" 1

section "slave step 2: /etc/nut/upsslave.conf"
cat >"$CH_S/usr/local/sbin/record-shutdown" <<EOF
#!/bin/sh
# walkthrough: records a shutdown instead of doing it
echo "\$(date +%s.%N) \$*" >>$RECORD
EOF
chmod 0755 "$CH_S/usr/local/sbin/record-shutdown"
cat >>"$CH_S/etc/nut/upsslave.conf" <<EOF
MASTER=nutslave@$MASTER_IP       # the master's SFTP-only account
NAME=$NAME                         # default: the short host name; listed in the master's SLAVES
# IDENTITY=/etc/nut/upsslave.key             (root:nut 0640)
# KNOWN_HOSTS=/etc/nut/upsslave.known_hosts
# FLAGDIR=/flags                  # as seen over SFTP (chrooted)
# ACKDIR=/flags/acks
# POLL=250ms  SDFWAIT=60s  DEADTIME=60s
# SHUTDOWNCMD="/sbin/shutdown -h +0"
SHUTDOWNCMD="/usr/local/sbin/record-shutdown $NAME"    # walkthrough: never a real shutdown
EOF
is "slave: upsslave.conf is root:nut 0640" "$(chroot "$CH_S" stat -c '%U:%G %a' /etc/nut/upsslave.conf)" "root:nut 640"

section "slave step 3: trust the master and check"
# "upsslave trust   # shows the master's fingerprint, asks": the answer is
# the master's own fingerprint, as the prompt suggests comparing.
FP=$(chroot "$CH_M" ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{print $2}')
run_ok "slave: upsslave trust --fingerprint $FP" on_s upsslave trust --fingerprint "$FP"
run_ok "slave: upsslave check" on_s upsslave check
run_ok "slave: upsslave heartbeat" on_s upsslave heartbeat
t "master: seen.$NAME in ACKDIR" test -e "$CH_M/srv/nutslave/flags/acks/seen.$NAME"
run_ok "master: upsflags check passes now that the slave is seen" on_m upsflags check

# Step 3 ran as root; upsmon's NOTIFYCMD and upsslave-heartbeat.timer run
# upsslave as user nut, which must still write its LOGFILE and STATEDIR.
as_nut_s() { on_s setpriv --reuid=nut --regid=nut --init-groups "$@"; }
t "slave: user nut can still write /var/log/nutslave/upsslave.log after step 3 (as root)" \
	as_nut_s sh -c 'test ! -e /var/log/nutslave/upsslave.log || test -w /var/log/nutslave/upsslave.log'
is "slave: nothing in STATEDIR that user nut cannot write after step 3" \
	"$(as_nut_s find /var/lib/nutslave ! -writable 2>&1 | tr '\n' ' ')" ""

section "slave step 4: upsmon"
cat >>"$CH_S/etc/nut/upsmon.conf" <<EOF
MONITOR $UPS@$MASTER_IP:3493 1 monslave passw2 secondary
NOTIFYCMD /usr/sbin/upsslave
NOTIFYFLAG ONLINE   SYSLOG+WALL+EXEC
NOTIFYFLAG ONBATT   SYSLOG+WALL+EXEC
NOTIFYFLAG LOWBATT  SYSLOG+WALL+EXEC
NOTIFYFLAG FSD      SYSLOG+WALL+EXEC
NOTIFYFLAG COMMOK   SYSLOG+WALL+EXEC
NOTIFYFLAG COMMBAD  SYSLOG+WALL+EXEC
NOTIFYFLAG SHUTDOWN SYSLOG+WALL+EXEC
NOTIFYFLAG NOCOMM   SYSLOG+WALL+EXEC
NOTIFYFLAG NOPARENT SYSLOG+WALL+EXEC
SHUTDOWNCMD "/usr/sbin/upsslave shutdown"
EOF
# README: "with MODE=netclient in /etc/nut/nut.conf".
sed -i 's/^MODE=.*/MODE=netclient/' "$CH_S/etc/nut/nut.conf"
# README: "then systemctl restart nut-monitor". No systemd: upsmon by hand,
# as the unit does (upsmon -F), without -D.
install -d -m 0770 -o root -g "$(chroot "$CH_S" id -g nut)" "$CH_S/run/nut"
bg_in "$NS_S" "$CH_S" "$CH_S/tmp/upsmon.log" upsmon -F
slave_logged_in() { on_m upsc -c "$UPS@$MASTER_IP" | grep -qx "$SLAVE_IP"; }
wait_for 30 "master's upsd: the slave's upsmon logged in from $SLAVE_IP" slave_logged_in

# ---- step 5: try the whole path ------------------------------------------------

section "slave step 5: upsflags drill, answered by the slave"
# The slave answers a drill at its next heartbeat; upsslave-heartbeat.timer
# runs "upsslave heartbeat" as user nut, which this loop does instead.
on_m upsflags drill --timeout 30s >"$CH_M/tmp/drill.out" 2>&1 &
DRILL=$!
PIDS+=("$DRILL")
end=$(($(date +%s) + 40))
while kill -0 "$DRILL" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do
	as_nut_s upsslave heartbeat >/dev/null 2>&1 || true
	sleep 1
done
rc=0
wait "$DRILL" || rc=$?
indent <"$CH_M/tmp/drill.out"
is "master: upsflags drill exit code" "$rc" 0
t "master: the drill says 1 of 1 answered" grep -q '1 of 1 answered' "$CH_M/tmp/drill.out"
t "nothing shut down by the drill" test ! -e "$CH_M$RECORD" -a ! -e "$CH_S$RECORD"

section "slave step 5: upsslave simulate ONBATT"
# README: "or on the slave upsslave simulate --timeout 30s ONBATT (the
# real master, nothing shut down; with the power on it ends at the
# master's onl when that is new, or watches until the timeout and reports
# no verdict)". Here with --timeout 5s, to be quick. Which of the two
# depends on how recently the master wrote onl (upsslave counts an onl
# written up to 2 s before the event as news).
rc=0
on_s upsslave simulate --timeout 5s ONBATT >"$CH_S/tmp/simulate.out" 2>&1 || rc=$?
indent <"$CH_S/tmp/simulate.out"
if [ "$rc" = 0 ]; then
	t "slave: the simulation ended at the master's onl, no shutdown" grep -q 'wait ended, no shutdown.*power is back' "$CH_S/tmp/simulate.out"
else
	is "slave: upsslave simulate --timeout 5s ONBATT with the power on: no verdict, exit code" "$rc" 1
fi
t "slave: the simulation watched the real master" grep -q 'job=watching' "$CH_S/tmp/simulate.out"
t "slave: the simulation acknowledged nothing" test ! -e "$CH_M/srv/nutslave/flags/acks/sdfok.$NAME"

section "the power fails"
# upsflags.timer (every 5 s) and upsflags.path do this with systemd; here
# upsflags watch, as the packaged cron example runs it.
bg_in "$NS_M" "$CH_M" "$CH_M/tmp/watch.log" upsflags watch --for 90s
wait_for 15 "master: onl written while on line power" test -e "$CH_M/srv/nutslave/flags/onl"
OUTAGE=$(date +%s.%N)
write_dev "OB DISCHRG" 40
pass "the UPS is on battery at 40 % (STDWCHARGE=50)"
wait_for 30 "master: sdf written" test -e "$CH_M/srv/nutslave/flags/sdf"
wait_for 30 "master: the slave's acknowledgement acks/sdfok.$NAME" test -e "$CH_M/srv/nutslave/flags/acks/sdfok.$NAME"
wait_for 30 "slave: its shutdown recorded" test -s "$CH_S$RECORD"
wait_for 60 "master: its shutdown recorded" test -s "$CH_M$RECORD"
indent <"$CH_S$RECORD"
indent <"$CH_M$RECORD"
s_at=$(awk '{print $1; exit}' "$CH_S$RECORD" 2>/dev/null || echo 0)
m_at=$(awk '{print $1; exit}' "$CH_M$RECORD" 2>/dev/null || echo 0)
t "the slave's shutdown came after the power failed" awk -v a="$s_at" -v b="$OUTAGE" 'BEGIN{exit !(a > b)}'
t "the master shut down last" awk -v s="$s_at" -v m="$m_at" 'BEGIN{exit !(m > s && s > 0)}'
is "slave: one shutdown, by $NAME's SHUTDOWNCMD" "$(cut -d' ' -f2- "$CH_S$RECORD" 2>/dev/null)" "$NAME"
is "master: one shutdown, by upsflags' SHUTDOWNCMD" "$(cut -d' ' -f2- "$CH_M$RECORD" 2>/dev/null)" "master"
# upsmon runs upsflags as user nut on ONBATT: it cannot write the flags,
# it touches TRIGGER for upsflags.path (no systemd here to act on it).
wait_for 15 "master: upsmon's NOTIFYCMD upsflags (user nut) touched /run/nutslave/upsflags.trigger" \
	test -e "$CH_M/run/nutslave/upsflags.trigger"
t "slave: upsslave, upsmon's NOTIFYCMD as user nut, logged the outage to its LOGFILE" \
	grep -q 'sdf' "$CH_S/var/log/nutslave/upsslave.log"
t "nothing called shutdown, poweroff, halt or reboot" sh -c "! grep -qs UNEXPECTED '$CH_M$RECORD' '$CH_S$RECORD'"

# ---- the end ------------------------------------------------------------------

section "stop everything"
stop_all
is "no process left in the two roots" "$(in_roots | tr '\n' ' ')" ""
for n in "${NETNS[@]}"; do ip netns delete "$n"; done
NETNS=()
t "namespaces removed" sh -c "! ip netns list | grep -qE '^($NS_M|$NS_S)( |\$)'"

summary
[ "$FAIL" -eq 0 ]
