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

// TestConfigMasters: MASTERS names the master of each UPS that feeds this
// host; the check finds a MONITOR line with no master and a MINSUPPLIES
// the MONITOR lines cannot give.
func TestConfigMasters(t *testing.T) {
	dir := t.TempDir()
	upsmon := filepath.Join(dir, "upsmon.conf")
	os.WriteFile(upsmon, []byte("MONITOR upsA@master-a 1 u p secondary\nMONITOR upsB@master-b:3493 1 u p secondary\nMINSUPPLIES 1\n"), 0o640)
	p := filepath.Join(dir, "upsslave.conf")
	os.WriteFile(p, []byte("NAME=web1\nUPSMON_CONF="+upsmon+"\nMASTERS=\"upsA@master-a=nutslave@master-a upsB@master-b:3493=nutslave@master-b:2222\"\n"), 0o640)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if u, a := c.MasterFor("upsB@master-b:3493"); u != "nutslave" || a != "master-b:2222" {
		t.Errorf("master of upsB = %s@%s", u, a)
	}
	if c.MasterAddr != "master-a:22" {
		t.Errorf("with MASTERS alone, the default master is %q, want the first", c.MasterAddr)
	}
	var out strings.Builder
	k := &checker{}
	k.W = &out
	checkSupplies(k, c)
	if k.Errors != 0 || !strings.Contains(out.String(), "ok: supplies: upsA@master-a (power 1), upsB@master-b:3493 (power 1) (MINSUPPLIES 1)") {
		t.Errorf("check with both masters:\n%s", out.String())
	}

	// upsB has no master; MINSUPPLIES is more than two feeds give.
	os.WriteFile(upsmon, []byte("MONITOR upsA@master-a 1 u p secondary\nMONITOR upsB@master-b:3493 1 u p secondary\nMINSUPPLIES 3\n"), 0o640)
	os.WriteFile(p, []byte("NAME=web1\nUPSMON_CONF="+upsmon+"\nMASTERS=upsA@master-a=nutslave@master-a\n"), 0o640)
	if c, err = LoadConfig(p); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	k = &checker{}
	k.W = &out
	checkSupplies(k, c)
	for _, want := range []string{
		upsmon + ":3: MINSUPPLIES 3 is more than the power values of its MONITOR lines give (2)",
		upsmon + ":2: MONITOR upsB@master-b:3493 has no master in " + p + " MASTERS (line 3)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check lacks %q:\n%s", want, out.String())
		}
	}
	for _, bad := range []string{"upsA=nutslave@h", "upsA@h", "upsA@h=nobody", "a@h=u@h a@h=u@h2"} {
		var c Config
		if err := c.setMasters(bad); err == nil {
			t.Errorf("MASTERS=%q accepted", bad)
		}
	}
}
