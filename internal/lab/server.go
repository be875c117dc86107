package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// server is what the lab's SSH servers (OpenSSH's sshd, Dropbear) share:
// their process, the directory they keep the account's files in, and how
// they are started, reached and stopped.
type server struct {
	name       string // "sshd", "dropbear": for messages
	base       string // holds the account's files (chroot, home, flags)
	removeBase bool   // base was made under safeBase and goes on Stop
	p          *proc
}

// absDir makes dir (and its parents) and returns its absolute path.
func absDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	return abs, nil
}

// sftpUser is what the lab needs to know about a server's account.
type sftpUser struct{ uid, gid int }

var userMu sync.Mutex

// ensureAccount creates the system account name with useradd (--system
// --user-group --no-create-home, then args) if missing, lets check refuse
// it, and makes sure its password field is not a locked "!" (sshd without
// PAM and Dropbear refuse those).
func ensureAccount(name string, args []string, check func(*user.User) error) (sftpUser, error) {
	userMu.Lock()
	defer userMu.Unlock()
	if _, err := user.Lookup(name); err != nil {
		// Another test process may be adding it at the same time; useradd
		// then fails on the lock or on the existing name. Retry and look again.
		argv := append([]string{"--system", "--user-group", "--no-create-home"}, args...)
		argv = append(argv, name)
		var out []byte
		for i := 0; i < 10; i++ {
			out, err = exec.Command("useradd", argv...).CombinedOutput()
			if _, lerr := user.Lookup(name); lerr == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, lerr := user.Lookup(name); lerr != nil {
			return sftpUser{}, fmt.Errorf("lab: useradd %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		return sftpUser{}, fmt.Errorf("lab: %w", err)
	}
	if check != nil {
		if err := check(u); err != nil {
			return sftpUser{}, err
		}
	}
	if locked, err := passwordLocked(name); err != nil {
		return sftpUser{}, err
	} else if locked {
		if out, err := exec.Command("usermod", "--password", "*", name).CombinedOutput(); err != nil {
			return sftpUser{}, fmt.Errorf("lab: usermod --password '*' %s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return sftpUser{uid: uid, gid: gid}, nil
}

// ownedDir is a directory of a server's layout: its owner and mode.
type ownedDir struct {
	path     string
	uid, gid int
	mode     os.FileMode
}

// makeDirs makes dirs, in order, with their owners and modes.
func makeDirs(dirs ...ownedDir) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d.path, 0o755); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		if err := os.Chown(d.path, d.uid, d.gid); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}

// makeBase picks base: dir itself when it is root-owned all the way down
// (sshd's demand of a chroot, Dropbear's of a home), else a fresh
// directory prefix-… under safeBase, removed on Stop.
func (s *server) makeBase(dir, prefix string) error {
	if rootOwnedPath(dir) {
		s.base = dir
		return nil
	}
	if err := os.MkdirAll(safeBase, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if !rootOwnedPath(safeBase) {
		return fmt.Errorf("lab: %s is not root-owned 0755 all the way down; %s would refuse the account's directories there", safeBase, s.name)
	}
	base, err := os.MkdirTemp(safeBase, prefix+filepath.Base(dir)+"-")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	s.base, s.removeBase = base, true
	if err := os.Chmod(base, 0o755); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// setUp runs the steps of a start (layout, keys, listen) once base is
// made; when one fails, it stops the server and removes what it made, so
// that nothing is left running.
func (s *server) setUp(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			s.Stop()
			return err
		}
	}
	return nil
}

// listen starts the server with start on 127.0.0.1:port, or on a free
// port when port is 0: then up to three ports are tried, in case another
// process took one between the choice and the start.
func (s *server) listen(port int, start func(addr string) error) error {
	for attempt := 0; ; attempt++ {
		p := port
		if p == 0 {
			var err error
			if p, err = freePort(); err != nil {
				return err
			}
		}
		err := start("127.0.0.1:" + strconv.Itoa(p))
		if err == nil || port != 0 || attempt == 2 || !errors.Is(err, errExited) {
			return err
		}
	}
}

// writeKnownHosts pins keys for addr in file.
func writeKnownHosts(file, addr string, keys ...ssh.PublicKey) error {
	var lines strings.Builder
	for _, k := range keys {
		lines.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, k) + "\n")
	}
	if err := os.WriteFile(file, []byte(lines.String()), 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// run starts argv (with attr) as the server's process, its output in
// logFile, and waits up to timeout for its banner on addr.
func (s *server) run(addr, logFile string, attr *syscall.SysProcAttr, timeout time.Duration, argv ...string) error {
	p, err := startProc(s.name, logFile, nil, attr, argv...)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	s.p = p
	return s.waitBanner(addr, logFile, timeout)
}

// waitBanner waits up to timeout (default 10 s) for the SSH banner on
// addr; a server that exits or stays silent fails with its log's tail.
func (s *server) waitBanner(addr, logFile string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		if s.p.exited() {
			return fmt.Errorf("lab: %s %w (%v)%s", s.name, errExited, s.p.err, TailLog(logFile))
		}
		if Banner(addr) {
			return nil
		}
		if time.Now().After(deadline) {
			s.p.stop()
			return fmt.Errorf("lab: %s sent no banner on %s within %v%s", s.name, addr, timeout, TailLog(logFile))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clientConfig is an ssh.ClientConfig for an account: its key, the
// pinned host keys, the host key algorithms to offer (nil: x/crypto's
// default order), a 10 s timeout.
func clientConfig(user, keyFile, knownHostsFile string, algorithms []string) (*ssh.ClientConfig, error) {
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	hk, err := knownhosts.New(knownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return &ssh.ClientConfig{
		User:              user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hk,
		HostKeyAlgorithms: algorithms,
		Timeout:           10 * time.Second,
	}, nil
}

// writeClientKey makes the account's client key (keyFile, and keyFile.pub
// with its authorized_keys line), lets authorize put that line where the
// server reads it, and gives the key and an empty known_hosts to owner (a
// slave that does not run as root); owner "" leaves them root's.
func writeClientKey(keyFile, knownHosts, owner string, authorize func(authLine []byte) error) error {
	pub, pemBytes, err := newKey("nutslave lab client key")
	if err != nil {
		return err
	}
	authLine := ssh.MarshalAuthorizedKey(pub)
	if err := authorize(authLine); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.WriteFile(keyFile, pemBytes, 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if err := os.WriteFile(keyFile+".pub", authLine, 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if owner == "" {
		return nil
	}
	u, err := user.Lookup(owner)
	if err != nil {
		return fmt.Errorf("lab: KeyOwner: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.WriteFile(knownHosts, nil, 0o644); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	for _, p := range []string{keyFile, keyFile + ".pub", knownHosts} {
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}

// Pid returns the listening server's process id.
func (s *server) Pid() int { return s.p.pid() }

// Stop stops the server and the per-connection processes it forked (and
// the sftp-servers they run), removes what it made under safeBase, and
// keeps its directory with its log. Idempotent.
func (s *server) Stop() error {
	var errs []error
	if s.p != nil {
		if !s.p.exited() {
			s.p.signal(syscall.SIGSTOP) // forks no new connection while its tree is killed
			KillTree(s.p.pid())
		}
		errs = append(errs, s.p.stop())
	}
	if s.removeBase {
		if err := os.RemoveAll(s.base); err != nil {
			errs = append(errs, fmt.Errorf("lab: %w", err))
		}
		s.removeBase = false
	}
	return errors.Join(errs...)
}
