package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// FleetOptions bound a fleet run.
type FleetOptions struct {
	N int
	// Silent is how long the master stays silent (sshd up, no flags)
	// after every slave got ONBATT.
	Silent time.Duration
	// Timeout bounds the wait for every acknowledgement and recorder after
	// sdf.
	Timeout time.Duration
	// Nice, if positive, runs the slaves under nice(1), so that sshd gets
	// the CPU first, as a master with CPUs of its own would.
	Nice int
}

// FleetResult is one fleet run.
type FleetResult struct {
	FleetOptions
	// Spawn is how long starting N processes took.
	Spawn time.Duration
	// AllLoggedIn is the last ONBATT → sshd has logged N logins (0 if it
	// never did during the silent phase; spawning counts before it).
	AllLoggedIn time.Duration
	// LoggedIn is the number of logins sshd logged during the silent phase.
	SilentLog, VerdictLog LogCounts
	// CPU: the slaves (sum) and sshd, in the first part of the silent
	// phase (connection storm), its last 5 s (steady polling), and from
	// sdf to the last exit.
	StormWindow, SteadyWindow, VerdictWindow time.Duration
	StormSlaves, SteadySlaves, VerdictSlaves time.Duration
	StormSSHD, SteadySSHD, VerdictSSHD       time.Duration
	SlavesRSSKiB                             int64 // sum of the slaves' VmRSS at the end of the silent phase
	Premature, ExitedEarly                   int   // during the silent phase
	Acked, Recorded                          int   // after sdf, within Timeout
	AllAcked, AllRecorded                    time.Duration
	AckP50, RecP50                           time.Duration
	BusyLogged, UnansweredLogged, FailSafe   int // slaves whose log mentions these
	Leftover                                 int // processes killed at the end
}

