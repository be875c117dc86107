// Command demo plays one whole power outage through the real programs and
// prints its timeline: Debian's dummy-ups, upsd and upsmon, OpenSSH's sshd
// as the master's SFTP-only flag account, upsflags on the master (or a
// stand-in where upsflags cannot be built) and upsslave on two slaves.
// Then the return of the power (return.go): the UPS armed at the master's
// halt and cycled by NUT's own hook, the master's boot, its Wake-on-LAN
// packets over links in network namespaces (net.go), each slave's boot and
// heartbeat, and the master's roster showing every slave back. Every
// shutdown command, and upsdrvctl, is a recorder; nothing is shut down.
//
// Run it as root with "make demo" or "go run ./internal/e2e/demo". It
// leaves its logs in ./demo-logs/<time> (or --dir) and exits 1 if the
// outage or the return did not go as expected.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nutslave/nutslave/internal/e2e"
	"github.com/nutslave/nutslave/internal/lab"
)

func main() { os.Exit(run(context.Background(), os.Args, os.Stdout, os.Stderr)) }

// Exit codes: 0 the outage and the return went as expected, 1 they did
// not (or the demo failed), 2 usage, 6 the lab cannot run here.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitUnavailable = 6
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "leave the logs in `DIR` (default ./demo-logs/<time>)")
	standIn := fs.Bool("stand-in", false, "use the stand-in master even if upsflags builds")
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if *dir == "" {
		*dir = filepath.Join("demo-logs", time.Now().Format("20060102-150405"))
	}
	for _, check := range []func() error{lab.CheckUpsmon, lab.CheckSSHD} {
		if err := check(); err != nil {
			fmt.Fprintf(stderr, "demo: error: %v\n", err)
			fmt.Fprintf(stderr, "demo: hint: run as root after: apt-get install nut-server nut-client openssh-server (make deps)\n")
			return exitUnavailable
		}
	}
	d := &demo{out: stdout, start: time.Now()}
	err := d.play(ctx, *dir, *standIn)
	abs, _ := filepath.Abs(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "demo: error: %v\n", err)
		fmt.Fprintf(stderr, "demo: the logs are in %s\n", abs)
		return exitFailed
	}
	what := "The outage"
	if d.status != "" {
		what = "The outage and the return of the power"
	}
	fmt.Fprintf(stdout, "\n%s went as expected in %.1fs. The logs are in %s\n", what, time.Since(d.start).Seconds(), abs)
	return exitOK
}

type demo struct {
	out   io.Writer
	start time.Time
	c     *e2e.Cluster
	// failAt is when the power failed: t=0 of the timeline.
	failAt time.Time
	// status is "upsflags status" after the return, for the report.
	status string
	// ret is the return of the power; nil without it.
	ret *returnPlay
	// roster is the outage's roster, kept before the master's boot-time
	// reset clears the acknowledgements.
	roster string
}

