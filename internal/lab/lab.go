// Package lab starts real Network UPS Tools daemons (dummy-ups, upsd, upsmon)
// and a real OpenSSH sshd on loopback, for integration tests and demos.
//
// Everything an instance needs (configs, state, pid files, logs, keys) lives
// under a directory the caller gives. Every process is started in its own
// process group and stopped by that group's id, never by name, so only what
// this package started is ever signalled. Processes also receive SIGKILL if
// the program that started them dies.
//
// The functions return errors and never need a *testing.T; package labtest
// adds the skip-and-cleanup layer for tests. Most of them need root.
package lab

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrUnavailable is wrapped by Check* errors: a prerequisite (root, a
// binary) is missing, so the lab cannot run here.
var ErrUnavailable = errors.New("lab unavailable")

// Paths of the Debian binaries the lab runs. They are variables so that a
// demo on another layout can point elsewhere.
var (
	UPSDPath     = "/lib/nut/upsd"
	UpsmonPath   = "/lib/nut/upsmon"
	DummyUPSPath = "/lib/nut/dummy-ups"
	SSHDPath     = "/usr/sbin/sshd"
)

// errExited marks a daemon that ended by itself during start-up (for
// example because another program took its port); starting again may help.
var errExited = errors.New("exited during start-up")

// stopTimeout is how long a stopped process group gets between SIGTERM and
// SIGKILL.
const stopTimeout = 5 * time.Second

// checkBinaries returns an ErrUnavailable error unless running as root and
// every path is an executable file.
func checkBinaries(paths ...string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (running as uid %d)", ErrUnavailable, os.Geteuid())
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%w: %s is not executable", ErrUnavailable, p)
		}
	}
	return nil
}

// CheckNUT reports whether StartNUT and StartUpsmon can run here.
func CheckNUT() error { return checkBinaries(UPSDPath, DummyUPSPath, UpsmonPath) }

// CheckSSHD reports whether StartSSHD can run here.
func CheckSSHD() error { return checkBinaries(SSHDPath) }

// A proc is one started process, the leader of its own process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returned
	err  error         // Wait's result, valid after done
}

// spawnReq asks the spawner thread to start a command.
type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

// Spawn starts cmd from one OS thread that never exits. Pdeathsig is tied to
// the thread that forked the child, not to the process: were that thread to
// exit (as a thread locked by some other package can, or InNamespace's), the
// child would get its death signal while the program still runs. Start
// every command with a Pdeathsig through Spawn.
func Spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range spawnCh {
				r.err <- r.cmd.Start()
			}
		}()
	})
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawnCh <- r
	return <-r.err
}

// startProc runs argv with env added to a minimal environment, output to
// logPath, in a new process group. attr may add namespace flags.
func startProc(name, logPath string, env []string, attr *syscall.SysProcAttr, argv ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Setpgid = true
	attr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr = attr
	if err := Spawn(cmd); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, argv[0], err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id, which is also its process group id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	return Closed(p.done)
}

// signal sends sig to the whole process group.
func (p *proc) signal(sig syscall.Signal) error {
	err := syscall.Kill(-p.pid(), sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// stop sends SIGTERM to the group, waits up to stopTimeout, then SIGKILLs
// the group. It also kills what is left of the group after the leader ended
// (children the leader forked). Calling stop again is harmless.
func (p *proc) stop() error {
	if p == nil {
		return nil
	}
	if !p.exited() {
		if err := p.signal(syscall.SIGTERM); err != nil {
			return fmt.Errorf("stop %s (pid %d): %w", p.name, p.pid(), err)
		}
		p.signal(syscall.SIGCONT) // a paused process must be able to die
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			p.signal(syscall.SIGKILL)
			<-p.done
		}
	}
	p.signal(syscall.SIGKILL) // stragglers of the group, if any
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// TailLog returns the last lines of a log file, for error messages.
func TailLog(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return fmt.Sprintf("\n--- last lines of %s ---\n%s", filepath.Base(path), strings.Join(lines, "\n"))
}

// writeFile writes data to path with mode, replacing it atomically.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
