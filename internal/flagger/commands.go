package flagger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/master"
)

// Status prints what CollectStatus finds: as text for people or, with
// asJSON, as one JSON document (schema StatusSchema, docs/status-json.md).
// It takes no lock and writes nothing.
func Status(ctx context.Context, cfg *Config, asJSON bool, w io.Writer) error {
	s, err := CollectStatus(ctx, cfg)
	switch {
	case err != nil && s != nil && !asJSON:
		s.writeHead(w)
		return err
	case err != nil:
		return err
	case asJSON:
		return s.WriteJSON(w)
	}
	s.WriteText(w)
	return nil
}

// WriteJSON writes s as one indented JSON document.
func (s *MasterStatus) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteText writes s for people: the reading, the state, the flags, what
// the next run would do, the roster and the master's shutdown.
func (s *MasterStatus) WriteText(w io.Writer) {
	s.writeHead(w)
	if s.DeciderRunning {
		fmt.Fprintln(w, "decider:  another upsflags is running now")
	}
	have := map[string]time.Time{}
	for _, f := range s.Flags {
		have[f.Name] = f.Time
	}
	fmt.Fprintf(w, "flags:    %s:", s.FlagDir)
	for _, n := range []flags.Name{flags.Onl, flags.BattSDF, flags.SDF} {
		if t, ok := have[string(n)]; ok {
			fmt.Fprintf(w, " %s(%s)", n, stamp(t))
		} else {
			fmt.Fprintf(w, " -%s", n)
		}
	}
	if t, ok := have[string(flags.Drill)]; ok {
		fmt.Fprintf(w, " drill(%s)", stamp(t))
	}
	fmt.Fprintln(w)
	ops := ""
	if len(s.Next.Ops) > 0 {
		ops = " → " + strings.Join(s.Next.Ops, ", ")
	}
	fmt.Fprintf(w, "next run: %s%s\n", s.Next.Note, ops)
	if s.Roster.AckError != "" {
		fmt.Fprintf(w, "acks:     %s\n", s.Roster.AckError)
	}
	if s.Roster.HeartbeatError != "" {
		fmt.Fprintf(w, "seen:     %s\n", s.Roster.HeartbeatError)
	}
	s.writeRoster(w)
	s.writeReturns(w)
	if s.Shutdown != nil {
		fmt.Fprintf(w, "shutdown: %s at %s\n", s.Shutdown.State, stamp(s.Shutdown.Time))
	}
	k := s.Killpower
	armed := map[bool]string{true: "armed: the next halt tells the UPS to cut its load", false: "not armed"}[k.Armed]
	if k.Via == "none" {
		armed = "the master does not arm the UPS"
	}
	fmt.Fprintf(w, "killpower: via %s, %s", k.Via, armed)
	if k.Note != "" {
		fmt.Fprintf(w, "; %s", k.Note)
	}
	fmt.Fprintln(w)
}

// writeReturns writes, for each slave of the last outage, when it
// acknowledged, the wake-ups sent and when it was back.
func (s *MasterStatus) writeReturns(w io.Writer) {
	for _, sl := range s.Roster.Slaves {
		r := sl.LastOutage
		if r == nil {
			continue
		}
		woken, back := "not woken", "not back yet"
		if r.WakeTries > 0 {
			woken = fmt.Sprintf("woken %s (%d tries)", stamp(r.WokenTime), r.WakeTries)
		}
		switch {
		case !r.BackTime.IsZero():
			back = "back " + stamp(r.BackTime)
		case r.GaveUp:
			back = "not back; wake-ups gave up (WAKE_FOR)"
		}
		fmt.Fprintf(w, "outage:   %s acknowledged %s, %s, %s\n", sl.Name, stamp(r.AckTime), woken, back)
	}
}

// writeHead writes the source, the reading and the state: what a status
// that could not read FLAGDIR still shows.
func (s *MasterStatus) writeHead(w io.Writer) {
	fmt.Fprintf(w, "source:   %s\n", s.Source)
	fmt.Fprintf(w, "reading:  %s (%v)\n", s.Reading.reading(), time.Duration(s.Reading.Took).Round(10*time.Microsecond))
	st := s.State
	if st.Power == "" {
		return // the state could not be read
	}
	fmt.Fprintf(w, "state:    power=%s since %s, phase=%s, low readings=%d", st.Power, stamp(st.PowerSince), st.Phase, st.LowReadings)
	if !st.NoReadingSince.IsZero() {
		fmt.Fprintf(w, ", no reading since %s", stamp(st.NoReadingSince))
	}
	fmt.Fprintln(w)
	if st.Reason != "" {
		fmt.Fprintf(w, "reason:   %s\n", st.Reason)
	}
}

