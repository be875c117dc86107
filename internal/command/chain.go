package command

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/nutslave/nutslave/internal/conf"
)

// DefaultChainTimeout bounds a chained NOTIFYCMD (NOTIFYCMD_NEXT_TIMEOUT).
const DefaultChainTimeout = 30 * time.Second

// chainOutput is how much of a chained command's output is logged.
const chainOutput = 512

// Chain is the NOTIFYCMD that upsmon ran before nutslave took its place
// (NOTIFYCMD_NEXT): upssched, a mail script. Every event reaches it too,
// at once, with upsmon's environment and message, whatever nutslave does
// with the event and however long it watches.
type Chain struct {
	Argv    []string
	Timeout time.Duration // 0 means DefaultChainTimeout
}

// ChainLogger is where a chained command's outcome is logged
// (internal/eventlog's Logger is one).
type ChainLogger interface {
	Info(msg string, kv ...any)
	Warn(msg string, kv ...any)
	Error(msg string, kv ...any)
}

// Start runs the chained command with env and msg as its last argument,
// as upsmon runs a NOTIFYCMD. It does not wait: the returned function
// blocks until the command ended, or was stopped after Timeout, and its
// outcome was logged. A command that cannot start, fails or hangs is
// logged and changes nothing else.
//
// Only the command itself is waited for and stopped, never its process
// group: upssched leaves a timer daemon behind on purpose. Its output goes
// to an unlinked temporary file rather than a pipe, so that such a daemon
// holding the output open does not hold up the wait.
func (c Chain) Start(env []string, msg string, log ChainLogger) (wait func()) {
	if len(c.Argv) == 0 {
		return func() {}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultChainTimeout
	}
	out, err := os.CreateTemp("", "nutslave-next-")
	if err == nil {
		os.Remove(out.Name())
	} else {
		out = nil // no output captured; the command still runs
	}
	cmd := exec.Command(c.Argv[0], append(c.Argv[1:len(c.Argv):len(c.Argv)], msg)...)
	cmd.Env = env
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		log.Error("NOTIFYCMD_NEXT did not start; the event is handled without it", "cmd", c.Argv[0], "err", err)
		if out != nil {
			out.Close()
		}
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		err, stopped := waitBounded(cmd, timeout)
		text := ""
		if out != nil {
			text = readBack(out)
			out.Close()
		}
		kv := []any{"cmd", c.Argv[0], "took", time.Since(start).Round(time.Millisecond)}
		if text != "" {
			kv = append(kv, "output", text)
		}
		switch {
		case stopped:
			log.Error("NOTIFYCMD_NEXT still running after NOTIFYCMD_NEXT_TIMEOUT; stopped it", append(kv, "timeout", timeout)...)
		case err != nil:
			log.Warn("NOTIFYCMD_NEXT failed; the event is handled all the same", append(kv, "err", err)...)
		default:
			log.Info("NOTIFYCMD_NEXT ran", kv...)
		}
	}()
	return func() { <-done }
}

// waitBounded waits for cmd; after timeout it sends SIGTERM, and SIGKILL
// two seconds later. stopped says it had to.
func waitBounded(cmd *exec.Cmd, timeout time.Duration) (err error, stopped bool) {
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-errc:
		return err, false
	case <-t.C:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-errc:
		return err, true
	case <-time.After(2 * time.Second):
	}
	cmd.Process.Kill()
	return <-errc, true
}

// readBack returns the start of what the command wrote, on one line.
func readBack(f *os.File) string {
	b, _ := io.ReadAll(io.NewSectionReader(f, 0, chainOutput))
	return strings.Join(strings.Fields(string(b)), " ")
}

// ChainEnv is the environment a chained command gets: this process's,
// with NOTIFYTYPE and UPSNAME as upsmon set them.
func ChainEnv(getenv func(string) string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFYTYPE=") && !strings.HasPrefix(kv, "UPSNAME=") {
			env = append(env, kv)
		}
	}
	return append(env, "NOTIFYTYPE="+getenv("NOTIFYTYPE"), "UPSNAME="+getenv("UPSNAME"))
}

// chainFromFile reads NOTIFYCMD_NEXT and its timeout from a configuration
// file that failed to load as a whole, so that a mistake elsewhere in it
// does not also silence the user's own notifications.
func chainFromFile(path string) Chain {
	f, err := os.Open(path)
	if err != nil {
		return Chain{}
	}
	defer f.Close()
	entries, err := conf.Parse(path, f)
	if err != nil {
		return Chain{}
	}
	var c Chain
	for _, e := range entries {
		switch e.Key {
		case "NOTIFYCMD_NEXT":
			c.Argv, _ = conf.SplitCommand(e.Value)
		case "NOTIFYCMD_NEXT_TIMEOUT":
			c.Timeout, _ = conf.ParseDuration(e.Value)
		}
	}
	return c
}