func (d *demo) logf(format string, args ...any) {
	fmt.Fprintf(d.out, "[%6.2fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// slaves are the demo's slaves' NAMEs.
var slaves = []string{"slave1", "slave2"}

func (d *demo) play(ctx context.Context, dir string, standIn bool) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d.logf("building upsslave and upsflags into %s", filepath.Join(dir, "bin"))
	bin, err := e2e.Build(ctx, filepath.Join(dir, "bin"))
	if err != nil {
		return err
	}
	if bin.Upsflags == "" {
		d.logf("upsflags is not usable here, a stand-in master writes the flags: %s", bin.UpsflagsMissing)
	}
	if bin.UpsflagsNote != "" {
		d.logf("upsflags %s", bin.UpsflagsNote)
	}
	withReturn := bin.Upsflags != "" && !standIn
	if withReturn {
		if err := e2e.CheckHaltHook(); err != nil {
			return err
		}
	}
	// upsmon runs NOTIFYCMD as RUN_AS_USER; Debian's packages use nut.
	slaveUser := "nut"
	if _, err := user.Lookup(slaveUser); err != nil {
		slaveUser = "root"
	}

	// The network of the return (net.go), made before the cluster and
	// removed after it.
	var n *demoNet
	if withReturn {
		if stale := lab.RemoveStaleNamespaces(demoNamespaces); len(stale) > 0 {
			d.logf("removed the namespaces of an earlier demo that was killed: %s", strings.Join(stale, " "))
		}
		n = planNet(os.Getpid(), slaves)
		defer func() {
			if terr := n.tearDown(); terr != nil && err == nil {
				err = terr
			}
		}()
		if err := n.setUp(); err != nil {
			return err
		}
		for _, l := range n.links {
			d.logf("%s's link: %s %s (MAC %s) in namespace %s <-> %s %s in the master's namespace %s",
				l.name, l.vethS, l.slaveIP, l.mac, l.ns, l.vethM, l.masterIP, n.master)
		}
	}

	c, err := e2e.Start(e2e.Options{
		Dir:       dir,
		SlaveUser: slaveUser,
		Bin:       bin,
		StandIn:   standIn,
		Slaves:    slaves,
		Logf:      d.logf,
	})
	if err != nil {
		return err
	}
	d.c = c
	var r *returnPlay
	defer func() {
		d.report(dir)
		if serr := c.Stop(); serr != nil && err == nil {
			err = serr
		}
		r.close() // after the cluster: nothing in the namespaces uses them any more
	}()
	d.logf("cluster up: upsd %s, sshd %s, master %s, slaves %s (upsslave runs as %s), STDWCHARGE %d",
		c.NUT.Addr, c.SSHD.Addr, c.Master.Kind(), strings.Join(slaves, " "), slaveUser, c.Opts.StdwCharge)
	if withReturn {
		r = &returnPlay{d: d, c: c, n: n, slaveUser: slaveUser}
		d.ret = r
		if err := r.prepare(ctx); err != nil {
			return err
		}
	} else {
		d.logf("the return of the power needs the real upsflags: this demo ends with the outage")
	}

	if err := d.outage(ctx); err != nil {
		return err
	}
	if r == nil {
		return nil
	}
	var b strings.Builder
	c.PrintRosterFrom(&b, d.failAt)
	d.roster = b.String()
	return r.play(ctx)
}

// outage plays the power failure until every upsmon ran its SHUTDOWNCMD.
func (d *demo) outage(ctx context.Context) error {
	c := d.c
	// The outage: power fails, the battery drains one step a second.
	outageStart := time.Now()
	d.failAt = outageStart
	d.logf("power fails: OB DISCHRG, charge 100")
	if err := c.Set(map[string]string{"ups.status": "OB DISCHRG", "battery.charge": "100"}); err != nil {
		return err
	}
	waitAll := func(what string, timeout time.Duration, cond func(*e2e.Slave) bool) error {
		return e2e.WaitFor(ctx, timeout, what, func() bool {
			for _, s := range c.Slaves {
				if !cond(s) {
					return false
				}
			}
			return true
		})
	}
	if err := waitAll("every upsslave to run on ONBATT", 15*time.Second, func(s *e2e.Slave) bool {
		return strings.Contains(s.Log(), "event=ONBATT")
	}); err != nil {
		return err
	}
	d.logf("every slave's upsmon ran upsslave for ONBATT; the slaves watch the master's flags")
	for charge := 90; ; charge -= 10 {
		if charge < 20 {
			return fmt.Errorf("%w: the master did not shut down although the charge fell to 20", e2e.ErrUnexpected)
		}
		if err := c.Set(map[string]string{"battery.charge": strconv.Itoa(charge)}); err != nil {
			return err
		}
		d.logf("battery.charge %d", charge)
		wait := time.Second
		if charge < c.Opts.StdwCharge {
			wait = 5 * time.Second // DEBOUNCE readings, then the acknowledgements
		}
		if err := e2e.WaitFor(ctx, wait, "", func() bool { return len(c.MasterShutdowns()) > 0 }); err == nil {
			break
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	d.logf("the master ran its (recorded) shutdown command")
	if err := waitAll("every slave's shutdown", 5*time.Second, func(s *e2e.Slave) bool { return len(s.Shutdowns()) > 0 }); err != nil {
		return err
	}
	d.logf("slave part done in %.1fs after the power failed", time.Since(outageStart).Seconds())
	if err := c.Check(e2e.Want{Shutdown: c.Opts.Slaves, Master: true}); err != nil {
		return err
	}

	// The battery runs flat: NUT's own path (LB, FSD, SHUTDOWN, upsmon's
	// SHUTDOWNCMD "upsslave shutdown") must not shut anyone down twice.
	d.logf("battery low: OB LB, charge 8; upsmon's own shutdown path runs")
	if err := c.Set(map[string]string{"ups.status": "OB LB", "battery.charge": "8"}); err != nil {
		return err
	}
	if err := e2e.WaitFor(ctx, 40*time.Second, "every upsmon to exit after its SHUTDOWNCMD", func() bool { return c.Exited(true) }); err != nil {
		return err
	}
	d.logf("every upsmon ran its SHUTDOWNCMD and exited")
	return c.Check(e2e.Want{Shutdown: c.Opts.Slaves, Master: true})
}

// report prints the timeline and the roster, and writes them to
// dir/timeline.txt with the lines uncut.
func (d *demo) report(dir string) {
	c := d.c
	if c == nil {
		return
	}
	t0, zero := c.Start, "the cluster was up"
	if !d.failAt.IsZero() {
		t0, zero = d.failAt, "the power failed"
	}
	write := func(w io.Writer, width int) {
		fmt.Fprintf(w, "\n=== Timeline (t=0 when %s; master: %s) ===\n", zero, c.Master.Kind())
		c.PrintTimelineFrom(w, t0, width)
		fmt.Fprintf(w, "\n=== Roster ===\n")
		if d.roster != "" {
			io.WriteString(w, d.roster)
		} else {
			c.PrintRosterFrom(w, t0)
		}
		if n := len(c.PrimaryUpsmonShutdowns()); n > 0 {
			fmt.Fprintf(w, "(the primary upsmon's own SHUTDOWNCMD, NUT's path after LB, ran %d time(s))\n", n)
		}
		if d.ret != nil && len(d.ret.listeners) > 0 {
			fmt.Fprintf(w, "\n=== The return (Wake-on-LAN) ===\n")
			d.ret.printReturn(w, t0)
		}
		if d.status != "" {
			fmt.Fprintf(w, "\n=== upsflags status on the master after the return ===\n%s", d.status)
		}
	}
	write(d.out, 160)
	if f, err := os.Create(filepath.Join(dir, "timeline.txt")); err == nil {
		write(f, 0)
		f.Close()
	}
}
