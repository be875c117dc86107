package lab_test

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
)

func TestSSHDLayoutAndPermissions(t *testing.T) {
	s := labtest.SSHD(t, lab.SSHDOptions{LogLevel: "VERBOSE"})
	conn, c := dialSFTP(t, sshdServer(s))
	defer conn.Close()
	defer c.Close()
	checkFlagAccess(t, sshdServer(s), conn, c)
	// The chroot hides the host.
	if _, err := c.Stat("/etc/passwd"); err == nil {
		t.Errorf("/etc/passwd is visible through the chroot")
	}
	c.Close()
	conn.Close()

	logBytes := waitLog(t, s.LogFile, "Accepted publickey for "+s.User)
	if !bytes.Contains(logBytes, []byte("Accepted publickey")) {
		t.Errorf("sshd.log has no accepted login at LogLevel VERBOSE")
	}
}

func readFile(c *sftp.Client, path string) ([]byte, error) {
	f, err := c.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// waitLog waits until the log contains want and returns the log.
func waitLog(t *testing.T, path, want string) []byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte(want)) || time.Now().After(deadline) {
			return b
		}
		time.Sleep(50 * time.Millisecond)
	}
}
