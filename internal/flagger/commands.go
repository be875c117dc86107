package flagger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/lock"
	"github.com/nutslave/nutslave/internal/master"
)

// Status prints the reading, the state, the flags and the roster. It
// takes no lock and writes nothing.
func Status(ctx context.Context, cfg *Config, w io.Writer) error {
	f, err := New(cfg, eventlog.Discard())
	if err != nil {
		return err
	}
	start := time.Now()
	r := f.src.Read(ctx)
	took := time.Since(start)
	fmt.Fprintf(w, "source:   %s\n", f.src)
	fmt.Fprintf(w, "reading:  %s (%v)\n", r, took.Round(10*time.Microsecond))
	st, err := loadState(cfg, f.boot)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "state:    power=%s since %s, phase=%s, low readings=%d", st.Power, stamp(st.PowerSince), st.Phase, st.LowCount)
	if !st.NoReadingSince.IsZero() {
		fmt.Fprintf(w, ", no reading since %s", stamp(st.NoReadingSince))
	}
	fmt.Fprintln(w)
	if st.Reason != "" {
		fmt.Fprintf(w, "reason:   %s\n", st.Reason)
	}
	if l, err := lock.TryLock(lockPath(cfg)); errors.Is(err, lock.ErrHeld) {
		fmt.Fprintln(w, "decider:  another upsflags is running now")
	} else if err == nil {
		l.Unlock()
	}
	if _, err := checkDir("FLAGDIR", cfg.FlagDir, cfg.FlagOwner); err != nil {
		return err
	}
	fd, err := flags.OpenDir(cfg.FlagDir)
	if err != nil {
		return err
	}
	defer fd.Close()
	infos, err := fd.List(ctx)
	if err != nil {
		return err
	}
	have := map[flags.Name]flags.Info{}
	for _, in := range infos {
		have[in.Name] = in
	}
	fmt.Fprintf(w, "flags:    %s:", cfg.FlagDir)
	for _, n := range []flags.Name{flags.Onl, flags.BattSDF, flags.SDF} {
		if in, ok := have[n]; ok {
			fmt.Fprintf(w, " %s(%s)", n, stamp(in.ModTime))
		} else {
			fmt.Fprintf(w, " -%s", n)
		}
	}
	if in, ok := have[flags.Drill]; ok {
		fmt.Fprintf(w, " drill(%s)", stamp(in.ModTime))
	}
	fmt.Fprintln(w)
	disk, staged, _, _ := scanFlags(infos)
	now := time.Now()
	next, plan := master.Decide(st, r, disk, now, cfg.decision())
	_, stagePlans := master.DecideStages(next, r, staged, now, cfg.decision())
	fmt.Fprintf(w, "next run: %s%s\n", plan.Note, planOps(plan, stagePlans))

	sdfAt := st.SDFAt
	if sdfAt.IsZero() && disk.SDF {
		sdfAt = disk.SDFTime
	}
	var acks []flags.Info
	var hbs []master.Heartbeat
	if _, err := checkDir("ACKDIR", cfg.AckDir, cfg.FlagOwner); err != nil {
		fmt.Fprintf(w, "acks:     %v\n", err)
	} else if ad, err := flags.OpenDir(cfg.AckDir); err != nil {
		fmt.Fprintf(w, "acks:     %v\n", err)
	} else {
		acks, err = ad.List(ctx)
		ad.Close()
		if err != nil {
			return err
		}
		if hbs, err = readHeartbeats(ctx, cfg); err != nil {
			fmt.Fprintf(w, "seen:     %v\n", err)
		}
	}
	printRoster(w, cfg, rosterView{acks: acks, sdfAt: sdfAt, st: st, disk: disk, staged: staged, hbs: hbs, now: now})
	if state, when, ok := f.runner.Status(); ok {
		fmt.Fprintf(w, "shutdown: %s at %s\n", state, stamp(when))
	}
	return nil
}

func planOps(p master.Plan, stages []master.StagePlan) string {
	var ops []string
	for _, o := range []struct {
		n  flags.Name
		op master.Op
	}{{flags.BattSDF, p.BattSDF}, {flags.SDF, p.SDF}, {flags.Onl, p.Onl}} {
		if o.op != master.Keep {
			ops = append(ops, o.op.String()+" "+string(o.n))
		}
	}
	for _, sp := range stages {
		for _, o := range []struct {
			n  flags.Name
			op master.Op
		}{{flags.StagedBattSDF(sp.Name), sp.BattSDF}, {flags.StagedSDF(sp.Name), sp.SDF}} {
			if o.op != master.Keep {
				ops = append(ops, o.op.String()+" "+string(o.n))
			}
		}
	}
	if p.Commit {
		ops = append(ops, "wait for the slaves, then shut down")
	}
	if len(ops) == 0 {
		return ""
	}
	return " → " + strings.Join(ops, ", ")
}

