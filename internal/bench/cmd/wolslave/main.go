// Command wolslave plays a halted slave for nsbench's return benchmark: it
// is the slave's network card armed for Wake-on-LAN, then its boot. Started
// in the slave's network namespace, it listens on UDP port 9 (where
// upsflags sends magic packets) and writes, one line each, with Unix
// nanosecond times, to the file -out:
//
//	ready T                 listening
//	packet T                a magic packet for -mac
//	ignored T               one of the first -ignore such packets (a lost packet)
//	other T                 a packet that is not a magic packet for -mac
//	booted T                -boot after the first packet it did not ignore
//	heartbeat T0 T1 exit=C  the command after the arguments, started at T0,
//	                        ended at T1 with exit status C
//
// A machine that is up ignores further magic packets; they are still
// written. It runs the command once, again every -retry while it fails (as
// upsslave-heartbeat.timer would, OnUnitActiveSec=1min), and ends on
// SIGTERM or after -max.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/nutslave/nutslave/internal/master"
)

func main() {
	os.Exit(run())
}

func run() int {
	mac := flag.String("mac", "", "the MAC address the card answers to")
	boot := flag.Duration("boot", 3*time.Second, "simulated boot time, from the magic packet to the command")
	ignore := flag.Int("ignore", 0, "magic packets to ignore first (lost)")
	out := flag.String("out", "", "file the events are appended to")
	hbOut := flag.String("cmdout", "", "file the command's output goes to")
	maxLife := flag.Duration("max", 10*time.Minute, "end after this long in any case")
	retry := flag.Duration("retry", 0, "run the command again after this long while it fails (0: once)")
	flag.Parse()
	hw, err := net.ParseMAC(*mac)
	if err != nil || *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: wolslave -mac MAC -out FILE [-boot D] [-ignore N] [-cmdout FILE] [-max D] COMMAND [ARG...]")
		return 2
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wolslave:", err)
		return 1
	}
	defer f.Close()
	var mu sync.Mutex
	note := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(f, format+"\n", args...)
	}
	pc, err := net.ListenPacket("udp4", ":9")
	if err != nil {
		fmt.Fprintln(os.Stderr, "wolslave: listen:", err)
		return 1
	}
	defer pc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *maxLife)
	defer cancel()
	go func() { <-ctx.Done(); pc.Close() }()
	note("ready %d", time.Now().UnixNano())

	var booting sync.WaitGroup
	started := false
	buf := make([]byte, 1500)
	for {
		n, _, err := pc.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			break
		}
		if m, ok := master.MagicMAC(buf[:n]); !ok || !bytes.Equal(m, hw) {
			note("other %d", now.UnixNano())
			continue
		}
		if *ignore > 0 {
			*ignore--
			note("ignored %d", now.UnixNano())
			continue
		}
		note("packet %d", now.UnixNano())
		if started {
			continue
		}
		started = true
		booting.Add(1)
		go func() {
			defer booting.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(*boot):
			}
			note("booted %d", time.Now().UnixNano())
			for ctx.Err() == nil {
				if runCommand(ctx, *hbOut, note) == 0 || *retry <= 0 {
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(*retry):
				}
			}
		}()
	}
	booting.Wait()
	return 0
}

// runCommand runs the command after the flags once, its output appended
// to outPath, and notes it; it returns its exit status (-1: not started or
// killed).
func runCommand(ctx context.Context, outPath string, note func(string, ...any)) int {
	cmd := exec.CommandContext(ctx, flag.Arg(0), flag.Args()[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if outPath != "" {
		if o, err := os.OpenFile(outPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			defer o.Close()
			cmd.Stdout, cmd.Stderr = o, o
		}
	}
	t0 := time.Now()
	err := cmd.Run()
	t1 := time.Now()
	code := 0
	if err != nil {
		code = -1
		if cmd.ProcessState != nil {
			code = cmd.ProcessState.ExitCode()
		}
	}
	note("heartbeat %d %d exit=%d", t0.UnixNano(), t1.UnixNano(), code)
	return code
}
