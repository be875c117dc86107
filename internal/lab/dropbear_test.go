package lab_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
)

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
	conn, c := dialSFTP(t, dropbearServer(d))
	defer conn.Close()
	defer c.Close()
	checkFlagAccess(t, dropbearServer(d), conn, c)
	if got := string(conn.ServerVersion()); !strings.Contains(got, "dropbear") {
		t.Errorf("server version %q: not Dropbear", got)
	}
	if !hasExtension(c, "posix-rename@openssh.com") {
		t.Errorf("sftp-server behind Dropbear lacks posix-rename@openssh.com")
	}
	// No forwarded connection either (restrict, -j).
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

func hasExtension(c *sftp.Client, name string) bool {
	_, ok := c.HasExtension(name)
	return ok
}
