package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nutslave/nutslave/internal/e2e"
	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/lab/labtest"
)

// dropbearPrerequisites skips t unless Dropbear (dropbear-bin, and
// OpenSSH's sftp-server) can run here.
func dropbearPrerequisites(t *testing.T) {
	t.Helper()
	if err := lab.CheckDropbear(); err != nil {
		t.Skipf("skipping: Dropbear needed (apt-get install dropbear-bin, as root): %v", err)
	}
}

// TestDropbearTrust: "upsslave trust" against a master whose Dropbear has
// only an ed25519 host key (issue 14: a client that offered RSA first got
// "sent no host key") pins that ed25519 key, and "upsslave check" then
// reaches the flags through Dropbear with it.
func TestDropbearTrust(t *testing.T) {
	dropbearPrerequisites(t)
	bin := binaries(t)
	d := labtest.Dropbear(t, lab.DropbearOptions{})

	// The lab reproduces the failure: x/crypto's default order (RSA
	// first) gets no host key from this Dropbear.
	if typ := offeredKey(t, d.Addr, nil); typ != "" {
		t.Fatalf("with RSA offered first, Dropbear sent a %s host key: the lab does not reproduce issue 14", typ)
	}

	dir := t.TempDir()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "upsslave.conf")
	lines := []string{
		"MASTER=" + d.User + "@" + d.Addr,
		"IDENTITY=" + d.ClientKey,
		"KNOWN_HOSTS=" + kh,
		"FLAGDIR=" + d.SFTPFlagDir,
		"ACKDIR=" + d.SFTPAckDir,
		"FLAGOWNER=0",
		"NAME=slave1",
		"CONNECT_TIMEOUT=5s",
		"SHUTDOWNCMD=/bin/true",
		"LOGFILE=" + filepath.Join(dir, "upsslave.log"),
		"STATEDIR=" + dir,
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin.Upsslave, args...)
		cmd.Env = append(os.Environ(), "UPSSLAVE_CONF="+conf)
		cmd.Stdin = bytes.NewReader(nil)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("trust", "--yes")
	t.Logf("upsslave trust --yes:\n%s", out)
	if err != nil {
		t.Fatalf("upsslave trust against Dropbear with an ed25519-only host key: %v", err)
	}
	b, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b))
	if len(fields) < 3 || fields[1] != ssh.KeyAlgoED25519 {
		t.Fatalf("KNOWN_HOSTS after trust = %q, want one ssh-ed25519 line", b)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.Join(fields[1:], " ")))
	if err != nil || !bytes.Equal(pub.Marshal(), d.HostKeys[0].Marshal()) {
		t.Errorf("KNOWN_HOSTS pins %q (%v), not Dropbear's host key %s", b, err, ssh.FingerprintSHA256(d.HostKeys[0]))
	}
	if !strings.Contains(out, ssh.FingerprintSHA256(d.HostKeys[0])) {
		t.Errorf("trust did not show Dropbear's fingerprint %s", ssh.FingerprintSHA256(d.HostKeys[0]))
	}
	if out, err := run("check"); err != nil {
		t.Errorf("upsslave check through Dropbear after trust: %v\n%s", err, out)
	}
}

// offeredKey returns the type of the host key the server at addr sends to
// a client offering algos (nil: x/crypto's default), or "" for none.
func offeredKey(t *testing.T, addr string, algos []string) string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	typ := ""
	ssh.NewClientConn(nc, addr, &ssh.ClientConfig{User: "probe", HostKeyAlgorithms: algos,
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			typ = k.Type()
			return errors.New("host key captured")
		}})
	return typ
}

// startDropbearCluster is startCluster with Dropbear as the master's SSH
// server.
func startDropbearCluster(t *testing.T, opts e2e.Options) *e2e.Cluster {
	t.Helper()
	opts.MasterSSH = e2e.MasterDropbear
	return startCluster(t, opts)
}

// TestDropbearOutage: a whole outage with Dropbear (ed25519-only host key,
// key forced to sftp-server, no chroot) as the master's SSH server: the
// master raises sdf, every slave reads it and acknowledges through
// Dropbear and records its shutdown once, the master last. It logs the
// time from sdf to each acknowledgement.
func TestDropbearOutage(t *testing.T) {
	opts := e2e.Options{}
	if _, err := user.Lookup("nut"); err == nil {
		opts.SlaveUser = "nut" // upsslave runs as upsmon's RUN_AS_USER, as packaged
	}
	c := startDropbearCluster(t, opts)
	if c.Dropbear == nil || c.SSHD != nil {
		t.Fatalf("the cluster's SSH server is %q, not Dropbear alone", c.SSH.Kind)
	}
	discharge(t, c)
	var sdfAt time.Time
	waitFor(t, 30*time.Second, "the master's sdf", func() bool {
		var ok bool
		sdfAt, ok = c.FlagTime("sdf")
		return ok
	})
	waitFor(t, 30*time.Second, "every slave's sdfok through Dropbear", everySlave(c, func(s *e2e.Slave) bool {
		_, ok := c.AckTime(s.Name)
		return ok
	}))
	for _, s := range c.Slaves {
		ack, _ := c.AckTime(s.Name)
		t.Logf("%s: sdf -> sdfok.%s through Dropbear: %v (slave POLL %v)", s.Name, s.Name, ack.Sub(sdfAt).Round(time.Millisecond), c.Opts.SlavePoll)
	}
	waitFor(t, 30*time.Second, "the master's shutdown", func() bool { return len(c.MasterShutdowns()) > 0 })
	check(t, c, e2e.Want{Shutdown: names(c), Master: true})
	if b, _ := os.ReadFile(c.SSH.LogFile); !bytes.Contains(b, []byte("Pubkey auth succeeded for '"+c.SSH.User+"'")) {
		t.Errorf("dropbear.log shows no login of %s: the slaves did not come through Dropbear", c.SSH.User)
	}
}
