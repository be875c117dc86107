package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nutslave/nutslave/internal/bench"
)

func fleetCmd(ctx context.Context, repo string, keep bool, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizesFlag := fs.String("sizes", "50,100,200", "fleet sizes, comma-separated")
	silent := fs.Duration("silent", 15*time.Second, "how long the master stays silent")
	timeout := fs.Duration("timeout", 90*time.Second, "bound on the wait for every acknowledgement after sdf")
	nice := fs.Int("nice", 0, "run the slaves under nice -n N (0: not), so sshd gets the CPU first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sizes, err := parseSizes(*sizesFlag)
	if err != nil {
		return err
	}
	*silent = min(max(*silent, time.Second), 5*time.Minute)
	*timeout = min(max(*timeout, time.Second), 5*time.Minute)
	// One sshd for every size, with sshd's default MaxStartups.
	ctx, env, stop, err := start(ctx, repo, keep, 30*time.Minute, stderr)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stdout, "## make bench-fleet\n\n%s\n", bench.Machine())
	fmt.Fprintf(stdout, "One sshd (`%s`, MaxStartups default 10:30:100, LogLevel VERBOSE); N upsslave processes, each with its own NAME, STATEDIR and config, every setting at its default (POLL 250ms, DEADTIME 60s), all started with ONBATT at once (slaves under nice -n %d); the master stays silent %v after the last ONBATT, then writes battsdf and sdf. Slaves and sshd share this machine's CPUs.\n\n", env.SSHD.Addr, *nice, *silent)
	var rs []*bench.FleetResult
	for _, n := range sizes {
		fmt.Fprintf(stderr, "nsbench: fleet of %d\n", n)
		r, err := env.Fleet(ctx, bench.FleetOptions{N: n, Silent: *silent, Timeout: *timeout, Nice: min(max(*nice, 0), 19)})
		if err != nil {
			return err
		}
		rs = append(rs, r)
		// Let sshd's per-connection processes finish before the next size.
		time.Sleep(2 * time.Second)
	}
	bench.WriteFleet(stdout, rs...)
	fmt.Fprintf(stdout, "\n### Targets (fleet)\n\n")
	for _, r := range rs {
		fmt.Fprintf(stdout, "- N=%d: no premature shutdown while the master is silent: %d — %s\n", r.N, r.Premature+r.ExitedEarly, bench.Verdict(r.Premature == 0 && r.ExitedEarly == 0))
		ok := r.AllAcked > 0 && r.AllRecorded > 0 && r.AllAcked <= 5*time.Second && r.AllRecorded <= 5*time.Second
		fmt.Fprintf(stdout, "- N=%d: every sdfok and every recorder within 5 s of sdf: %d/%d acknowledged, %d/%d recorders, last at %s s — %s\n",
			r.N, r.Acked, r.N, r.Recorded, r.N, secs(max(r.AllAcked, r.AllRecorded)), bench.Verdict(ok))
	}
	return nil
}

func secs(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return fmt.Sprintf("%.2f", d.Seconds())
}
