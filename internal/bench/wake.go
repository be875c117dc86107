package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/master"
)

// BuildReturn compiles what the return benchmark needs besides upsslave
// and the recorder: upsflags, as make build does (cgo; without it if
// cgo cannot build here, which only drops the USB source the benchmark
// does not use; note says so), and wolslave, the simulated halted slave.
func BuildReturn(ctx context.Context, repo, dir string) (upsflags, wolslave, note string, err error) {
	upsflags, wolslave = filepath.Join(dir, "upsflags"), filepath.Join(dir, "wolslave")
	build := func(out, pkg, cgo string) error {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w", "-o", out, pkg)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
		}
		return nil
	}
	if err := build(upsflags, "./cmd/upsflags", "1"); err != nil {
		if err2 := build(upsflags, "./cmd/upsflags", "0"); err2 != nil {
			return "", "", "", err2
		}
		note = "upsflags built without cgo (no USB source; the benchmark reads the UPS from a file)"
	}
	if err := build(wolslave, "./internal/bench/cmd/wolslave", "0"); err != nil {
		return "", "", "", err
	}
	return upsflags, wolslave, note, nil
}

// ReturnOptions bound one run of the return benchmark.
type ReturnOptions struct {
	// N slaves acknowledge an outage and halt.
	N int
	// Boot is the simulated boot: from the magic packet that wakes a
	// slave to its "upsslave heartbeat".
	Boot time.Duration
	// Every is the pause between the master's runs ("upsflags run" by
	// upsflags.timer: 5 s).
	Every time.Duration
	// Lost magic packets are lost first, for every slave.
	Lost int
	// Retry: a slave whose heartbeat fails runs it again this long after
	// (upsslave-heartbeat.timer: every minute); 0 never.
	Retry time.Duration
	// Timeout bounds power back → every slave seen.
	Timeout time.Duration
	// Tag names the run's namespaces and directory: 1 to 8 lower-case
	// letters and digits, unique in this process (NewLAN).
	Tag string
}

// SlaveReturn is one slave's way back, as measured.
type SlaveReturn struct {
	Name string
	// Acked: in the master's outage record.
	Acked bool
	// Tries is the master's count of magic packets sent to it.
	Tries int
	// Received counts the magic packets for it that reached its link
	// (Lost of them ignored).
	Received int
	// FirstPacket is the first magic packet at the slave; Waking the
	// first one not lost.
	FirstPacket, Waking time.Time
	// HeartbeatStart, HeartbeatEnd: the last "upsslave heartbeat" after
	// the boot; HeartbeatExit its exit status; HeartbeatFailed counts the
	// runs before it that failed.
	HeartbeatStart, HeartbeatEnd time.Time
	HeartbeatExit                int
	HeartbeatFailed              int
	// Seen is seen.<name>'s modification time in ACKDIR after the outage.
	Seen time.Time
	// SeenByMaster is the end of the master's run that first recorded the
	// slave back (back_at in the outage record).
	SeenByMaster time.Time
}

// ReturnResult is one run of the return benchmark.
type ReturnResult struct {
	ReturnOptions
	// Outage: the outage's sdf → the master's shutdown command.
	Outage time.Duration
	// PowerBack is the start of the master's first run on line power
	// after its reboot, with the outage record.
	PowerBack time.Time
	// Runs are the master's runs from PowerBack until every slave was
	// seen (or Timeout).
	Runs   int
	Done   bool
	Slaves []SlaveReturn
	// Others counts packets the slaves saw that were not theirs (the
	// broadcasts to the other slaves).
	Others int
}

