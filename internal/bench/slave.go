package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"time"
)

// LogOnlyResult is the cost of one log-only event, per run.
type LogOnlyResult struct {
	Label string
	Event string
	// Wall is fork to exit as seen by the parent; MaxRSS is wait4's peak
	// resident set in KiB (the process and any child it waited for).
	Wall, CPU []time.Duration
	MaxRSS    []int64
	Failures  int
}

// LogOnly runs the slave runs times for a log-only event, one at a time.
func (e *Env) LogOnly(ctx context.Context, kind Kind, event string, runs int) (*LogOnlyResult, error) {
	s, err := e.NewSlave(kind, "logonly", filepath.Join(e.Dir, kind.dirName()+"-logonly"))
	if err != nil {
		return nil, err
	}
	return logOnly(ctx, kind.String(), event, runs, func() (*Proc, error) { return s.Start(event) })
}

// ExecFloor runs /bin/true runs times the same way: the cost of fork, exec
// and wait on this machine, which no NOTIFYCMD can beat.
func (e *Env) ExecFloor(ctx context.Context, runs int) (*LogOnlyResult, error) {
	return logOnly(ctx, "/bin/true (fork+exec floor)", "-", runs, func() (*Proc, error) {
		return startCmd(exec.Command("/bin/true"), "")
	})
}

// GoFloor runs the recorder, a minimal Go program, runs times: the cost
// of starting any Go binary on this machine, which upsslave cannot beat.
func (e *Env) GoFloor(ctx context.Context, runs int) (*LogOnlyResult, error) {
	out := filepath.Join(e.Dir, "gofloor.out")
	return logOnly(ctx, "minimal Go program (Go start-up floor)", "-", runs, func() (*Proc, error) {
		return startCmd(exec.Command(e.Recorder, out), "")
	})
}

func logOnly(ctx context.Context, label, event string, runs int, start func() (*Proc, error)) (*LogOnlyResult, error) {
	r := &LogOnlyResult{Label: label, Event: event}
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		p, err := start()
		if err != nil {
			return nil, err
		}
		if err := p.Wait(10 * time.Second); err != nil || p.ExitCode() != 0 {
			r.Failures++
			continue
		}
		cpu, rss := p.Usage()
		r.Wall = append(r.Wall, p.Ended.Sub(p.Started))
		r.CPU = append(r.CPU, cpu)
		r.MaxRSS = append(r.MaxRSS, rss)
	}
	return r, ctx.Err()
}

func (k Kind) dirName() string {
	if k == Seed {
		return "seed"
	}
	return "upsslave"
}

// Outage is one ONBATT → battsdf+sdf cycle of one slave.
type Outage struct {
	// Recorder is sdf visible → shutdown recorder started; Ack is sdf
	// visible → the acknowledgement's modification time.
	Recorder, Ack time.Duration
	Recorded      int // how many times the recorder ran (want 1)
	Acked         bool
	ExitCode      int
	// Log is what sshd logged from the ONBATT to the slave's exit.
	Log  LogCounts
	Wait time.Duration // ONBATT → sdf
	Err  string
}

// LatencyResult collects Outages.
type LatencyResult struct {
	Kind    Kind
	Outages []Outage
}

// Latency runs outages one at a time: start the slave with ONBATT; after a
// random 1–1.5 s the master writes battsdf, and a random 0.5–1 s later sdf
// (random, so sdf lands at a random phase of the slave's poll); then wait
// (≤ 20 s) for the slave to exit. Both slaves are then waiting for sdf
// alone, the original's best case.
func (e *Env) Latency(ctx context.Context, kind Kind, runs int) (*LatencyResult, error) {
	r := &LatencyResult{Kind: kind}
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		o, err := e.outage(kind, i)
		if err != nil {
			return r, err
		}
		r.Outages = append(r.Outages, o)
	}
	return r, ctx.Err()
}

