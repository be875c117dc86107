package lab_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
)

func dialSFTP(t *testing.T, s *lab.SSHD) (*ssh.Client, *sftp.Client) {
	t.Helper()
	cfg, err := s.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", s.Addr, cfg)
	if err != nil {
		t.Fatalf("ssh.Dial %s: %v", s.Addr, err)
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		t.Fatalf("sftp.NewClient: %v", err)
	}
	return conn, c
}

func TestSSHDLayoutAndPermissions(t *testing.T) {
	s := labtest.SSHD(t, lab.SSHDOptions{LogLevel: "VERBOSE"})
	// The master writes its flags on the host.
	if err := os.WriteFile(filepath.Join(s.FlagDir, "onl"), []byte("time=now\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, c := dialSFTP(t, s)
	defer conn.Close()
	defer c.Close()

	if b, err := readFile(c, s.SFTPFlagDir+"/onl"); err != nil || string(b) != "time=now\n" {
		t.Errorf("reading %s/onl over SFTP = %q, %v", s.SFTPFlagDir, b, err)
	}
	// The slaves' account must not write the master's flags...
	if f, err := c.Create(s.SFTPFlagDir + "/sdf"); err == nil {
		f.Close()
		t.Errorf("the SFTP account could create %s/sdf", s.SFTPFlagDir)
	}
	if err := c.Remove(s.SFTPFlagDir + "/onl"); err == nil {
		t.Errorf("the SFTP account could remove %s/onl", s.SFTPFlagDir)
	}
	// ...but may write and atomically replace its acknowledgement.
	for _, body := range []string{"first\n", "second\n"} {
		tmp := s.SFTPAckDir + "/.sdfok.slave1.tmp"
		f, err := c.Create(tmp)
		if err != nil {
			t.Fatalf("create %s: %v", tmp, err)
		}
		io.WriteString(f, body)
		f.Close()
		if err := c.PosixRename(tmp, s.SFTPAckDir+"/sdfok.slave1"); err != nil {
			t.Fatalf("PosixRename: %v", err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.AckDir, "sdfok.slave1")); err != nil || string(b) != "second\n" {
		t.Errorf("host copy of the acknowledgement = %q, %v", b, err)
	}
	// The chroot hides the host.
	if _, err := c.Stat("/etc/passwd"); err == nil {
		t.Errorf("/etc/passwd is visible through the chroot")
	}
	// No shell: ForceCommand internal-sftp answers any command.
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := sess.CombinedOutput("id")
	sess.Close()
	if bytes.Contains(out, []byte("uid=")) {
		t.Errorf("the account ran a shell command: %q", out)
	}
	c.Close()
	conn.Close()

	logBytes := waitLog(t, s.LogFile, "Accepted publickey for "+s.User)
	if !bytes.Contains(logBytes, []byte("Accepted publickey")) {
		t.Errorf("sshd.log has no accepted login at LogLevel VERBOSE")
	}
}

func TestSSHDRefusesOtherKey(t *testing.T) {
	s := labtest.SSHD(t, lab.SSHDOptions{})
	cfg, err := s.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(signer)}
	if conn, err := ssh.Dial("tcp", s.Addr, cfg); err == nil {
		conn.Close()
		t.Fatal("sshd accepted a key that is not authorized")
	}
}

func TestSSHDStopLeavesNothing(t *testing.T) {
	if err := lab.CheckSSHD(); err != nil {
		t.Skipf("skipping: real OpenSSH sshd needed: %v", err)
	}
	s, err := lab.StartSSHD(filepath.Join(t.TempDir(), "sshd"), lab.SSHDOptions{})
	if err != nil {
		t.Fatalf("StartSSHD: %v", err)
	}
	// An open session has sshd children in sessions of their own.
	conn, c := dialSFTP(t, s)
	defer conn.Close()
	defer c.Close()
	pid := s.Pid()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	checkGone(t, "sshd", []int{pid})
	if _, err := c.Stat("/flags"); err == nil {
		t.Errorf("the SFTP session still works after Stop")
	}
	if _, err := os.Stat(s.ChrootDir); !errors.Is(err, os.ErrNotExist) && strings.HasPrefix(s.ChrootDir, "/run/") {
		t.Errorf("chroot %s left behind: %v", s.ChrootDir, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
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