// Return plays an outage that N slaves acknowledge, each in a network
// namespace of its own on a bridge in the master's namespace, with the
// real upsflags, upsslave and sshd; then the master's reboot ("upsflags
// reset") and its runs on line power every o.Every, while each halted
// slave is a wolslave that boots o.Boot after its magic packet and runs
// the real "upsslave heartbeat". Everything it starts is stopped by pid,
// and the namespaces deleted, whatever happens.
func (e *Env) Return(ctx context.Context, o ReturnOptions) (_ *ReturnResult, err error) {
	if e.Upsflags == "" || e.WolSlave == "" {
		return nil, errors.New("return: upsflags and wolslave not built (BuildReturn)")
	}
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	if err := e.ClearFlags(); err != nil {
		return nil, err
	}
	root := filepath.Join(e.Dir, "return-"+o.Tag)
	mdir := filepath.Join(root, "master")
	if err := os.MkdirAll(filepath.Join(mdir, "state"), 0o750); err != nil {
		return nil, err
	}
	lan, err := NewLAN(o.Tag, o.N)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() {
		if err := lan.Remove(); err != nil {
			fmt.Fprintf(os.Stderr, "nsbench: %v\n", err)
		}
	})
	var procs []*Proc
	cleanups = append(cleanups, func() {
		for _, p := range procs {
			if !p.Exited() {
				p.Kill()
			}
		}
	})

	// The master's sshd in its namespace, from the lab's configuration.
	addr := LANMasterIP + ":" + LANSSHPort
	sshdLog := filepath.Join(root, "sshd-netns.log")
	sshd, err := startCmd(exec.Command("ip", append(lab.NetnsExec(lan.Master)[1:], lab.SSHDPath, "-D", "-e", "-f", e.SSHD.ConfigFile,
		"-o", "ListenAddress="+addr, "-o", "PidFile=none")...), sshdLog)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { lab.KillTree(sshd.Pid()); sshd.Kill() })
	if err := lab.WaitFor(ctx, 10*time.Second, "the master's sshd in its namespace", func() bool {
		return lab.BannerIn(lan.Slaves[0].NS, addr)
	}); err != nil {
		return nil, fmt.Errorf("%w%s", err, lab.TailLog(sshdLog))
	}
	kh := filepath.Join(root, "known_hosts")
	if err := os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, e.SSHD.HostKey)+"\n"), 0o644); err != nil {
		return nil, err
	}

	// The slaves' configurations, as the packages' defaults but for the
	// lab's paths.
	names := make([]string, o.N)
	confs := make([]string, o.N)
	for i, s := range lan.Slaves {
		names[i] = fmt.Sprintf("s%03d", i)
		d := filepath.Join(root, names[i])
		if err := os.MkdirAll(filepath.Join(d, "state"), 0o750); err != nil {
			return nil, err
		}
		confs[i] = filepath.Join(d, "upsslave.conf")
		conf := strings.Join([]string{
			"MASTER=" + e.SSHD.User + "@" + addr,
			"IDENTITY=" + e.SSHD.ClientKey,
			"KNOWN_HOSTS=" + kh,
			"FLAGDIR=" + e.SSHD.SFTPFlagDir,
			"ACKDIR=" + e.SSHD.SFTPAckDir,
			"NAME=" + names[i],
			"STATEDIR=" + filepath.Join(d, "state"),
			"LOGFILE=" + filepath.Join(d, "upsslave.log"),
			fmt.Sprintf("SHUTDOWNCMD=%q", e.Recorder+" "+filepath.Join(d, "shutdown.rec")+" "+s.NS),
		}, "\n") + "\n"
		if err := os.WriteFile(confs[i], []byte(conf), 0o640); err != nil {
			return nil, err
		}
	}

	// The master: the real upsflags, reading the UPS from a file (the
	// namespace has no upsd), never arming a UPS.
	mconf := filepath.Join(mdir, "upsflags.conf")
	upsFile := filepath.Join(mdir, "ups.txt")
	upsmonConf := filepath.Join(mdir, "upsmon.conf") // empty: no POWERDOWNFLAG to touch
	if err := os.WriteFile(upsmonConf, nil, 0o644); err != nil {
		return nil, err
	}
	conf := strings.Join([]string{
		"SOURCE=file:" + upsFile,
		"FLAGDIR=" + e.SSHD.FlagDir,
		"ACKDIR=" + e.SSHD.AckDir,
		"SLAVES=" + strconv.Quote(strings.Join(names, " ")),
		"HOSTSYNC=60s",
		fmt.Sprintf("SHUTDOWNCMD=%q", e.Recorder+" "+filepath.Join(mdir, "shutdown.rec")+" master"),
		"LOGFILE=" + filepath.Join(mdir, "upsflags.log"),
		"STATEDIR=" + filepath.Join(mdir, "state"),
		"TRIGGER=" + filepath.Join(mdir, "upsflags.trigger"),
		"DRYRUN=no",
		"KILLPOWER=no",
		"UPSMON_CONF=" + upsmonConf,
	}, "\n") + "\n"
	if err := os.WriteFile(mconf, []byte(conf), 0o640); err != nil {
		return nil, err
	}
	ups := func(status string, charge int) error {
		return os.WriteFile(upsFile, fmt.Appendf(nil, "ups.status: %s\nbattery.charge: %d\n", status, charge), 0o644)
	}
	upsflags := func(timeout time.Duration, args ...string) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		argv := append(lab.NetnsExec(lan.Master), append([]string{e.Upsflags, "--config", mconf}, args...)...)
		cmd := exec.CommandContext(cctx, argv[0], argv[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := lab.Spawn(cmd); err != nil {
			return "", err
		}
		err := cmd.Wait()
		return out.String(), err
	}
	if err := ups("OL", 100); err != nil {
		return nil, err
	}
	if out, err := upsflags(30*time.Second, "reset"); err != nil {
		return nil, fmt.Errorf("upsflags reset: %v: %s", err, out)
	}

	// Before the outage: one heartbeat from each slave tells the master
	// its MAC address and link.
	for i, s := range lan.Slaves {
		argv := append(lab.NetnsExec(s.NS), e.Upsslave, "--config", confs[i], "heartbeat")
		// A hung SSH session must not hang the benchmark.
		hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, _ := exec.CommandContext(hctx, argv[0], argv[1:]...).CombinedOutput() // its check may find problems; the heartbeat is written all the same
		cancel()
		b, _ := os.ReadFile(filepath.Join(e.SSHD.AckDir, "seen."+names[i]))
		if !strings.Contains(string(b), "mac="+s.MAC) {
			return nil, fmt.Errorf("slave %s: its heartbeat does not report mac=%s:\n%s\n%s", names[i], s.MAC, b, out)
		}
	}

	// The outage: every slave waits (upsslave as NOTIFYCMD for ONBATT),
	// the UPS reaches low battery, the master writes sdf, waits for the
	// acknowledgements, records the outage and shuts down (recorded).
	mark, err := MarkLog(sshdLog)
	if err != nil {
		return nil, err
	}
	slaves := make([]*Proc, o.N)
	for i, s := range lan.Slaves {
		cmd := exec.Command("ip", append(lab.NetnsExec(s.NS)[1:], e.Upsslave, "UPS ups@master: ONBATT")...)
		cmd.Dir = filepath.Dir(confs[i])
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFYTYPE=ONBATT", "UPSNAME=ups@master", "UPSSLAVE_CONF=" + confs[i], "LANG=C"}
		p, err := startCmd(cmd, filepath.Join(filepath.Dir(confs[i]), "out.onbatt"))
		if err != nil {
			return nil, err
		}
		slaves[i] = p
		procs = append(procs, p)
	}
	if err := lab.WaitFor(ctx, 30*time.Second+time.Duration(o.N)*time.Second, "every slave logged in", func() bool {
		c, err := mark.Since()
		return err == nil && c.Accepted >= o.N
	}); err != nil {
		return nil, err
	}
	if err := ups("OB DISCHRG LB", 10); err != nil {
		return nil, err
	}
	shutRec := filepath.Join(mdir, "shutdown.rec")
	for i := 0; ; i++ {
		if out, err := upsflags(90*time.Second, "run"); err != nil {
			return nil, fmt.Errorf("upsflags run (outage): %v: %s", err, out)
		}
		if b, _ := os.ReadFile(shutRec); len(b) > 0 {
			break
		}
		if i == 5 {
			return nil, errors.New("the master did not shut down in 6 runs at low battery")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	for _, p := range slaves {
		p.Wait(30 * time.Second)
	}
	r := &ReturnResult{ReturnOptions: o}
	outage, err := readOutage(filepath.Join(mdir, "state", "upsflags.outage"))
	if err != nil {
		return nil, fmt.Errorf("the master recorded no outage: %w", err)
	}
	if recs, err := (&Slave{Dir: mdir}).Recorded(); err == nil && len(recs) > 0 {
		r.Outage = recs[0].Sub(outage.SDFAt)
	}

	// The slaves are halted: each is now its network card, armed for
	// Wake-on-LAN.
	events := make([]string, o.N)
	for i, s := range lan.Slaves {
		events[i] = filepath.Join(filepath.Dir(confs[i]), "wol.events")
		argv := []string{e.WolSlave, "-mac", s.MAC, "-boot", o.Boot.String(), "-ignore", strconv.Itoa(o.Lost), "-retry", o.Retry.String(),
			"-out", events[i], "-cmdout", filepath.Join(filepath.Dir(confs[i]), "out.heartbeat"),
			"-max", (o.Timeout + time.Minute).String(), e.Upsslave, "--config", confs[i], "heartbeat"}
		p, err := startCmd(exec.Command("ip", append(lab.NetnsExec(s.NS)[1:], argv...)...), filepath.Join(filepath.Dir(confs[i]), "out.wolslave"))
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	if err := lab.WaitFor(ctx, 10*time.Second, "every slave's listener", func() bool {
		for _, f := range events {
			if b, _ := os.ReadFile(f); !bytes.HasPrefix(b, []byte("ready ")) {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, err
	}

	// The master's reboot: the boot-time reset, the UPS on line again
	// with enough charge, then its runs every o.Every.
	if out, err := upsflags(30*time.Second, "reset"); err != nil {
		return nil, fmt.Errorf("upsflags reset: %v: %s", err, out)
	}
	if err := ups("OL CHRG", 60); err != nil {
		return nil, err
	}
	seenBy := map[string]time.Time{}
	r.PowerBack = time.Now()
	for k := 0; ; k++ {
		if d := time.Until(r.PowerBack.Add(time.Duration(k) * o.Every)); d > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(d):
			}
		}
		if out, err := upsflags(60*time.Second, "run"); err != nil {
			return nil, fmt.Errorf("upsflags run (return, run %d): %v: %s", k+1, err, out)
		}
		end := time.Now()
		r.Runs++
		now, err := readOutage(filepath.Join(mdir, "state", "upsflags.outage"))
		if err != nil {
			return nil, err
		}
		for n, rt := range now.Slaves {
			if _, ok := seenBy[n]; !ok && !rt.BackAt.IsZero() {
				seenBy[n] = end
			}
		}
		outage = now
		if now.Done || time.Since(r.PowerBack) > o.Timeout {
			r.Done = now.Done
			break
		}
	}
	// The last run's packets may still be on their way to the slaves'
	// listeners: wait until each has logged as many as were sent to it. A
	// packet really lost shows in the table (packets at the slaves), so
	// past the deadline the benchmark carries on.
	err = lab.WaitFor(ctx, 2*time.Second, "every magic packet at its slave", func() bool {
		for i, name := range names {
			if rt, ok := outage.Slaves[name]; ok && packetsAt(events[i]) < rt.Tries {
				return false
			}
		}
		return true
	})
	if _, late := errors.AsType[*lab.TimeoutError](err); err != nil && !late {
		return nil, err
	}

	for i, name := range names {
		sr := SlaveReturn{Name: name, SeenByMaster: seenBy[name], HeartbeatExit: -1}
		if rt, ok := outage.Slaves[name]; ok {
			sr.Acked, sr.Tries = true, rt.Tries
		}
		if fi, err := os.Stat(filepath.Join(e.SSHD.AckDir, "seen."+name)); err == nil && fi.ModTime().After(outage.SDFAt) {
			sr.Seen = fi.ModTime()
		}
		b, err := os.ReadFile(events[i])
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			t := unixNano(f[1])
			switch f[0] {
			case "packet", "ignored":
				sr.Received++
				if sr.FirstPacket.IsZero() {
					sr.FirstPacket = t
				}
				if f[0] == "packet" && sr.Waking.IsZero() {
					sr.Waking = t
				}
			case "other":
				r.Others++
			case "heartbeat":
				if len(f) >= 4 {
					if !sr.HeartbeatStart.IsZero() && sr.HeartbeatExit != 0 {
						sr.HeartbeatFailed++
					}
					sr.HeartbeatStart, sr.HeartbeatEnd = t, unixNano(f[2])
					sr.HeartbeatExit, _ = strconv.Atoi(strings.TrimPrefix(f[3], "exit="))
				}
			}
		}
		r.Slaves = append(r.Slaves, sr)
	}
	return r, nil
}

// packetsAt counts the magic packets for its MAC that a slave's wolslave
// has logged in its events file, taken or ignored.
func packetsAt(events string) int {
	b, _ := os.ReadFile(events)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if ev, _, _ := strings.Cut(line, " "); ev == "packet" || ev == "ignored" {
			n++
		}
	}
	return n
}

func unixNano(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func readOutage(path string) (master.Outage, error) {
	var o master.Outage
	b, err := os.ReadFile(path)
	if err != nil {
		return o, err
	}
	return o, json.Unmarshal(b, &o)
}
