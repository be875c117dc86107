# Sourced by the USB VM's /init in outage mode (usbvm.mode=outage).
section outage echo "outage mode is not implemented for $NAME"
