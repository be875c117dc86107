package flagger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/master"
)

// errDrillMissing means some slave did not answer a drill in time.
var errDrillMissing = errors.New("drill: not every slave answered")

// errRealOutage means a drill gave way to a real shutdown.
var errRealOutage = errors.New("drill abandoned: the UPS is critical, the real shutdown sequence ran instead")

// Drill is `upsflags drill`: it asks every slave to go through the
// shutdown handshake without powering off (the drill flag), waits up to
// timeout for their drillok.<name>, prints who answered, how fast, and
// why the others did not where known, then removes the drill flag and the
// answers. Every POLL it also runs the normal decision, with the same
// lock: a real outage ends the drill at once and its sequence proceeds.
func (f *Flagger) Drill(ctx context.Context, timeout time.Duration, w io.Writer) error {
	roster := f.cfg.roster()
	start := f.clock.Now()
	id := drillID(start)
	var st master.State
	ran, err := f.locked(ctx, func(fd, ad *flags.Dir) error {
		var err error
		if st, err = f.decide(ctx, fd, ad, true); err != nil {
			return err
		}
		if st.Phase != master.PhaseNormal {
			return errRealOutage
		}
		if _, err := fd.Stat(ctx, flags.SDF); err == nil {
			return errRealOutage
		}
		clearDrillAnswers(ctx, ad)
		start = f.clock.Now()
		body := flags.Stamp(start, f.host,
			flags.Field{Key: "id", Value: id},
			flags.Field{Key: "reason", Value: "shutdown drill: answer with drillok.<NAME>; nothing is powered off"},
			flags.Field{Key: "version", Value: f.cfg.Version})
		return fd.Set(ctx, flags.Drill, body)
	})
	switch {
	case errors.Is(err, errRealOutage):
		return &command.Hinted{Err: fmt.Errorf("%w: %s", err, orDash(st.Reason)), Hint: "no drill while a shutdown is committed; upsflags status shows it"}
	case err != nil:
		return err
	case !ran:
		return &command.Hinted{Err: errors.New("drill: another upsflags holds the decider lock"), Hint: "try again in a moment; upsflags status shows what it is doing"}
	}
	f.log.Warn("drill started: asking every slave to answer; nothing is powered off", "drill", id, "slaves", slavesText(roster), "timeout", timeout)
	fmt.Fprintf(w, "drill %s started at %s; waiting up to %v for: %s\n", id, start.Format(time.RFC3339), timeout, slavesText(roster))

	tally, outage, err := f.drillWait(ctx, id, roster, start, timeout)
	cleanup := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		f.drillCleanup(cctx)
	}
	if outage != nil {
		fmt.Fprintf(w, "drill %s: %v\n", id, outage)
		cleanup()
		return outage
	}
	cleanup()
	f.printDrill(ctx, w, id, start, roster, tally)
	if err != nil {
		return err
	}
	if !tally.Complete {
		f.log.Warn("drill over: not every slave answered", "drill", id, "missing", strings.Join(tally.Missing, " "))
		if len(roster) == 0 {
			return fmt.Errorf("%w: nobody answered within %v", errDrillMissing, timeout)
		}
		return fmt.Errorf("%w: no answer from %s within %v", errDrillMissing, strings.Join(tally.Missing, " "), timeout)
	}
	f.log.Info("drill over: every slave answered", "drill", id)
	return nil
}

// drillID names a drill started at t. Slaves answer each id once, so two
// drills must never share one, even when started within one second.
func drillID(t time.Time) string {
	return fmt.Sprintf("drill-%d.%09d", t.Unix(), t.Nanosecond())
}

