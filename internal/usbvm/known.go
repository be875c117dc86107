package usbvm

// KnownDifferences explains, per device and variable, why upsusb and NUT
// are expected to differ, with the NUT source that decides it. Every
// other difference fails the cross-check.
var KnownDifferences = map[string]map[string]string{}
