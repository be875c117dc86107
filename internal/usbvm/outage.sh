# Sourced by the USB VM's /init in outage mode (usbvm.mode=outage): upsflags
# reads the emulated UPS over USB (SOURCE=usb://VID:PID, no NUT driver
# holding it) while the emulator's charge falls; the master's SHUTDOWNCMD
# is a recorder. The mains then returns (the power race) and the package's
# halt hook (upsflags killpower) runs as systemd-shutdown would run it:
# once after the outage, once after "upsflags reset" (an ordinary halt).
# Last, NUT's own killpower path (upsdrvctl shutdown) runs against the
# emulated UPS. Every command lands in the emulator's recording, between
# the marks hook, ordinary and killpower.
# Sections: check, outage (a timeline), upsflags-log, shutdown, hook,
# ordinary, reboot, killpower.

mkdir -p /srv/flags/acks /var/lib/nutslave
chmod 0755 /srv/flags
chmod 1770 /srv/flags/acks
grep -q '^nutslave:' /etc/group || echo 'nutslave:x:101:' >> /etc/group
chgrp nutslave /srv/flags/acks
cat > /usbvm/bin/record-shutdown <<'EOF'
#!/bin/sh
# The master's SHUTDOWNCMD in the VM lab: records the call, shuts nothing down.
echo "$(date +%s) shutdown $*" >> /run/shutdown.txt
EOF
chmod 0755 /usbvm/bin/record-shutdown
cat > /etc/nut/upsflags.conf <<EOF
SOURCE=usb://$VID:$PID
FLAGDIR=/srv/flags
ACKDIR=/srv/flags/acks
SLAVES=""
STDWCHARGE=50
DEBOUNCE=2
HOSTSYNC=3s
DEADTIME=30s
POLL=1s
SHUTDOWNCMD="/usbvm/bin/record-shutdown master"
LOGFILE=/run/upsflags.log
STATEDIR=/var/lib/nutslave
OFFDELAY=20
ONDELAY=60
POWEROFF_WAIT=2s
REBOOTCMD="/usbvm/bin/record-shutdown reboot"
EOF
touch /run/shutdown.txt
section check upsflags --config /etc/nut/upsflags.conf check

# flags prints the time since the outage began, the state just set, and
# the flags present.
T0=$(date +%s)
flags() { echo "t=$(( $(date +%s) - T0 ))s $1 flags: $(ls /srv/flags | grep -v acks | tr '\n' ' ')"; }
step() { echo "$1" > /run/upsgadget.ctl; sleep 2; flags "$1"; }
outage() {
	upsflags --config /etc/nut/upsflags.conf watch >/run/upsflags.out 2>&1 &
	uf=$!
	sleep 3
	flags "online 100"
	step onbatt
	c=100
	while [ $c -gt 0 ]; do
		c=$((c - 10))
		step "charge -10"
		[ $c -eq 20 ] && step "lowbatt on"
		[ -s /run/shutdown.txt ] && break
	done
	sleep 2
	step online
	step "lowbatt off"
	kill $uf 2>/dev/null
	wait $uf 2>/dev/null
	flags "upsflags stopped"
}
section outage outage
section upsflags-log cat /run/upsflags.log /run/upsflags.out
section shutdown cat /run/shutdown.txt

# The package's halt hook, as systemd-shutdown runs it: this boot ended in
# an sdf, so it tells the UPS; the UPS is back on line, so it reboots
# (recorded) once POWEROFF_WAIT passed. After "upsflags reset" (what the
# next boot does) the same hook is an ordinary halt's: nothing is sent.
echo "@@MARK hook@@" >> /run/commands.txt
: > /run/shutdown.txt
section hook upsflags --config /etc/nut/upsflags.conf killpower poweroff
upsflags --config /etc/nut/upsflags.conf reset
echo "@@MARK ordinary@@" >> /run/commands.txt
section ordinary upsflags --config /etc/nut/upsflags.conf killpower poweroff
section reboot cat /run/shutdown.txt

# NUT's killpower path against the emulated UPS: the driver opens the
# device itself and sends its shutdown commands (a recorder inside).
ups_conf "offdelay = 20" "ondelay = 60"
echo "@@MARK killpower@@" >> /run/commands.txt
section killpower upsdrvctl -u root shutdown
