package lab_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
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

func dialDropbear(t *testing.T, d *lab.Dropbear) (*ssh.Client, *sftp.Client) {
	t.Helper()
	cfg, err := d.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ssh.Dial("tcp", d.Addr, cfg)
	if err != nil {
		t.Fatalf("ssh.Dial %s: %v", d.Addr, err)
	}
	c, err := sftp.NewClient(conn)
	if err != nil {
		conn.Close()
		t.Fatalf("sftp.NewClient: %v", err)
	}
	return conn, c
}

// TestDropbearEd25519OnlyServesSFTP: the lab's Dropbear has only an
// ed25519 host key, serves the flag layout over SFTP to its account, lets
// it write only its acknowledgement, and runs nothing but sftp-server.
func TestDropbearEd25519OnlyServesSFTP(t *testing.T) {
	d := labtest.Dropbear(t, lab.DropbearOptions{})
	if len(d.HostKeys) != 1 || d.HostKeys[0].Type() != ssh.KeyAlgoED25519 {
		var types []string
		for _, k := range d.HostKeys {
			types = append(types, k.Type())
		}
		t.Fatalf("host keys %v, want only ssh-ed25519", types)
	}
	if err := os.WriteFile(filepath.Join(d.FlagDir, "onl"), []byte("time=now\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, c := dialDropbear(t, d)
	defer conn.Close()
	defer c.Close()
	if got := string(conn.ServerVersion()); !strings.Contains(got, "dropbear") {
		t.Errorf("server version %q: not Dropbear", got)
	}
	if b, err := readFile(c, d.SFTPFlagDir+"/onl"); err != nil || string(b) != "time=now\n" {
		t.Errorf("reading %s/onl over SFTP = %q, %v", d.SFTPFlagDir, b, err)
	}
	if f, err := c.Create(d.SFTPFlagDir + "/sdf"); err == nil {
		f.Close()
		t.Errorf("the SFTP account could create %s/sdf", d.SFTPFlagDir)
	}
	if err := c.Remove(d.SFTPFlagDir + "/onl"); err == nil {
		t.Errorf("the SFTP account could remove %s/onl", d.SFTPFlagDir)
	}
	if !hasExtension(c, "posix-rename@openssh.com") {
		t.Errorf("sftp-server behind Dropbear lacks posix-rename@openssh.com")
	}
	for _, body := range []string{"first\n", "second\n"} {
		tmp := d.SFTPAckDir + "/.sdfok.slave1.tmp"
		f, err := c.Create(tmp)
		if err != nil {
			t.Fatalf("create %s: %v", tmp, err)
		}
		io.WriteString(f, body)
		f.Close()
		if err := c.PosixRename(tmp, d.SFTPAckDir+"/sdfok.slave1"); err != nil {
			t.Fatalf("PosixRename: %v", err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(d.AckDir, "sdfok.slave1")); err != nil || string(b) != "second\n" {
		t.Errorf("host copy of the acknowledgement = %q, %v", b, err)
	}
	// The forced command answers any command: no shell.
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
	// Nor a forwarded connection (restrict, -j).
	if fc, err := conn.Dial("tcp", d.Addr); err == nil {
		fc.Close()
		t.Errorf("the account could forward a TCP connection")
	}
	// The account's home, mounted in Dropbear's namespace only, is empty on
	// the host.
	if ents, _ := os.ReadDir("/run/nutslave-lab/dropbear-home"); len(ents) != 0 {
		t.Errorf("/run/nutslave-lab/dropbear-home on the host holds %d entries: the private mount leaked", len(ents))
	}
	c.Close()
	conn.Close()
	logBytes := waitLog(t, d.LogFile, "Pubkey auth succeeded for '"+d.User+"'")
	if !bytes.Contains(logBytes, []byte("Restrict option set")) {
		t.Errorf("dropbear.log does not show the key's restrict option")
	}
}

// TestDropbearAbortsRSAFirstClient: the lab reproduces issue 14. A client
// that offers RSA first (x/crypto's default order) gets no host key from
// an ed25519-only Dropbear; one that offers ed25519 first gets it.
func TestDropbearAbortsRSAFirstClient(t *testing.T) {
	d := labtest.Dropbear(t, lab.DropbearOptions{})
	hostKey := func(algos []string) (ssh.PublicKey, error) {
		nc, err := net.DialTimeout("tcp", d.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		var key ssh.PublicKey
		_, _, _, err = ssh.NewClientConn(nc, d.Addr, &ssh.ClientConfig{User: d.User, HostKeyAlgorithms: algos,
			HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
				key = k
				return errors.New("host key captured")
			}})
		return key, err
	}
	if key, err := hostKey(nil); key != nil {
		t.Errorf("with x/crypto's default order Dropbear sent a %s host key; the lab no longer reproduces issue 14", key.Type())
	} else {
		t.Logf("x/crypto's default order (RSA first): %v", err)
	}
	if key, err := hostKey([]string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoED25519}); key != nil {
		t.Errorf("offering RSA first, Dropbear sent a %s host key", key.Type())
	} else if !bytes.Contains(waitLog(t, d.LogFile, "Failed assertion"), []byte("Failed assertion")) {
		t.Logf("Dropbear refused the RSA-first client (%v) without its usual assertion in the log", err)
	}
	if key, err := hostKey(d.HostKeyAlgorithms()); key == nil || key.Type() != ssh.KeyAlgoED25519 {
		t.Errorf("offering ed25519 first: no ed25519 host key (%v)", err)
	}
}

func TestDropbearRefusesOtherKey(t *testing.T) {
	d := labtest.Dropbear(t, lab.DropbearOptions{})
	cfg, err := d.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(signer)}
	if conn, err := ssh.Dial("tcp", d.Addr, cfg); err == nil {
		conn.Close()
		t.Fatal("Dropbear accepted a key that is not authorized")
	}
}

func TestDropbearStopLeavesNothing(t *testing.T) {
	if err := lab.CheckDropbear(); err != nil {
		t.Skipf("skipping: Dropbear needed (apt-get install dropbear-bin, as root): %v", err)
	}
	d, err := lab.StartDropbear(filepath.Join(t.TempDir(), "dropbear"), lab.DropbearOptions{})
	if err != nil {
		t.Fatalf("StartDropbear: %v", err)
	}
	// An open session has a Dropbear child and its sftp-server.
	conn, c := dialDropbear(t, d)
	defer conn.Close()
	defer c.Close()
	pid := d.Pid()
	if err := d.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	checkGone(t, "dropbear", []int{pid})
	if _, err := c.Stat(d.SFTPFlagDir); err == nil {
		t.Errorf("the SFTP session still works after Stop")
	}
	if _, err := os.Stat(d.FlagDir); !errors.Is(err, os.ErrNotExist) && strings.HasPrefix(d.FlagDir, "/run/") {
		t.Errorf("flag dir %s left behind: %v", d.FlagDir, err)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func hasExtension(c *sftp.Client, name string) bool {
	_, ok := c.HasExtension(name)
	return ok
}