// Fleet starts N upsslave instances (own NAME, STATEDIR, config) with
// ONBATT at once against one sshd, keeps the master silent, then writes
// battsdf and sdf and waits for every acknowledgement and recorder.
func (e *Env) Fleet(ctx context.Context, o FleetOptions) (*FleetResult, error) {
	if err := e.ClearFlags(); err != nil {
		return nil, err
	}
	r := &FleetResult{FleetOptions: o}
	root := filepath.Join(e.Dir, fmt.Sprintf("fleet-%d", o.N))
	slaves := make([]*Slave, o.N)
	for i := range slaves {
		s, err := e.NewSlave(Upsslave, fmt.Sprintf("s%03d", i), filepath.Join(root, fmt.Sprintf("s%03d", i)))
		if err != nil {
			return nil, err
		}
		slaves[i] = s
	}
	mark, err := MarkLog(e.SSHD.LogFile)
	if err != nil {
		return nil, err
	}
	sshd0, err := TreeCPU(e.SSHD.Pid())
	if err != nil {
		return nil, err
	}
	procs := make([]*Proc, 0, o.N)
	defer func() {
		for _, p := range procs {
			if !p.Exited() {
				r.Leftover++
				p.Kill()
			}
		}
	}()
	t0 := time.Now()
	tSpawn := t0
	for _, s := range slaves {
		s.Nice = o.Nice
		p, err := s.Start("ONBATT")
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
	}
	r.Spawn = time.Since(t0)
	// The silent phase counts from the last ONBATT: spawning hundreds of
	// processes on a small machine takes seconds of its own.
	t0 = time.Now()
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.Pid()
	}

	// Silent master.
	steadyAt := t0.Add(o.Silent - min(5*time.Second, o.Silent/2))
	var stormSlaves, stormSSHD time.Duration
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for sampled := false; time.Since(t0) < o.Silent; {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		if r.AllLoggedIn == 0 {
			c, err := mark.Since()
			if err != nil {
				return nil, err
			}
			if c.Accepted >= o.N {
				r.AllLoggedIn = time.Since(t0)
			}
		}
		if !sampled && time.Now().After(steadyAt) {
			sampled = true
			r.StormWindow = time.Since(tSpawn)
			if stormSlaves, _, err = SumTreeCPU(pids); err != nil {
				return nil, err
			}
			sshd1, err := TreeCPU(e.SSHD.Pid())
			if err != nil {
				return nil, err
			}
			r.StormSlaves, r.StormSSHD = stormSlaves, sshd1-sshd0
			stormSSHD = sshd1
		}
	}
	r.SteadyWindow = time.Since(tSpawn) - r.StormWindow
	slavesS, _, err := SumTreeCPU(pids)
	if err != nil {
		return nil, err
	}
	sshdS, err := TreeCPU(e.SSHD.Pid())
	if err != nil {
		return nil, err
	}
	r.SteadySlaves, r.SteadySSHD = slavesS-stormSlaves, sshdS-stormSSHD
	for i, p := range procs {
		if rss, err := RSSKiB(p.Pid()); err == nil {
			r.SlavesRSSKiB += rss
		}
		if p.Exited() {
			r.ExitedEarly++
		}
		rec, err := slaves[i].Recorded()
		if err != nil {
			return nil, err
		}
		if _, acked := slaves[i].Acked(); acked || len(rec) > 0 {
			r.Premature++
		}
	}
	if r.SilentLog, err = mark.Since(); err != nil {
		return nil, err
	}
	mark2, err := MarkLog(e.SSHD.LogFile)
	if err != nil {
		return nil, err
	}
	cpuByPid := map[int]time.Duration{}
	all, err := allProcs()
	if err != nil {
		return nil, err
	}
	for _, pid := range pids {
		cpuByPid[pid] = all[pid].Total()
	}

	// The verdict.
	if _, err := e.SetFlag("battsdf"); err != nil {
		return nil, err
	}
	tSDF, err := e.SetFlag("sdf")
	if err != nil {
		return nil, err
	}
	deadline := tSDF.Add(o.Timeout)
	var acks, recs []time.Duration
	for {
		acks, recs = acks[:0], recs[:0]
		for _, s := range slaves {
			if at, ok := s.Acked(); ok {
				acks = append(acks, at.Sub(tSDF))
			}
			rec, err := s.Recorded()
			if err != nil {
				return nil, err
			}
			if len(rec) > 0 {
				recs = append(recs, rec[0].Sub(tSDF))
			}
		}
		if (len(acks) == o.N && len(recs) == o.N) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Acked, r.Recorded = len(acks), len(recs)
	if s := Summarize(Millis(acks)); s.N > 0 {
		r.AckP50 = time.Duration(s.P50 * float64(time.Millisecond))
		if s.N == o.N {
			r.AllAcked = time.Duration(s.Max * float64(time.Millisecond))
		}
	}
	if s := Summarize(Millis(recs)); s.N > 0 {
		r.RecP50 = time.Duration(s.P50 * float64(time.Millisecond))
		if s.N == o.N {
			r.AllRecorded = time.Duration(s.Max * float64(time.Millisecond))
		}
	}
	exitBy := time.Now().Add(15 * time.Second)
	for _, p := range procs {
		p.Wait(max(time.Until(exitBy), time.Millisecond))
	}
	r.VerdictWindow = time.Since(tSDF)
	for _, p := range procs {
		cpu, _ := p.Usage()
		r.VerdictSlaves += cpu - cpuByPid[p.Pid()]
	}
	sshdV, err := TreeCPU(e.SSHD.Pid())
	if err != nil {
		return nil, err
	}
	r.VerdictSSHD = sshdV - sshdS
	time.Sleep(200 * time.Millisecond)
	if r.VerdictLog, err = mark2.Since(); err != nil {
		return nil, err
	}
	for _, s := range slaves {
		b, _ := os.ReadFile(filepath.Join(s.Dir, "upsslave.log"))
		log := string(b)
		if strings.Contains(log, "busy") {
			r.BusyLogged++
		}
		if strings.Contains(log, "master unreachable") {
			r.UnansweredLogged++
		}
		if strings.Contains(log, "fail-safe:") {
			r.FailSafe++
		}
	}
	return r, nil
}
