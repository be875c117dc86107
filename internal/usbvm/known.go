package usbvm

// KnownDifferences explains, per device and variable, why upsusb and NUT
// are expected to differ, with what decides it. Every other difference
// fails the cross-check. There is none now: PowerCOM's on-battery LB was
// the emulator's stale interrupt backlog (README.md).
var KnownDifferences = map[string]map[string]string{}
