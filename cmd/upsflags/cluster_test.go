package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
	"github.com/nutslave/nutslave/internal/sshtest"
)

// This file is the harness of the end-to-end tests of issue 7 (stages,
// heartbeats, drills): real upsslave binaries reach an in-process SSH/SFTP
// master (internal/sshtest) whose file system holds upsflags' FLAGDIR and
// ACKDIR, and upsflags reads a file: source the test rewrites. Every
// shutdown command is a recorder appending "NAME UNIXNANO" to one
// shutdown.log.

// buildUpsslave builds ./cmd/upsslave into dir. Each top-level test builds
// its own copy (the go build cache makes the second one cheap), so that no
// other test's cleanup can remove it while its subtests run in parallel.
func buildUpsslave(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out := filepath.Join(dir, "upsslave")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/nutslave/nutslave/cmd/upsslave")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build upsslave: %v\n%s", err, b)
	}
	return out
}

// cluster is one master (sshtest + upsflags with a file: source) and its
// slaves, all under one temporary directory.
type cluster struct {
	t      *testing.T
	dir    string
	bin    string // upsslave
	srv    *sshtest.Server
	conf   string // upsflags.conf
	slaves map[string]*slaveHost
}

// slaveHost is one slave: its own configuration, state and log.
type slaveHost struct {
	name, dir, conf string
}

// newCluster starts an SSH/SFTP master and writes upsflags.conf with the
// given overrides (KEY=VALUE; see testConf).
func newCluster(t *testing.T, bin string, masterConf ...string) *cluster {
	t.Helper()
	dir := t.TempDir()
	srv, err := sshtest.Start(filepath.Join(dir, "ssh"), sshtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	c := &cluster{t: t, dir: dir, bin: bin, srv: srv, slaves: map[string]*slaveHost{}}
	c.conf = testConf(t, dir, append([]string{c.recorderConf("master")}, masterConf...)...)
	for _, d := range []string{"flags", "acks"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// recorderConf is a SHUTDOWNCMD line that records name and the time.
func (c *cluster) recorderConf(name string) string {
	return `SHUTDOWNCMD="/bin/sh -c 'echo ` + name + ` $(date +%s%N) >> ` + c.dir + `/shutdown.log'"`
}

// slave writes upsslave.conf for a slave called name, with KEY=VALUE
// overrides, and returns it.
func (c *cluster) slave(name string, overrides ...string) *slaveHost {
	c.t.Helper()
	s := &slaveHost{name: name, dir: filepath.Join(c.dir, "slave-"+name)}
	if err := os.MkdirAll(filepath.Join(s.dir, "state"), 0o755); err != nil {
		c.t.Fatal(err)
	}
	lines := []string{
		"MASTER=" + c.srv.User + "@" + c.srv.Addr,
		"IDENTITY=" + c.srv.ClientKey,
		"KNOWN_HOSTS=" + c.srv.KnownHosts,
		"FLAGDIR=" + c.dir + "/flags",
		"ACKDIR=" + c.dir + "/acks",
		fmt.Sprintf("FLAGOWNER=%d", os.Getuid()),
		"NAME=" + name,
		"POLL=50ms",
		"SDFWAIT=20s",
		"DEADTIME=20s",
		"CONNECT_TIMEOUT=2s",
		"STATEDIR=" + s.dir + "/state",
		"LOGFILE=" + s.dir + "/upsslave.log",
		c.recorderConf(name),
	}
	s.conf = filepath.Join(s.dir, "upsslave.conf")
	writeConf(c.t, s.conf, lines, overrides)
	c.slaves[name] = s
	return s
}

// reconfigure rewrites a slave's configuration with new overrides.
func (c *cluster) reconfigure(s *slaveHost, overrides ...string) {
	c.t.Helper()
	b, err := os.ReadFile(s.conf)
	if err != nil {
		c.t.Fatal(err)
	}
	writeConf(c.t, s.conf, strings.Split(strings.TrimSpace(string(b)), "\n"), overrides)
}

// writeConf writes KEY=VALUE lines, each override replacing the line of
// its key (or appended, for a key without one).
func writeConf(t testing.TB, path string, lines, overrides []string) {
	t.Helper()
	for _, o := range overrides {
		k, _, _ := strings.Cut(o, "=")
		for i, l := range lines {
			if strings.HasPrefix(l, k+"=") {
				lines = append(lines[:i], lines[i+1:]...)
				break
			}
		}
		lines = append(lines, o)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
}

// ups writes the file: source: status and charge.
func (c *cluster) ups(status string, charge int) {
	c.t.Helper()
	p := filepath.Join(c.dir, "ups.txt")
	body := fmt.Sprintf("ups.status: %s\nbattery.charge: %d\n", status, charge)
	if err := os.WriteFile(p+".tmp", []byte(body), 0o644); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		c.t.Fatal(err)
	}
}

// upsflags runs upsflags (the test binary, through testscript's PATH
// entry) with the cluster's configuration, as its own process: the way
// the timer, upsmon or an administrator runs it.
func (c *cluster) upsflags(args ...string) (code int, stdout, stderr string) {
	return c.upsflagsCtx(context.Background(), args...)
}

// upsflagsCtx is upsflags; when ctx ends the process gets SIGTERM.
func (c *cluster) upsflagsCtx(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "upsflags", args...)
	// A -race binary sleeps a second at exit unless told otherwise.
	cmd.Env = append(os.Environ(), confEnv+"="+c.conf, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	case cmd.ProcessState != nil && cmd.ProcessState.Exited():
		code = cmd.ProcessState.ExitCode() // ended by SIGTERM, exit status as it chose
	default:
		code = -1
		errb.WriteString("\n(test: " + err.Error() + ")")
	}
	return code, out.String(), errb.String()
}

// mustUpsflags runs upsflags and fails the test unless it exits 0.
func (c *cluster) mustUpsflags(args ...string) string {
	c.t.Helper()
	code, out, errs := c.upsflags(args...)
	if code != 0 {
		c.t.Fatalf("upsflags %s = %d\nstdout:\n%s\nstderr:\n%s\nlog:\n%s", strings.Join(args, " "), code, out, errs, c.masterLog())
	}
	return out
}

// tick waits one POLL (readings closer than POLL/2 count once) and runs
// one decision, as the timer does. It assumes POLL=20ms.
func (c *cluster) tick() {
	c.t.Helper()
	time.Sleep(20 * time.Millisecond)
	c.mustUpsflags("run")
}

// bg is an upsflags running in the background.
type bg struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan struct{}
	code   int
	out    string
	err    string
}

// background starts upsflags with args; it runs until it ends on its own
// ([bg.wait]) or [bg.stop] sends it SIGTERM.
func (c *cluster) background(args ...string) *bg {
	ctx, cancel := context.WithCancel(context.Background())
	b := &bg{t: c.t, cancel: cancel, done: make(chan struct{})}
	go func() {
		b.code, b.out, b.err = c.upsflagsCtx(ctx, args...)
		close(b.done)
	}()
	c.t.Cleanup(func() { b.stop() })
	return b
}

// stop sends SIGTERM (if still running) and returns the exit code and
// output.
func (b *bg) stop() (code int, stdout, stderr string) {
	b.cancel()
	<-b.done
	return b.code, b.out, b.err
}

// wait waits up to d for upsflags to end on its own.
func (b *bg) wait(d time.Duration) (code int, stdout, stderr string) {
	b.t.Helper()
	select {
	case <-b.done:
	case <-time.After(d):
		b.t.Fatalf("upsflags did not end within %v", d)
	}
	return b.code, b.out, b.err
}

// proc is a running upsslave.
type proc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
	err  error
}

