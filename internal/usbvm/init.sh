#!/bin/busybox sh
# /init of the USB VM lab (internal/usbvm): one emulated UPS per boot.
# The kernel command line names the device (usbvm.dev=NAME) and the mode
# (usbvm.mode=crosscheck|outage). Results go to the serial console between
# "@@BEGIN <section>@@" and "@@END <section>@@" lines; the last line is
# "@@DONE@@". Nothing here can shut anything down but this VM.

/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usbvm/bin
mkdir -p /proc /sys /dev /run /tmp /var/state
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mount -t debugfs debugfs /sys/kernel/debug
dmesg -n 1
ip link set lo up

arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
DEV=$(arg usbvm.dev)
MODE=$(arg usbvm.mode)
section() { name=$1; shift; echo "@@BEGIN $name@@"; "$@" 2>&1; echo "@@END $name@@"; }
finish() {
	section record cat /run/commands.txt
	section gadget-log cat /run/upsgadget.log
	section dmesg dmesg
	echo "@@DONE@@"
	sync
	poweroff -f
}
fail() { echo "@@FAIL $*@@"; finish; }
# waitfor SECONDS CMD...: run CMD every 0.2 s until it succeeds.
waitfor() {
	n=$(($1 * 5)); shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1)); [ $n -gt 0 ] || return 1
		sleep 0.2
	done
}

. /usbvm/devices/$DEV.env || fail "no device $DEV"
for m in configfs usbcore udc-core libcomposite dummy_hcd usb_f_fs usbmon hid usbhid hid-generic; do
	modprobe $m || fail "modprobe $m"
done
mount -t configfs none /sys/kernel/config

# The gadget: VID:PID, bcdDevice and strings 1-3 through configfs, one
# FunctionFS function served by upsgadget.
G=/sys/kernel/config/usb_gadget/ups
mkdir $G $G/strings/0x409 $G/configs/c.1 $G/functions/ffs.ups
echo 0x$VID > $G/idVendor
echo 0x$PID > $G/idProduct
echo 0x$BCD > $G/bcdDevice
echo "$MFR" > $G/strings/0x409/manufacturer
echo "$PRODUCT" > $G/strings/0x409/product
[ -n "$SERIAL" ] && echo "$SERIAL" > $G/strings/0x409/serialnumber
echo 100 > $G/configs/c.1/MaxPower
ln -s $G/functions/ffs.ups $G/configs/c.1/
mkdir -p /dev/ffs-ups
mount -t functionfs ups /dev/ffs-ups
mkfifo /run/upsgadget.ctl
touch /run/commands.txt
case $KIND in
hid) GADGET="-device $NAME -corpus /usbvm/corpus" ;;
krauler) GADGET="-megatec krauler -serial $G/strings/0x409/serialnumber -usbmon /sys/kernel/debug/usb/usbmon/0u" ;;
*) GADGET="-megatec $KIND" ;;
esac
upsgadget -ffs /dev/ffs-ups $GADGET -record /run/commands.txt -control /run/upsgadget.ctl \
	-ready /run/upsgadget.ready >/run/upsgadget.log 2>&1 &
waitfor 20 test -e /run/upsgadget.ready || fail "upsgadget not ready"
ls /sys/class/udc > $G/UDC || fail "bind UDC"
waitfor 20 test -e /sys/bus/usb/devices/1-1/bConfigurationValue || fail "device not enumerated"
waitfor 20 test -n "$(cat /sys/bus/usb/devices/1-1/bConfigurationValue)" || fail "device not configured"
sleep 1
section lsusb cat /sys/bus/usb/devices/1-1/idVendor /sys/bus/usb/devices/1-1/idProduct /sys/bus/usb/devices/1-1/product

# NUT as in production: driver through upsdrvctl, upsd, upsc; as root in
# this VM (no nut user).
mkdir -p /etc/nut /run/nut
# ups_conf [LINE...]: writes ups.conf for the device; each LINE ("offdelay
# = 20") goes in its section, before the device's DRIVER_OPTIONS.
# shellcheck disable=SC2120 # outage.sh, sourced below, passes LINEs
ups_conf() {
	{
		cat <<EOF
user = root
[ups]
	driver = $DRIVER
	port = auto
	vendorid = $VID
	productid = $PID
EOF
		for line in "$@"; do printf '\t%s\n' "$line"; done
		echo "$DRIVER_OPTIONS"
	} > /etc/nut/ups.conf
}
# shellcheck disable=SC2119
ups_conf
printf 'LISTEN 127.0.0.1 3493\n' > /etc/nut/upsd.conf
printf '[admin]\n\tpassword = usbvm\n\tactions = SET FSD\n\tinstcmds = all\n' > /etc/nut/upsd.users
chmod 0600 /etc/nut/upsd.users

# nut_start starts the driver and upsd and waits for upsc to answer.
nut_start() {
	upsdrvctl -u root start >/run/upsdrvctl.log 2>&1 || { cat /run/upsdrvctl.log; return 1; }
	/lib/nut/upsd -u root >/run/upsd.log 2>&1 || { cat /run/upsd.log; return 1; }
	waitfor 60 upsc ups@127.0.0.1 ups.status
}
nut_stop() {
	/lib/nut/upsd -c stop >/dev/null 2>&1
	upsdrvctl -u root stop >/dev/null 2>&1
	waitfor 20 sh -c "! pidof $DRIVER upsd" || echo "NUT did not stop"
}
# cross SUFFIX: upsusb, then NUT as in production, on the same device.
cross() {
	upsusb read --json --device $VID:$PID --timeout 20s > /run/upsusb.json 2>&1
	section upsusb$1 cat /run/upsusb.json
	want=$(sed -n 's/^ *"ups.status": "\(.*\)",*$/\1/p' /run/upsusb.json)
	nut_start || fail "NUT did not start"
	# Let the driver finish its first full poll. After the scenario steps,
	# an interrupt report the emulator had in flight before NUT started (an
	# earlier state) reaches NUT first; give it a few polls to settle on the
	# status upsusb read, then compare whatever it shows.
	sleep 3
	if [ -n "$1" ] && [ -n "$want" ]; then
		waitfor 10 sh -c "[ \"\$(upsc ups@127.0.0.1 ups.status 2>/dev/null)\" = '$want' ]" ||
			echo "NUT's ups.status did not settle on '$want' within 10 s"
	fi
	section upsc$1 upsc ups@127.0.0.1
	section upsdrvctl-log$1 cat /run/upsdrvctl.log
	nut_stop
}

case $MODE in
crosscheck)
	section upsusb-list upsusb list
	# The string descriptors the host reads and what comes back (usbmon).
	cat /sys/kernel/debug/usb/usbmon/1u > /run/usbmon.txt &
	mon=$!
	cross ""
	kill $mon
	section usbmon-strings grep -A1 " s 80 06 03" /run/usbmon.txt
	# The same after the emulated UPS changed state.
	for step in onbatt "charge 40" "lowbatt on"; do
		echo "$step" > /run/upsgadget.ctl
	done
	sleep 1
	cross -onbatt
	;;
outage)
	. /usbvm/outage.sh
	;;
*)
	fail "unknown mode $MODE"
	;;
esac
finish
