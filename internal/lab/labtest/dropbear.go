package labtest

import (
	"testing"

	"github.com/nutslave/nutslave/internal/lab"
)

// Dropbear starts Dropbear for the test, or skips it when dropbear-bin (or
// root, or OpenSSH's sftp-server) is missing.
func Dropbear(t testing.TB, opts lab.DropbearOptions) *lab.Dropbear {
	t.Helper()
	return start(t, "Dropbear", "Dropbear needed (apt-get install dropbear-bin, as root)", lab.CheckDropbear,
		func(dir string) (*lab.Dropbear, error) { return lab.StartDropbear(dir, opts) },
		func(d *lab.Dropbear) string { return d.Dir }, "dropbear.log")
}
