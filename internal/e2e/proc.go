package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
)

// A proc is a process this package started, leader of its own process
// group; it is only ever signalled through that group's id.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc starts argv with env added to a minimal environment and its
// output appended to logPath, in a new process group that gets SIGKILL if
// this program dies.
func startProc(name, logPath string, env []string, argv ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := lab.Spawn(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	return lab.Closed(p.done)
}

// stop kills the process's descendants outside its group (an sshd's
// sessions), sends SIGTERM to the process group, SIGKILL after 5 s, and
// kills what is left of the group. Idempotent; a nil proc is stopped.
func (p *proc) stop() error {
	if p == nil {
		return nil
	}
	pgid := p.cmd.Process.Pid
	if !p.exited() {
		syscall.Kill(pgid, syscall.SIGSTOP) // forks nothing new meanwhile
		lab.KillTree(pgid)
		syscall.Kill(pgid, syscall.SIGCONT)
		if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s (pid %d): %w", p.name, pgid, err)
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}
