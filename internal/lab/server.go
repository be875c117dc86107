package lab

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
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

// waitBanner waits up to timeout (default 10 s) for the SSH banner on
// addr; a server that exits or stays silent fails with its log's tail.
func (s *server) waitBanner(addr, logFile string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		if s.p.exited() {
			return fmt.Errorf("lab: %s %w (%v)%s", s.name, errExited, s.p.err, tailLog(logFile))
		}
		if banner(addr) {
			return nil
		}
		if time.Now().After(deadline) {
			s.p.stop()
			return fmt.Errorf("lab: %s sent no banner on %s within %v%s", s.name, addr, timeout, tailLog(logFile))
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