// rosterView is what printRoster shows.
type rosterView struct {
	acks   []flags.Info
	sdfAt  time.Time
	st     master.State
	disk   master.Disk
	staged map[string]master.StageFlags
	hbs    []master.Heartbeat
	now    time.Time
}

// printRoster prints one line per known slave (SLAVES ∪ STAGES ∪ any
// seen.<name>): acknowledged for this outage's sdf (or its own stage's
// sdf.<name>) or not and when, its stage and threshold, the verdict it was
// given, and when its last heartbeat came; then the problems slaves
// reported.
func printRoster(w io.Writer, cfg *Config, v rosterView) {
	when := "no sdf"
	if !v.sdfAt.IsZero() {
		when = "sdf at " + stamp(v.sdfAt) + ", HOSTSYNC until " + stamp(v.sdfAt.Add(cfg.HostSync))
	}
	fmt.Fprintf(w, "roster:   %s (%s; STALE %v)\n", cfg.AckDir, when, cfg.Stale)
	since := v.sdfAt
	if since.IsZero() {
		// No outage: every acknowledgement present is from an old one.
		since = v.now.Add(24 * 365 * time.Hour)
	}
	stageAt := map[string]time.Time{}
	for n, ss := range v.st.Stages {
		if !ss.SDFAt.IsZero() {
			stageAt[n] = ss.SDFAt
		}
	}
	for n, f := range v.staged {
		if f.SDF && stageAt[n].IsZero() {
			stageAt[n] = f.SDFTime
		}
	}
	ro := master.NewRoster(cfg.Slaves, cfg.Stages, stageAt)
	t := ro.Count(v.acks, since)
	acked := map[string]master.Ack{}
	var anon *master.Ack
	for _, a := range t.Acked {
		if a.Slave == "" {
			anon = &a
			continue
		}
		acked[a.Slave] = a
	}
	stale := map[string]master.Ack{}
	for _, a := range t.Stale {
		stale[a.Slave] = a
	}
	stageOf := map[string]master.Stage{}
	for _, sg := range cfg.Stages {
		stageOf[sg.Name] = sg
	}
	ready := master.Ready(ro.Names, v.hbs, v.now, cfg.Stale)
	readyOf := map[string]master.Readiness{}
	for _, r := range ready {
		readyOf[r.Name] = r
	}
	anonFor := ro.Anon
	if anonFor == "" && len(ro.Names) == 1 {
		anonFor = ro.Names[0]
	}

	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  SLAVE\tACKNOWLEDGED\tWHEN\tSTAGE\tVERDICT\tSEEN")
	stageCol := func(n string) string {
		if sg, ok := stageOf[n]; ok {
			return sg.Threshold()
		}
		return "global"
	}
	verdict := func(n string) string {
		if f, ok := v.staged[n]; ok && f.SDF {
			return "sdf." + n + " " + stamp(f.SDFTime)
		}
		switch {
		case v.disk.SDF:
			return "sdf"
		case v.staged[n].BattSDF:
			return "battsdf." + n
		case v.disk.BattSDF:
			return "battsdf"
		}
		return "-"
	}
	seenCol := func(n string) string {
		r, ok := readyOf[n]
		switch {
		case !ok:
			return "-"
		case !r.Seen:
			return "never STALE"
		}
		s := master.Ago(r.Age)
		if r.Stale {
			s += " STALE"
		}
		if r.Problem() {
			s += " PROBLEM"
		}
		return s
	}
	if len(ro.Names) == 0 {
		fmt.Fprintln(tw, "  (SLAVES and STAGES empty: any one acknowledgement ends the wait)\t\t\t\t\t")
		for _, a := range t.Acked {
			fmt.Fprintf(tw, "  %s\tyes\t%s\tglobal\t%s\t%s\n", a.Who(), stamp(a.At), verdict(a.Slave), seenCol(a.Slave))
		}
	}
	for _, n := range ro.Names {
		rest := fmt.Sprintf("%s\t%s\t%s", stageCol(n), verdict(n), seenCol(n))
		switch a, ok := acked[n]; {
		case ok:
			fmt.Fprintf(tw, "  %s\tyes\t%s\t%s\n", n, stamp(a.At), rest)
		case n == anonFor && anon != nil:
			fmt.Fprintf(tw, "  %s\tyes (sdfok)\t%s\t%s\n", n, stamp(anon.At), rest)
		default:
			if s, ok := stale[n]; ok {
				fmt.Fprintf(tw, "  %s\tno (old: %s)\t-\t%s\n", n, stamp(s.At), rest)
			} else {
				fmt.Fprintf(tw, "  %s\tno\t-\t%s\n", n, rest)
			}
		}
	}
	for _, a := range t.Unlisted {
		fmt.Fprintf(tw, "  %s\tnot in SLAVES or STAGES\t%s\t-\t-\t%s\n", a.Who(), stamp(a.At), seenCol(a.Slave))
	}
	for _, r := range ready {
		if !r.Listed && acked[r.Name] == (master.Ack{}) && !unlistedAck(t, r.Name) {
			fmt.Fprintf(tw, "  %s\tnot in SLAVES or STAGES\t-\t-\t-\t%s\n", r.Name, seenCol(r.Name))
		}
	}
	tw.Flush()
	for _, r := range ready {
		switch {
		case r.Problem():
			fmt.Fprintf(w, "  problem: %s %s\n", r.Name, r.Describe())
		case r.Stale:
			fmt.Fprintf(w, "  stale:   %s %s\n", r.Name, r.Describe())
		}
	}
}

