package labtest

import (
	"path/filepath"
	"testing"

	"github.com/nutslave/nutslave/internal/lab"
)

// Dropbear starts Dropbear for the test, or skips it when dropbear-bin (or
// root, or OpenSSH's sftp-server) is missing.
func Dropbear(t testing.TB, opts lab.DropbearOptions) *lab.Dropbear {
	t.Helper()
	if err := lab.CheckDropbear(); err != nil {
		t.Skipf("skipping: Dropbear needed (apt-get install dropbear-bin, as root): %v", err)
	}
	d, err := lab.StartDropbear(filepath.Join(t.TempDir(), "dropbear"), opts)
	if err != nil {
		t.Fatalf("StartDropbear: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("Dropbear.Stop: %v", err)
		}
		dumpLogs(t, d.Dir, "dropbear.log")
	})
	return d
}