func planOps(p master.Plan, stages []master.StagePlan) []string {
	ops := []string{}
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
	return ops
}

// writeRoster writes one line per known slave: acknowledged for this
// outage's sdf (or its own stage's sdf.<name>) or not and when, its stage
// and threshold, the verdict it was given, and when its last heartbeat
// came; then the problems slaves reported.
func (s *MasterStatus) writeRoster(w io.Writer) {
	ro := s.Roster
	when := "no sdf"
	if sdfAt := s.State.SDFTime; !sdfAt.IsZero() {
		when = "sdf at " + stamp(sdfAt) + ", HOSTSYNC until " + stamp(ro.HostSyncUntil)
	}
	fmt.Fprintf(w, "roster:   %s (%s; STALE %v)\n", ro.AckDir, when, time.Duration(ro.Stale))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  SLAVE\tACKNOWLEDGED\tWHEN\tSTAGE\tVERDICT\tSEEN")
	stageCol := func(sl SlaveStatus) string {
		if sl.Stage != nil {
			return sl.Stage.threshold()
		}
		return "global"
	}
	verdict := func(sl SlaveStatus) string {
		switch {
		case sl.Verdict == "":
			return "-"
		case strings.HasPrefix(sl.Verdict, string(flags.SDF)+"."):
			return sl.Verdict + " " + stamp(sl.VerdictTime)
		}
		return sl.Verdict
	}
	seenCol := func(sl SlaveStatus) string {
		r := sl.readiness()
		switch {
		case sl.Name == "" || !r.Seen && !r.Listed:
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
	who := func(sl SlaveStatus) string {
		return master.Ack{Slave: sl.Name}.Who()
	}
	if ro.AnyOne {
		fmt.Fprintln(tw, "  (SLAVES and STAGES empty: any one acknowledgement ends the wait)\t\t\t\t\t")
	}
	var unlisted []SlaveStatus
	for _, sl := range ro.Slaves {
		rest := fmt.Sprintf("%s\t%s\t%s", stageCol(sl), verdict(sl), seenCol(sl))
		switch {
		case ro.AnyOne && sl.Acknowledged:
			fmt.Fprintf(tw, "  %s\tyes\t%s\t%s\n", who(sl), stamp(sl.AckTime), rest)
		case !sl.Listed:
			unlisted = append(unlisted, sl)
		case sl.Acknowledged && sl.AckPlain:
			fmt.Fprintf(tw, "  %s\tyes (sdfok)\t%s\t%s\n", sl.Name, stamp(sl.AckTime), rest)
		case sl.Acknowledged:
			fmt.Fprintf(tw, "  %s\tyes\t%s\t%s\n", sl.Name, stamp(sl.AckTime), rest)
		case !sl.OldAckTime.IsZero():
			fmt.Fprintf(tw, "  %s\tno (old: %s)\t-\t%s\n", sl.Name, stamp(sl.OldAckTime), rest)
		default:
			fmt.Fprintf(tw, "  %s\tno\t-\t%s\n", sl.Name, rest)
		}
	}
	for _, sl := range unlisted {
		at := "-"
		if sl.Acknowledged {
			at = stamp(sl.AckTime)
		}
		fmt.Fprintf(tw, "  %s\tnot in SLAVES or STAGES\t%s\t-\t-\t%s\n", who(sl), at, seenCol(sl))
	}
	tw.Flush()
	// The listed slaves in roster order, then the others by name, as
	// master.Ready lists them.
	var listed, others []SlaveStatus
	for _, sl := range ro.Slaves {
		if sl.Listed {
			listed = append(listed, sl)
		} else {
			others = append(others, sl)
		}
	}
	slices.SortStableFunc(others, func(a, b SlaveStatus) int { return strings.Compare(a.Name, b.Name) })
	for _, sl := range slices.Concat(listed, others) {
		r := sl.readiness()
		if sl.Name == "" || !r.Seen && !r.Listed {
			continue
		}
		switch {
		case r.Problem():
			fmt.Fprintf(w, "  problem: %s %s\n", r.Name, r.Describe())
		case r.Stale:
			fmt.Fprintf(w, "  stale:   %s %s\n", r.Name, r.Describe())
		}
	}
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
	k.Chain("upsflags", cfg.Next, cfg.Path, command.UpsmonConf(cfg.UpsmonConf, os.Getenv))
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
		checkKillpower(ctx, k, f)
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
		if r.Seen && r.Listed && r.Heartbeat.MAC == nil && cfg.WakeFor > 0 {
			k.Warn("slave %s: its heartbeat names no MAC address, so it cannot be woken after an outage (it reaches this master over loopback or a tunnel, or runs an older upsslave)", r.Name)
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