func unlistedAck(t master.Tally, name string) bool {
	for _, a := range t.Unlisted {
		if a.Slave == name {
			return true
		}
	}
	return false
}

// readHeartbeats reads every seen.<name> in ACKDIR, each at most
// [flags.MaxBody] bytes, for display.
func readHeartbeats(ctx context.Context, cfg *Config) ([]master.Heartbeat, error) {
	if _, err := checkDir("ACKDIR", cfg.AckDir, cfg.FlagOwner); err != nil {
		return nil, err
	}
	now := time.Now()
	return readAckFiles(ctx, cfg, flags.SeenSlave, func(name string, body []byte, in flags.Info) master.Heartbeat {
		return master.ParseHeartbeat(name, body, in.ModTime, now)
	})
}

// readAckFiles reads the slaves' files of one kind in ACKDIR (slaveOf
// tells them apart and names their slave) and parses each. A body too
// large or unreadable is parsed as empty: the file's time still counts.
func readAckFiles[T any](ctx context.Context, cfg *Config, slaveOf func(flags.Name) (string, bool), parse func(slave string, body []byte, in flags.Info) T) ([]T, error) {
	ad, err := flags.OpenDir(cfg.AckDir)
	if err != nil {
		return nil, err
	}
	defer ad.Close()
	infos, err := ad.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, in := range infos {
		name, ok := slaveOf(in.Name)
		if !ok {
			continue
		}
		body, _ := ad.Get(ctx, in.Name)
		out = append(out, parse(name, body, in))
	}
	return out, nil
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

// checker is a check's findings; stale names the roster members without
// a recent heartbeat.
type checker struct {
	command.Checker
	stale []string
}

// Check verifies everything an outage will need, so a broken master is
// found before the power fails. It creates missing flag directories.
func Check(ctx context.Context, cfg *Config, w io.Writer) error {
	k := &checker{Checker: command.Checker{W: w}}
	k.OK("configuration %s parsed (SOURCE=%s SLAVES=%s)", cfg.Path, cfg.Source, slavesText(cfg.Slaves))
	checkStages(k, cfg)
	if fi, err := os.Stat(cfg.Path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		k.Warn("%s is world-readable (mode %04o); use root:nut 0640", cfg.Path, fi.Mode().Perm())
	}
	checkDirs(k, cfg)
	checkStateDir(k, cfg)
	checkShutdownCmd(k, cfg)
	k.Chain("upsflags", cfg.Next, cfg.Path, os.Getenv)
	f, err := New(cfg, eventlog.Discard())
	if err != nil {
		k.Config = true
		k.Fail("SOURCE: %v", err)
	} else {
		start := time.Now()
		r := f.src.Read(ctx)
		switch {
		case r.OK():
			k.OK("UPS read through %s in %v: %s", f.src, time.Since(start).Round(time.Millisecond), r)
			if !r.HasCharge {
				k.Warn("the reading has no battery.charge: STDWCHARGE cannot apply; only LB, STDWRUNTIME and MAXONBATT can")
			}
			for _, sg := range cfg.Stages {
				if sg.Runtime > 0 && !r.HasRuntime {
					k.Warn("STAGES %s: the reading has no battery.runtime, so this stage never fires", sg)
				} else if sg.Runtime == 0 && !r.HasCharge {
					k.Warn("STAGES %s: the reading has no battery.charge, so this stage never fires", sg)
				}
			}
		case permanent(r.Err):
			if errors.Is(r.Err, fs.ErrPermission) {
				k.Permission = true
			}
			k.Fail("cannot read the UPS through %s: %v", f.src, r.Err)
		default:
			k.Fail("no reading through %s now: %v", f.src, r.Err)
		}
	}
	if len(cfg.roster()) == 0 {
		k.Warn("SLAVES is empty: the first acknowledgement from any slave ends the master's wait; list the slaves' NAMEs")
	}
	if k.Errors == 0 {
		markChecked(k, cfg)
	}
	checkReadiness(ctx, k, cfg)
	if cfg.DryRun {
		k.Warn("DRYRUN=yes: the master will NOT shut down, it will only log")
	}
	if err := k.Err(); err != nil {
		if len(k.stale) > 0 {
			return fmt.Errorf("%w; not seen for STALE: %s", err, strings.Join(k.stale, " "))
		}
		return err
	}
	fmt.Fprintf(w, "upsflags is ready (%d warning(s))\n", k.Warnings)
	return nil
}

// checkStages warns about stages that can never fire on their own: a
// threshold at or below the global one is always crossed by the global
// verdict first.
func checkStages(k *checker, cfg *Config) {
	for _, sg := range cfg.Stages {
		switch {
		case sg.Runtime == 0 && sg.Charge <= cfg.StdwCharge:
			k.Warn("STAGES %s: %v%% is at or below STDWCHARGE %v%%: the global sdf comes first, so this stage never fires on its own", sg, sg.Charge, cfg.StdwCharge)
		case sg.Runtime > 0 && cfg.StdwRuntime > 0 && sg.Runtime <= cfg.StdwRuntime:
			k.Warn("STAGES %s: %v is at or below STDWRUNTIME %v: the global sdf comes first, so this stage never fires on its own", sg, sg.Runtime, cfg.StdwRuntime)
		}
	}
	if len(cfg.Stages) > 0 {
		k.OK("STAGES %s (the others follow STDWCHARGE %v%%)", stagesText(cfg.Stages), cfg.StdwCharge)
	}
}

func stagesText(stages []master.Stage) string {
	var parts []string
	for _, sg := range stages {
		parts = append(parts, sg.String())
	}
	return strings.Join(parts, " ")
}

// checkReadiness fails when a slave of SLAVES or STAGES has not sent a
// heartbeat (seen.<name>) for STALE, and warns about problems slaves
// reported.
func checkReadiness(ctx context.Context, k *checker, cfg *Config) {
	roster := cfg.roster()
	if len(roster) == 0 {
		return
	}
	hbs, err := readHeartbeats(ctx, cfg)
	if err != nil {
		k.Fail("cannot read the slaves' heartbeats: %v", err)
		return
	}
	var stale []string
	for _, r := range master.Ready(roster, hbs, time.Now(), cfg.Stale) {
		switch {
		case r.Stale:
			stale = append(stale, r.Name)
			k.Fail("slave %s: %s (STALE %v)", r.Name, r.Describe(), cfg.Stale)
		case r.Problem():
			k.Warn("slave %s: %s", r.Name, r.Describe())
		case r.Listed:
			k.OK("slave %s: %s", r.Name, r.Describe())
		}
	}
	k.stale = stale
	if len(stale) > 0 {
		fmt.Fprintf(k.W, "  fix: on %s, run \"upsslave heartbeat\" and enable upsslave-heartbeat.timer\n", strings.Join(stale, ", "))
	}
}

func checkDirs(k *checker, cfg *Config) {
	notes, err := ensureDirs(cfg, true)
	for _, n := range notes {
		if strings.Contains(n, "does not exist") {
			k.Warn("%s", n)
		} else {
			k.OK("%s", n)
		}
	}
	if err != nil {
		k.Fail("%v", err)
		var h *command.Hinted
		if errors.As(err, &h) {
			fmt.Fprintf(k.W, "  fix: %s\n", h.Hint)
		}
		return
	}
	describe := func(key, path string) *syscall.Stat_t {
		fi, err := os.Lstat(path)
		if err != nil {
			k.Fail("%s %s: %v", key, path, err)
			return nil
		}
		st := fi.Sys().(*syscall.Stat_t)
		k.OK("%s %s (uid %d, gid %d, mode %04o)", key, path, st.Uid, st.Gid, modeBits(fi))
		return st
	}
	if st := describe("FLAGDIR", cfg.FlagDir); st != nil && cfg.AckDir != cfg.FlagDir && st.Mode&0o022 != 0 {
		k.Warn("FLAGDIR %s is writable by its group or others: a slave could forge sdf; chmod 0755 it", cfg.FlagDir)
	}
	if cfg.AckDir == cfg.FlagDir {
		k.Warn("ACKDIR is FLAGDIR (the original layout): any slave could forge sdf and shut every host down; use a separate ACKDIR (default FLAGDIR/acks)")
		return
	}
	st := describe("ACKDIR", cfg.AckDir)
	if st == nil {
		return
	}
	gid, gerr := sshGroup(cfg.SSHUser)
	switch {
	case gerr != nil:
		k.Warn("ACKDIR: %v; create the slaves' account (SSHUSER=%s), then chgrp %s %s", gerr, cfg.SSHUser, cfg.SSHUser, cfg.AckDir)
	case int(st.Gid) != gid:
		k.Warn("ACKDIR %s has gid %d, not group %s (%d): the slaves cannot write their acknowledgements; chgrp %s %s",
			cfg.AckDir, st.Gid, cfg.SSHUser, gid, cfg.SSHUser, cfg.AckDir)
	}
	if st.Mode&0o7777 != 0o1770 {
		k.Warn("ACKDIR %s has mode %04o, want 1770 (sticky: a slave cannot delete another's acknowledgement)", cfg.AckDir, st.Mode&0o7777)
	}
	if fd, err := flags.OpenDir(cfg.FlagDir); err == nil {
		if in, err := fd.Stat(context.Background(), flags.SDF); err == nil {
			if bt := bootTime(); !bt.IsZero() && in.ModTime.Before(bt) {
				k.Warn("sdf in FLAGDIR is from before this boot: is upsflags-reset.service enabled? (upsflags run clears it)")
			} else {
				k.Warn("sdf is present: the master is committed to shutting down (upsflags reset clears it at boot)")
			}
		}
		fd.Close()
	}
}

// CheckedFile is written by the first check that finds the master's own
// side in order (configuration, directories, STATEDIR, SHUTDOWNCMD, the
// UPS); the slaves' readiness does not count. The packaged units run
// upsflags only once it exists (ConditionPathExists), so nothing runs
// with the configuration as installed.
func CheckedFile(cfg *Config) string { return filepath.Join(cfg.StateDir, "upsflags.checked") }

func markChecked(k *checker, cfg *Config) {
	p := CheckedFile(cfg)
	if _, err := os.Stat(p); err == nil {
		return
	}
	body := fmt.Sprintf("checked=%s version=%s config=%s\n", time.Now().Format(time.RFC3339), cfg.Version, cfg.Path)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		k.Warn("cannot write %s (%v): the packaged upsflags units do not run until it exists", p, err)
		return
	}
	k.OK("the master's side is in order: wrote %s; upsflags.timer and upsflags.path now run upsflags", p)
}

func checkStateDir(k *checker, cfg *Config) {
	k.StateDir(cfg.StateDir, cfg.LogFile, "root")
	if _, err := os.Stat(filepath.Dir(cfg.Trigger)); err != nil {
		k.Warn("TRIGGER directory %s: %v; NOTIFYCMD runs as user nut cannot hand events to the root service", filepath.Dir(cfg.Trigger), err)
	}
}

func checkShutdownCmd(k *checker, cfg *Config) {
	// DRYRUN gets its own warning in runCheck, worded for the master.
	path := k.ShutdownCmd(cfg.ShutdownCmd, false)
	if path == "" {
		return
	}
	if os.Geteuid() != 0 {
		k.Warn("running as uid %d: the timer runs upsflags as root; %s may need root", os.Geteuid(), path)
	}
	k.OK("SHUTDOWNCMD %q", cfg.ShutdownCmd)
}