func (e *Env) outage(kind Kind, i int) (Outage, error) {
	var o Outage
	if err := e.ClearFlags(); err != nil {
		return o, err
	}
	s, err := e.NewSlave(kind, fmt.Sprintf("lat%03d", i), filepath.Join(e.Dir, fmt.Sprintf("%s-lat-%03d", kind.dirName(), i)))
	if err != nil {
		return o, err
	}
	mark, err := MarkLog(e.SSHD.LogFile)
	if err != nil {
		return o, err
	}
	p, err := s.Start("ONBATT")
	if err != nil {
		return o, err
	}
	time.Sleep(time.Second + rand.N(500*time.Millisecond))
	if _, err := e.SetFlag("battsdf"); err != nil {
		p.Kill()
		return o, err
	}
	time.Sleep(500*time.Millisecond + rand.N(500*time.Millisecond))
	if p.Exited() {
		o.Err = "exited before sdf"
	}
	t0, err := e.SetFlag("sdf")
	if err != nil {
		p.Kill()
		return o, err
	}
	o.Wait = t0.Sub(p.Started)
	if err := p.Wait(20 * time.Second); err != nil && o.Err == "" {
		o.Err = err.Error()
	}
	o.ExitCode = p.ExitCode()
	rec, err := s.Recorded()
	if err != nil {
		return o, err
	}
	o.Recorded = len(rec)
	if len(rec) > 0 {
		o.Recorder = rec[0].Sub(t0)
	}
	if at, ok := s.Acked(); ok {
		o.Acked, o.Ack = true, at.Sub(t0)
	}
	// sshd logs a connection's end asynchronously; give it a moment.
	time.Sleep(100 * time.Millisecond)
	if o.Log, err = mark.Since(); err != nil {
		return o, err
	}
	return o, nil
}

// WaitResult is the cost of one slave waiting after ONBATT.
type WaitResult struct {
	Kind   Kind
	Window time.Duration
	// SlaveCPU and SSHDCPU are CPU time used in the window by the slave
	// (with its children) and by sshd (with its per-connection children).
	SlaveCPU, SSHDCPU time.Duration
	Log               LogCounts // sshd log lines in the window
	SlaveRSSKiB       int64     // the slave's resident set at the end (upsslave only)
	Ended             string    // how the wait ended after "onl"
}

// Wait starts the slave with ONBATT, lets it settle for 2 s, measures the
// window, then writes onl and waits (≤ 20 s) for the slave to stop.
func (e *Env) Wait(ctx context.Context, kind Kind, window time.Duration) (*WaitResult, error) {
	if err := e.ClearFlags(); err != nil {
		return nil, err
	}
	s, err := e.NewSlave(kind, "waiter", filepath.Join(e.Dir, kind.dirName()+"-wait"))
	if err != nil {
		return nil, err
	}
	p, err := s.Start("ONBATT")
	if err != nil {
		return nil, err
	}
	defer p.Kill()
	time.Sleep(2 * time.Second)
	r := &WaitResult{Kind: kind, Window: window}
	mark, err := MarkLog(e.SSHD.LogFile)
	if err != nil {
		return nil, err
	}
	// cpu reads the CPU time of the slave's and of sshd's process trees.
	cpu := func(when string) (slave, sshd time.Duration, err error) {
		if slave, err = TreeCPU(p.Pid()); err != nil {
			return 0, 0, fmt.Errorf("slave gone %s the window: %w", when, err)
		}
		sshd, err = TreeCPU(e.SSHD.Pid())
		return slave, sshd, err
	}
	slave0, sshd0, err := cpu("before")
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	slave1, sshd1, err := cpu("during")
	if err != nil {
		return nil, err
	}
	r.SlaveCPU, r.SSHDCPU = slave1-slave0, sshd1-sshd0
	if r.Log, err = mark.Since(); err != nil {
		return nil, err
	}
	if kind == Upsslave {
		r.SlaveRSSKiB, _ = RSSKiB(p.Pid())
	}
	if _, err := e.SetFlag("onl"); err != nil {
		return nil, err
	}
	if err := p.Wait(20 * time.Second); err != nil {
		r.Ended = err.Error()
	} else {
		r.Ended = fmt.Sprintf("exit %d after onl", p.ExitCode())
	}
	return r, nil
}
