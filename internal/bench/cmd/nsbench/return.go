package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nutslave/nutslave/internal/bench"
)

// returnCmd is "nsbench return": power back → every slave's heartbeat
// seen again, for each fleet size, then the same with the first magic
// packet lost.
func returnCmd(ctx context.Context, repo string, keep bool, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("return", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizesFlag := fs.String("sizes", "1,5,20", "numbers of slaves, comma-separated (at most 100 each)")
	lostFlag := fs.String("lost-sizes", "1", "sizes run once more with every slave's first magic packet lost (\"\" for none)")
	boot := fs.Duration("boot", 3*time.Second, "simulated boot: magic packet → \"upsslave heartbeat\"")
	every := fs.Duration("every", 5*time.Second, "pause between the master's runs (upsflags.timer: 5s)")
	retry := fs.Duration("retry", time.Minute, "a failed heartbeat runs again this long after (upsslave-heartbeat.timer: 1min; 0: never)")
	timeout := fs.Duration("timeout", 3*time.Minute, "bound on power back → every slave seen, per run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sizes, err := parseSizes(*sizesFlag)
	if err != nil {
		return err
	}
	var lost []int
	if *lostFlag != "" {
		if lost, err = parseSizes(*lostFlag); err != nil {
			return err
		}
	}
	for _, n := range append(append([]int{}, sizes...), lost...) {
		if n > 100 {
			return fmt.Errorf("sizes: %d slaves; at most 100 on this benchmark's one machine", n)
		}
	}
	*boot = min(max(*boot, 0), 10*time.Minute)
	*every = min(max(*every, 100*time.Millisecond), time.Minute)
	*retry = min(max(*retry, 0), 10*time.Minute)
	*timeout = min(max(*timeout, 10*time.Second), 15*time.Minute)
	// A benchmark killed with kill -9 leaves its namespaces behind.
	if stale := bench.RemoveStaleLANs(); len(stale) > 0 {
		fmt.Fprintf(stderr, "nsbench: removed the namespaces of an earlier benchmark that was killed: %s\n", strings.Join(stale, " "))
	}
	ctx, env, stop, err := start(ctx, repo, keep, 45*time.Minute, stderr)
	if err != nil {
		return err
	}
	defer stop()
	var note string
	if env.Upsflags, env.WolSlave, note, err = bench.BuildReturn(ctx, repo, env.Dir); err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintf(stderr, "nsbench: %s\n", note)
	}

	machine := bench.Machine() // the date and load average at the start
	type run struct{ n, lost int }
	var runs []run
	for _, n := range sizes {
		runs = append(runs, run{n, 0})
	}
	for _, n := range lost {
		runs = append(runs, run{n, 1})
	}
	var rs []*bench.ReturnResult
	for i, x := range runs {
		fmt.Fprintf(stderr, "nsbench: return of %d slaves, %d first packet(s) lost\n", x.n, x.lost)
		r, err := env.Return(ctx, bench.ReturnOptions{
			N: x.n, Boot: *boot, Every: *every, Lost: x.lost, Retry: *retry, Timeout: *timeout,
			Tag: strconv.Itoa(i + 1),
		})
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}

	fmt.Fprintf(stdout, "## make bench-return\n\n%s\n", machine)
	fmt.Fprintf(stdout, "The master in a network namespace with a bridge, each slave in its own namespace on it (veth, 198.18.0.0/24, no route out); the master's OpenSSH sshd on `%s:%s` in its namespace (the lab's SFTP-only account). Each outage is real: every slave's upsslave waits from ONBATT, the master's `upsflags run` at low battery writes sdf, waits for the acknowledgements, records the outage and runs its (recorded) shutdown command. Then the master reboots (`upsflags reset`, the UPS on line at 60 %%) and runs `upsflags run` every %v (upsflags.timer) until every slave is back; power back is the start of its first run. Each halted slave is wolslave: on its magic packet it waits %v (the simulated boot) and runs the real `upsslave heartbeat`, again %v later while it fails (the heartbeat timer's period). upsflags and upsslave at their defaults (RESTORE_MINCHARGE 30, WAKE_FOR 1h, the first packet's back-off 30 s).\n\n", bench.LANMasterIP, bench.LANSSHPort, *every, *boot, *retry)
	if note != "" {
		fmt.Fprintf(stdout, "Note: %s.\n\n", note)
	}
	bench.WriteReturn(stdout, rs...)
	fmt.Fprintln(stdout)
	for _, r := range rs {
		s := r.Summary()
		total := bench.Summarize(bench.Millis(s.Total))
		fmt.Fprintf(stdout, "- N=%d, %d first packet(s) lost: %d of %d acknowledged slaves seen again; the last %s s after power back (%d magic packets sent in all, %d received).\n",
			r.N, r.Lost, s.Back, s.Acked, fsec(total.Max), s.TriesSum, s.Received)
	}
	return nil
}

func fsec(ms float64) string {
	if ms != ms { // NaN: nobody
		return "never"
	}
	return fmt.Sprintf("%.2f", ms/1000)
}