// exited reports whether the process ended.
func (p *proc) exited() bool { return lab.Closed(p.done) }

// wait waits up to d for the process to end and returns its error.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("upsslave %q did not finish within %v:\n%s", p.cmd.Args, d, p.out)
		return nil
	}
}

// event starts upsslave as upsmon's NOTIFYCMD for notifytype.
func (c *cluster) event(s *slaveHost, notifytype string) *proc {
	c.t.Helper()
	return c.start(s, []string{"NOTIFYTYPE=" + notifytype, "UPSNAME=ups@master"}, "UPS ups@master: "+notifytype)
}

// start runs upsslave with args in the background.
func (c *cluster) start(s *slaveHost, env []string, args ...string) *proc {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(append(os.Environ(), "UPSSLAVE_CONF="+s.conf), env...)
	p := &proc{cmd: cmd, out: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	c.t.Cleanup(func() {
		if !p.exited() {
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// heartbeat runs "upsslave heartbeat" for s, as its timer would, and
// returns its output and error.
func (c *cluster) heartbeat(s *slaveHost) (string, error) {
	c.t.Helper()
	p := c.start(s, nil, "heartbeat")
	err := p.wait(c.t, 30*time.Second)
	return p.out.String(), err
}

// shutdowns returns the names in shutdown.log, in order, with their times.
func (c *cluster) shutdowns() (names []string, at map[string][]time.Time) {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "shutdown.log"))
	if err != nil && !os.IsNotExist(err) {
		c.t.Fatal(err)
	}
	at = map[string][]time.Time{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		name, ns, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			c.t.Fatalf("shutdown.log line %q: %v", l, err)
		}
		names = append(names, name)
		at[name] = append(at[name], time.Unix(0, n))
	}
	return names, at
}

// shutDown reports whether name's recorder ran.
func (c *cluster) shutDown(name string) bool {
	_, at := c.shutdowns()
	return len(at[name]) > 0
}

// path is a file under the cluster's directory.
func (c *cluster) path(rel string) string { return filepath.Join(c.dir, rel) }

func (c *cluster) exists(rel string) bool { return exists(c.path(rel)) }

func (c *cluster) masterLog() string {
	b, _ := os.ReadFile(c.path("upsflags.log"))
	return string(b)
}

func (s *slaveHost) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "upsslave.log"))
	return string(b)
}

// dump logs everything that helps understand a failure.
func (c *cluster) dump() {
	if !c.t.Failed() {
		return
	}
	var names []string
	for n := range c.slaves {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c.t.Logf("upsslave log of %s:\n%s", n, c.slaves[n].log())
	}
	c.t.Logf("upsflags log:\n%s", c.masterLog())
	b, _ := os.ReadFile(c.path("shutdown.log"))
	c.t.Logf("shutdown.log:\n%s", b)
}

// waitUntil polls cond every 10ms for up to d.
func (c *cluster) waitUntil(d time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			c.dump()
			c.t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mtime is a file's modification time.
func (c *cluster) mtime(rel string) time.Time {
	c.t.Helper()
	fi, err := os.Stat(c.path(rel))
	if err != nil {
		c.t.Fatal(err)
	}
	return fi.ModTime()
}

// foreignKey writes an ed25519 private key the test server does not
// authorize, mode 0600, and returns its path.
func foreignKey(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "foreign_ed25519")
	if _, err := lab.WriteKey(p, ""); err != nil {
		t.Fatal(err)
	}
	return p
}

// rowOf returns the line of a table that starts with "  name ".
func rowOf(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  "+name+" ") {
			return l
		}
	}
	return ""
}
