package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
)

// Kind is the slave implementation under measurement.
type Kind int

const (
	// Upsslave is nutslave's cmd/upsslave.
	Upsslave Kind = iota
	// Seed is the original bash upsslave from the seed page.
	Seed
)

func (k Kind) String() string {
	if k == Seed {
		return "original bash upsslave"
	}
	return "upsslave"
}

// Env is one lab: a real sshd with the SFTP-only flags account, and the
// programs under test.
type Env struct {
	Dir  string
	SSHD *lab.SSHD
	// Upsslave and Recorder are built binaries; SeedScript is the
	// original script without line numbers ("" when the seed is absent).
	Upsslave, Recorder string
	SeedScript         string
	// Upsflags and WolSlave are built for the return benchmark only
	// (BuildReturn).
	Upsflags, WolSlave string
}

// Build compiles cmd/upsslave (CGO_ENABLED=0, with the tags and flags of
// make build, as shipped) and the
// recorder from the module at repo into dir.
func Build(ctx context.Context, repo, dir string) (upsslave, recorder string, err error) {
	upsslave, recorder = filepath.Join(dir, "upsslave"), filepath.Join(dir, "recorder")
	for _, b := range []struct{ out, pkg string }{
		{upsslave, "./cmd/upsslave"},
		{recorder, "./internal/bench/cmd/recorder"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "urfave_cli_no_docs", "-ldflags", "-s -w", "-o", b.out, b.pkg)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return upsslave, recorder, nil
}

// ClearFlags removes the master's flags and every acknowledgement.
func (e *Env) ClearFlags() error {
	for _, dir := range []string{e.SSHD.FlagDir, e.SSHD.AckDir} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("clear flags: %w", err)
		}
		for _, ent := range ents {
			if ent.IsDir() {
				continue
			}
			if err := os.Remove(filepath.Join(dir, ent.Name())); err != nil {
				return fmt.Errorf("clear flags: %w", err)
			}
		}
	}
	return nil
}

// SetFlag writes a master flag the way upsflags does (dot-file, fsync,
// rename) and returns the time right after the rename made it visible.
func (e *Env) SetFlag(name string) (time.Time, error) {
	tmp := filepath.Join(e.SSHD.FlagDir, "."+name+".tmp")
	body := "time=" + time.Now().Format(time.RFC3339Nano) + "\nhost=bench\n"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return time.Time{}, fmt.Errorf("set %s: %w", name, err)
	}
	_, err = f.WriteString(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(e.SSHD.FlagDir, name))
	}
	if err != nil {
		os.Remove(tmp)
		return time.Time{}, fmt.Errorf("set %s: %w", name, err)
	}
	return time.Now(), nil
}

// A Slave is one configured slave: its own directory, config (or adapted
// script), state, log and recorder file.
type Slave struct {
	Kind Kind
	Name string
	Dir  string
	// Nice, if positive, starts the slave under nice -n Nice.
	Nice int
	env  *Env
	// file is the config (Upsslave) or the adapted script (Seed).
	file string
}

// RecordFile is where the shutdown recorder writes.
func (s *Slave) RecordFile() string { return filepath.Join(s.Dir, "shutdown.rec") }

// AckName is the acknowledgement the slave writes in AckDir.
func (s *Slave) AckName() string {
	if s.Kind == Seed {
		return "sdfok"
	}
	return "sdfok." + s.Name
}