// drillWait reads the answers every ackPoll and runs the decision every
// POLL until the roster answered, the timeout passed or a real outage
// took over (outage set).
func (f *Flagger) drillWait(ctx context.Context, id string, roster []string, start time.Time, timeout time.Duration) (t master.DrillTally, outage, err error) {
	deadline := start.Add(timeout)
	nextDecision := f.clock.Now().Add(f.cfg.Poll)
	for {
		answers, aerr := readDrillAnswers(ctx, f.cfg)
		if aerr == nil {
			t = master.TallyDrill(roster, answers, id)
			if t.Complete {
				return t, nil, nil
			}
		}
		now := f.clock.Now()
		if !now.Before(deadline) {
			return t, nil, aerr
		}
		if !now.Before(nextDecision) {
			nextDecision = now.Add(f.cfg.Poll)
			var st master.State
			ran, err := f.locked(ctx, func(fd, ad *flags.Dir) error {
				var err error
				st, err = f.decide(ctx, fd, ad, true)
				return err
			})
			if st.Phase != master.PhaseNormal {
				return t, fmt.Errorf("%w: %s", errRealOutage, st.Reason), nil
			}
			if !ran && err == nil && f.sdfPresent(ctx) {
				// Another upsflags holds the lock and has committed.
				return t, fmt.Errorf("%w (by another upsflags)", errRealOutage), nil
			}
			if err != nil {
				f.log.Error("drill: the decision failed; still drilling", "err", err)
			}
		}
		if err := f.clock.Sleep(ctx, f.ackPoll()); err != nil {
			return t, nil, err
		}
	}
}

func (f *Flagger) sdfPresent(ctx context.Context) bool {
	fd, err := flags.OpenDir(f.cfg.FlagDir)
	if err != nil {
		return false
	}
	defer fd.Close()
	_, err = fd.Stat(ctx, flags.SDF)
	return err == nil
}

// readDrillAnswers reads every drillok.<name> in ACKDIR (size-limited).
func readDrillAnswers(ctx context.Context, cfg *Config) ([]master.DrillAnswer, error) {
	return readAckFiles(ctx, cfg, flags.DrillSlave, func(name string, body []byte, in flags.Info) master.DrillAnswer {
		return master.ParseDrillAnswer(name, body, in.ModTime)
	})
}

// clearDrillAnswers removes every drillok.* from ACKDIR.
func clearDrillAnswers(ctx context.Context, ad *flags.Dir) []string {
	infos, err := ad.List(ctx)
	if err != nil {
		return nil
	}
	var removed []string
	for _, in := range infos {
		if _, ok := flags.DrillSlave(in.Name); ok {
			if ad.Clear(ctx, in.Name) == nil {
				removed = append(removed, string(in.Name))
			}
		}
	}
	return removed
}

// drillCleanup removes the drill flag and the answers.
func (f *Flagger) drillCleanup(ctx context.Context) {
	if fd, err := flags.OpenDir(f.cfg.FlagDir); err == nil {
		if err := fd.Clear(ctx, flags.Drill); err != nil {
			f.log.Error("drill: cannot remove the drill flag", "err", err)
		}
		fd.Close()
	}
	if ad, err := flags.OpenDir(f.cfg.AckDir); err == nil {
		clearDrillAnswers(ctx, ad)
		ad.Close()
	}
}

// printDrill prints the drill's roster: who answered and how fast, who
// did not and why, where the heartbeats tell.
func (f *Flagger) printDrill(ctx context.Context, w io.Writer, id string, start time.Time, roster []string, t master.DrillTally) {
	hbs, _ := readHeartbeats(ctx, f.cfg)
	ready := map[string]master.Readiness{}
	for _, r := range master.Ready(roster, hbs, time.Now(), f.cfg.Stale) {
		ready[r.Name] = r
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  SLAVE\tANSWERED\tAFTER\tNOTE")
	row := func(a master.DrillAnswer, note string) {
		fmt.Fprintf(tw, "  %s\tyes\t%v\t%s\n", a.Name, a.At.Sub(start).Round(10*time.Millisecond), note)
	}
	for _, a := range t.Answered {
		note := ""
		if len(roster) == 0 {
			note = "(SLAVES and STAGES empty: any answer ends the drill)"
		}
		row(a, note)
	}
	for _, n := range t.Missing {
		why := "no answer"
		if r, ok := ready[n]; ok {
			why = r.Describe()
		}
		fmt.Fprintf(tw, "  %s\tNO\t-\t%s\n", n, why)
	}
	for _, a := range t.Unlisted {
		row(a, "not in SLAVES or STAGES")
	}
	tw.Flush()
	answered := len(t.Answered)
	total := len(roster)
	if total == 0 {
		fmt.Fprintf(w, "drill %s: %d answer(s)\n", id, answered)
		return
	}
	fmt.Fprintf(w, "drill %s: %d of %d answered", id, answered, total)
	if len(t.Missing) > 0 {
		fmt.Fprintf(w, "; no answer from %s", strings.Join(t.Missing, " "))
	}
	fmt.Fprintln(w)
}
