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

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
)

// labServer is what the tests of both SSH servers need of a running
// lab.SSHD or lab.Dropbear.
type labServer struct {
	name                                     string
	addr                                     string
	flagDir, ackDir, sftpFlagDir, sftpAckDir string
	// made is the directory Stop removes when the lab made it under
	// /run/nutslave-lab.
	made         string
	clientConfig func() (*ssh.ClientConfig, error)
	pid          func() int
	stop         func() error
}

func sshdServer(s *lab.SSHD) labServer {
	return labServer{"sshd", s.Addr, s.FlagDir, s.AckDir, s.SFTPFlagDir, s.SFTPAckDir, s.ChrootDir, s.ClientConfig, s.Pid, s.Stop}
}

func dropbearServer(d *lab.Dropbear) labServer {
	return labServer{"dropbear", d.Addr, d.FlagDir, d.AckDir, d.SFTPFlagDir, d.SFTPAckDir, d.FlagDir, d.ClientConfig, d.Pid, d.Stop}
}

// servers start each lab server for a test, with its default options.
var servers = []struct {
	name  string
	start func(t *testing.T) labServer
}{
	{"sshd", func(t *testing.T) labServer { return sshdServer(labtest.SSHD(t, lab.SSHDOptions{})) }},
	{"dropbear", func(t *testing.T) labServer { return dropbearServer(labtest.Dropbear(t, lab.DropbearOptions{})) }},
}

func dialSFTP(t *testing.T, s labServer) (*ssh.Client, *sftp.Client) {
	t.Helper()
	cfg, err := s.clientConfig()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", s.addr, cfg)
	if err != nil {
		t.Fatalf("ssh.Dial %s: %v", s.addr, err)
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		t.Fatalf("sftp.NewClient: %v", err)
	}
	return conn, c
}

// checkFlagAccess checks the flag layout as the account sees it over
// SFTP: it reads the master's flags, may not write them, may write and
// atomically replace its acknowledgement, and has no shell.
func checkFlagAccess(t *testing.T, s labServer, conn *ssh.Client, c *sftp.Client) {
	t.Helper()
	// The master writes its flags on the host.
	if err := os.WriteFile(filepath.Join(s.flagDir, "onl"), []byte("time=now\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := readFile(c, s.sftpFlagDir+"/onl"); err != nil || string(b) != "time=now\n" {
		t.Errorf("reading %s/onl over SFTP = %q, %v", s.sftpFlagDir, b, err)
	}
	// The slaves' account must not write the master's flags...
	if f, err := c.Create(s.sftpFlagDir + "/sdf"); err == nil {
		f.Close()
		t.Errorf("the SFTP account could create %s/sdf", s.sftpFlagDir)
	}
	if err := c.Remove(s.sftpFlagDir + "/onl"); err == nil {
		t.Errorf("the SFTP account could remove %s/onl", s.sftpFlagDir)
	}
	// ...but may write and atomically replace its acknowledgement.
	for _, body := range []string{"first\n", "second\n"} {
		tmp := s.sftpAckDir + "/.sdfok.slave1.tmp"
		f, err := c.Create(tmp)
		if err != nil {
			t.Fatalf("create %s: %v", tmp, err)
		}
		io.WriteString(f, body)
		f.Close()
		if err := c.PosixRename(tmp, s.sftpAckDir+"/sdfok.slave1"); err != nil {
			t.Fatalf("PosixRename: %v", err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.ackDir, "sdfok.slave1")); err != nil || string(b) != "second\n" {
		t.Errorf("host copy of the acknowledgement = %q, %v", b, err)
	}
	// No shell: the forced command (sshd's internal-sftp, Dropbear's
	// sftp-server) answers any command.
	sess, err := conn.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	sess.Stdin = bytes.NewReader(nil)
	out, _ := sess.CombinedOutput("id")
	sess.Close()
	if bytes.Contains(out, []byte("uid=")) {
		t.Errorf("the account ran a shell command: %q", out)
	}
}

func TestServersRefuseOtherKey(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			cfg, err := s.clientConfig()
			if err != nil {
				t.Fatal(err)
			}
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			signer, _ := ssh.NewSignerFromKey(priv)
			cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(signer)}
			if conn, err := ssh.Dial("tcp", s.addr, cfg); err == nil {
				conn.Close()
				t.Fatalf("%s accepted a key that is not authorized", s.name)
			}
		})
	}
}

func TestServersStopLeavesNothing(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			// An open session has the server's children (sshd's in sessions
			// of their own) and their SFTP servers.
			conn, c := dialSFTP(t, s)
			defer conn.Close()
			defer c.Close()
			pid := s.pid()
			if err := s.stop(); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			checkGone(t, s.name, []int{pid})
			if _, err := c.Stat(s.sftpFlagDir); err == nil {
				t.Errorf("the SFTP session still works after Stop")
			}
			if _, err := os.Stat(s.made); !errors.Is(err, os.ErrNotExist) && strings.HasPrefix(s.made, "/run/") {
				t.Errorf("%s left behind: %v", s.made, err)
			}
			if err := s.stop(); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		})
	}
}