// NewSlave lays out a slave named name in dir (created).
func (e *Env) NewSlave(kind Kind, name, dir string) (*Slave, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("slave %s: %w", name, err)
	}
	s := &Slave{Kind: kind, Name: name, Dir: dir, env: e}
	host, port, _ := strings.Cut(e.SSHD.Addr, ":")
	switch kind {
	case Upsslave:
		// The packages create STATEDIR; upsslave does not.
		if err := os.MkdirAll(filepath.Join(dir, "state"), 0o750); err != nil {
			return nil, fmt.Errorf("slave %s: %w", name, err)
		}
		s.file = filepath.Join(dir, "upsslave.conf")
		conf := strings.Join([]string{
			"MASTER=" + e.SSHD.User + "@" + e.SSHD.Addr,
			"IDENTITY=" + e.SSHD.ClientKey,
			"KNOWN_HOSTS=" + e.SSHD.KnownHostsFile,
			"FLAGDIR=" + e.SSHD.SFTPFlagDir,
			"ACKDIR=" + e.SSHD.SFTPAckDir,
			"NAME=" + name,
			"STATEDIR=" + filepath.Join(dir, "state"),
			"LOGFILE=" + filepath.Join(dir, "upsslave.log"),
			fmt.Sprintf("SHUTDOWNCMD=%q", e.Recorder+" "+s.RecordFile()),
		}, "\n") + "\n"
		if err := os.WriteFile(s.file, []byte(conf), 0o640); err != nil {
			return nil, fmt.Errorf("slave %s: %w", name, err)
		}
	case Seed:
		if e.SeedScript == "" {
			return nil, fmt.Errorf("slave %s: %w", name, ErrNoSeedScript)
		}
		script, err := AdaptSeed(e.SeedScript, SeedTarget{
			WorkDir: dir, User: e.SSHD.User, Host: host, Port: port,
			Identity: e.SSHD.ClientKey, KnownHosts: e.SSHD.KnownHostsFile,
			FlagDir: e.SSHD.SFTPFlagDir, AckDir: e.SSHD.SFTPAckDir,
			Shutdown: shellQuote(e.Recorder) + " " + shellQuote(s.RecordFile()),
		})
		if err != nil {
			return nil, err
		}
		s.file = filepath.Join(dir, "upsslave.sh")
		if err := os.WriteFile(s.file, []byte(script), 0o755); err != nil {
			return nil, fmt.Errorf("slave %s: %w", name, err)
		}
	}
	return s, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Start runs the slave as upsmon runs NOTIFYCMD for event: NOTIFYTYPE and
// UPSNAME in the environment, the message as the last argument, in a
// process group of its own. Output goes to Dir/out.<n>.
func (s *Slave) Start(event string) (*Proc, error) {
	var cmd *exec.Cmd
	msg := "UPS ups@master: " + event
	if s.Kind == Seed {
		cmd = exec.Command("/bin/bash", s.file, msg)
	} else {
		cmd = exec.Command(s.env.Upsslave, msg)
	}
	if s.Nice > 0 {
		// nice execs the command in the same process.
		cmd = exec.Command("nice", append([]string{"-n", strconv.Itoa(s.Nice)}, cmd.Args...)...)
	}
	cmd.Dir = s.Dir
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"NOTIFYTYPE=" + event,
		"UPSNAME=ups@master",
		"UPSSLAVE_CONF=" + s.file,
		"LANG=C",
	}
	return startCmd(cmd, filepath.Join(s.Dir, "out."+strings.ToLower(event)))
}

// startCmd starts cmd in a process group of its own, output appended to
// outPath ("" discards it).
func startCmd(cmd *exec.Cmd, outPath string) (*Proc, error) {
	if outPath != "" {
		out, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer out.Close()
		cmd.Stdout, cmd.Stderr = out, out
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	p.Started = time.Now()
	if err := lab.Spawn(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		p.Ended = time.Now()
		close(p.done)
	}()
	return p, nil
}

// Recorded returns the times the shutdown recorder ran.
func (s *Slave) Recorded() ([]time.Time, error) {
	b, err := os.ReadFile(s.RecordFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// The recorder may have created the file and not yet written its
	// line: count complete lines only.
	text := string(b)
	text = text[:strings.LastIndexByte(text, '\n')+1]
	var out []time.Time
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if line == "" {
			continue
		}
		ns, _, _ := strings.Cut(line, " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad line %q", s.RecordFile(), line)
		}
		out = append(out, time.Unix(0, n))
	}
	return out, nil
}

// Acked returns the modification time of the slave's acknowledgement.
func (s *Slave) Acked() (time.Time, bool) {
	fi, err := os.Stat(filepath.Join(s.env.SSHD.AckDir, s.AckName()))
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// Proc is a started slave process.
type Proc struct {
	cmd            *exec.Cmd
	done           chan struct{}
	err            error
	Started, Ended time.Time
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	return lab.Closed(p.done)
}

// Wait waits up to timeout for the process to end; past it, the process
// group is killed and an error returned.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("pid %d still running after %v; killed", p.Pid(), timeout)
	}
}

// Kill kills the process group and waits for the leader.
func (p *Proc) Kill() {
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Usage is the ended process's CPU time (with its reaped children) and
// peak RSS in KiB, from wait4.
func (p *Proc) Usage() (cpu time.Duration, maxRSSKiB int64) {
	<-p.done
	ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Maxrss
}

// ExitCode is the exit status, -1 if killed or running.
func (p *Proc) ExitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}
