package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/e2e"
)

// TestStagedOutage runs STAGES through the real NUT lab: dummy-ups, upsd,
// every slave's upsmon running upsslave as NOTIFYCMD, OpenSSH's sshd and
// "upsflags watch" with STAGES="web1:70". Below 70 % web1 alone is told to
// go (sdf.web1) and shuts down; db1 follows STDWCHARGE and goes with the
// global sdf, the master last, after both acknowledgements.
func TestStagedOutage(t *testing.T) {
	c := startCluster(t, e2e.Options{Slaves: []string{"web1", "db1"}, StdwCharge: 40, Debounce: 2})
	m, ok := c.Master.(*e2e.UpsflagsMaster)
	if !ok {
		t.Skip("skipping: stages need the real upsflags; the stand-in master has none")
	}
	// The lab's upsflags.conf with a stage: the primary upsmon's NOTIFYCMD
	// reads the same file; the watch is restarted to read it.
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(m.ConfFile(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("STAGES=\"web1:70\"\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(filepath.Dir(m.ConfFile()), "upsflags-staged-watch.out"))
	if err != nil {
		t.Fatal(err)
	}
	watch := exec.Command(c.Opts.Bin.Upsflags, "watch")
	watch.Env = append(os.Environ(), "UPSFLAGS_CONF="+m.ConfFile())
	watch.Stdout, watch.Stderr = out, out
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		watch.Process.Signal(syscall.SIGTERM)
		watch.Wait()
		out.Close()
	})

	web1, db1 := c.Slave("web1"), c.Slave("db1")
	onBattery(t, c, "90")
	for _, ch := range []string{"80", "72"} {
		set(t, c, "battery.charge", ch)
		time.Sleep(700 * time.Millisecond)
	}
	calm(t, c, time.Second)

	set(t, c, "battery.charge", "65")
	waitFor(t, 30*time.Second, "web1's shutdown", func() bool { return len(web1.Shutdowns()) > 0 })
	sdfWeb1, ok := c.FlagTime("sdf.web1")
	if !ok {
		t.Fatal("web1 shut down without sdf.web1")
	}
	if first := web1.Shutdowns()[0].Time; first.Before(sdfWeb1) {
		t.Errorf("web1 shut down at %v, before sdf.web1 (%v)", first, sdfWeb1)
	}
	// Stage 1 only: several master POLLs later db1 and the master run on.
	time.Sleep(2 * time.Second)
	if _, ok := c.FlagTime("sdf"); ok {
		t.Fatal("the global sdf was raised at 65 % (STDWCHARGE 40)")
	}
	if len(db1.Shutdowns()) > 0 || len(c.MasterShutdowns()) > 0 {
		t.Fatal("web1's stage shut down db1 or the master")
	}
	if _, ok := c.AckTime("db1"); ok {
		t.Fatal("db1 acknowledged at web1's stage")
	}

	set(t, c, "battery.charge", "35")
	waitFor(t, 40*time.Second, "the master's shutdown", func() bool { return len(c.MasterShutdowns()) > 0 })
	time.Sleep(time.Second)
	sdfAt, _ := c.FlagTime("sdf")
	master := c.MasterShutdowns()
	if len(master) != 1 {
		t.Errorf("the master shut down %d times, want once", len(master))
	}
	for _, s := range []*e2e.Slave{web1, db1} {
		if n := len(s.Shutdowns()); n != 1 {
			t.Errorf("%s shut down %d times, want once", s.Name, n)
		}
		ack, ok := c.AckTime(s.Name)
		if !ok || ack.After(master[0].Time) {
			t.Errorf("the master shut down at %v before %s acknowledged (%v, %v)", master[0].Time, s.Name, ack, ok)
		}
	}
	if recs := db1.Shutdowns(); len(recs) > 0 && recs[0].Time.Before(sdfAt) {
		t.Errorf("db1 shut down at %v, before sdf (%v)", recs[0].Time, sdfAt)
	}
	if recs := web1.Shutdowns(); len(recs) > 0 && !recs[0].Time.Before(sdfAt) {
		t.Errorf("web1 shut down at %v, not before the global sdf (%v): its stage did not act", recs[0].Time, sdfAt)
	}
}
