//go:build usbvm

package usbvm

import _ "embed"

// outageScript is sourced by the VM's init in outage mode.
//
//go:embed outage.sh
var outageScript string
