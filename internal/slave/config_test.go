package slave

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "upsslave.conf")
	os.WriteFile(p, []byte("MASTER=nutslave@192.168.2.5\nNAME=web1\n"), 0o640)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.MasterAddr != "192.168.2.5:22" || c.MasterUser != "nutslave" {
		t.Errorf("MASTER parsed as %s@%s", c.MasterUser, c.MasterAddr)
	}
	if c.AckDir != "/flags/acks" || c.FlagDir != "/flags" {
		t.Errorf("FLAGDIR=%s ACKDIR=%s, want /flags and /flags/acks", c.FlagDir, c.AckDir)
	}
	if c.Identity != filepath.Join(dir, "upsslave.key") || c.KnownHosts != filepath.Join(dir, "upsslave.known_hosts") {
		t.Errorf("IDENTITY=%s KNOWN_HOSTS=%s, want beside the config", c.Identity, c.KnownHosts)
	}
	if strings.Join(c.ShutdownCmd, " ") != "/sbin/shutdown -h +0" {
		t.Errorf("SHUTDOWNCMD = %q", c.ShutdownCmd)
	}
	for _, tc := range []struct{ in, addr string }{
		{"u@[::1]:2222", "[::1]:2222"}, {"u@[fe80::1]", "[fe80::1]:22"}, {"u@host:2200", "host:2200"},
	} {
		var c Config
		if err := c.setMaster(tc.in); err != nil || c.MasterAddr != tc.addr {
			t.Errorf("setMaster(%q) = %q, %v; want %q", tc.in, c.MasterAddr, err, tc.addr)
		}
	}
	for _, in := range []string{"host", "@host", "u@", "u@host:0", "u@host:99999"} {
		var c Config
		if err := c.setMaster(in); err == nil {
			t.Errorf("setMaster(%q) accepted", in)
		}
	}
}
