package slave

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
)

// checker is a check's findings; hostKey marks a host key problem, which
// gets its own hint.
type checker struct {
	command.Checker
	// hostKey: KNOWN_HOSTS is missing or unreadable; noKey: IDENTITY is
	// missing. Each adds its fix to the summary's hints.
	hostKey, noKey bool
	// dial reaches the master; nil is one attempt (sftpstore.Dial). The
	// heartbeat's tries again while the master is busy.
	dial func(ctx context.Context, sc sftpstore.Config) (*sftpstore.Conn, error)
	// keep leaves the connection to the master open in conn, for the
	// heartbeat to send its report over, rather than closing it; dialErr
	// is why there is none when the check tried.
	keep    bool
	conn    *sftpstore.Conn
	dialErr error
}

// Check verifies everything an outage will need, so a broken slave is
// found before the power fails.
func Check(ctx context.Context, cfg *Config, w io.Writer) error {
	return check(ctx, cfg, &checker{Checker: command.Checker{W: w}})
}

// check is Check with the checker given: how it dials, and whether it
// keeps the connection.
func check(ctx context.Context, cfg *Config, k *checker) error {
	w := k.W
	k.OK("configuration %s parsed (MASTER=%s@%s NAME=%s)", cfg.Path, cfg.MasterUser, cfg.MasterAddr, cfg.Name)
	if fi, err := os.Stat(cfg.Path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		k.Warn("%s is world-readable (mode %04o); use root:nut 0640", cfg.Path, fi.Mode().Perm())
	}
	if cfg.FlagDir == cfg.AckDir {
		k.Warn("ACKDIR is FLAGDIR (the original layout): any slave could forge sdf and shut every host down; use a separate ACKDIR (default FLAGDIR/acks)")
	}
	k.StateDir(cfg.StateDir, cfg.LogFile, "nut")
	checkShutdownCmd(k, cfg)
	k.Chain("upsslave", cfg.Next, cfg.Path, cfg.upsmonConfPath())
	checkSupplies(k, cfg)
	signer, err := sftpstore.LoadSigner(cfg.Identity)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		k.Config, k.noKey = true, true
		k.Fail("IDENTITY %s does not exist", cfg.Identity)
	case err != nil:
		if errors.Is(err, fs.ErrPermission) {
			k.Permission = true
		}
		k.Fail("%v", err)
	default:
		k.OK("identity %s (%s)", cfg.Identity, signer.PublicKey().Type())
	}
	if _, err := knownhosts.New(cfg.KnownHosts); err != nil {
		k.Config, k.hostKey = true, true
		k.Fail("known hosts: %v", err)
	}
	if signer != nil && k.Errors == 0 {
		checkMaster(ctx, k, cfg, signer)
	}
	if err := k.Err(); err != nil {
		var hints []string
		if k.noKey {
			hints = append(hints, fmt.Sprintf("create the key: ssh-keygen -t ed25519 -N '' -C upsslave@$(hostname -s) -f %s", cfg.Identity),
				fmt.Sprintf("then append %s.pub to the master's /etc/ssh/nutslave_authorized_keys", cfg.Identity))
		}
		if k.hostKey {
			hints = append(hints, "check the master's fingerprint, then run: upsslave trust")
		}
		if len(hints) > 0 {
			return &command.Hinted{Err: err, Hint: strings.Join(hints, "\n")}
		}
		return err
	}
	fmt.Fprintf(w, "upsslave is ready (%d warning(s))\n", k.Warnings)
	return nil
}

func checkShutdownCmd(k *checker, cfg *Config) {
	path := k.ShutdownCmd(cfg.ShutdownCmd, cfg.DryRun)
	if path == "" {
		return
	}
	switch filepath.Base(path) {
	case "shutdown", "poweroff", "systemctl":
		if os.Geteuid() != 0 {
			k.Warn("running as uid %d: %s usually needs root; set upsmon's SHUTDOWNCMD to \"/usr/sbin/upsslave shutdown\" (runs as root) or use SHUTDOWNCMD=\"sudo -n %s\"",
				os.Geteuid(), path, strings.Join(cfg.ShutdownCmd, " "))
			return
		}
	}
	k.OK("SHUTDOWNCMD %q", cfg.ShutdownCmd)
}

func checkMaster(ctx context.Context, k *checker, cfg *Config, signer ssh.Signer) {
	dial := k.dial
	if dial == nil {
		dial = func(ctx context.Context, sc sftpstore.Config) (*sftpstore.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, 3*sc.DialTimeout)
			defer cancel()
			return sftpstore.Dial(ctx, sc)
		}
	}
	conn, err := dial(ctx, sshConfig(cfg, signer))
	cctx, cancel := context.WithTimeout(ctx, 3*cfg.ConnectTimeout)
	defer cancel()
	if err != nil {
		k.dialErr = err
		if errors.Is(err, sftpstore.ErrHostKey) {
			k.Config, k.hostKey = true, true
		}
		k.Fail("connect to %s@%s: %v", cfg.MasterUser, cfg.MasterAddr, err)
		return
	}
	if k.keep {
		k.conn = conn
	} else {
		defer conn.Close()
	}
	k.OK("connected to %s, host key matches %s", cfg.MasterAddr, cfg.KnownHosts)
	infos, err := sftpstore.New(conn.SFTP, cfg.FlagDir).List(cctx)
	if err != nil {
		k.Fail("read FLAGDIR %s on the master: %v", cfg.FlagDir, err)
		return
	}
	names := []string{}
	for _, in := range infos {
		if in.HasOwner && in.UID != cfg.FlagOwner {
			k.Warn("flag %s is owned by uid %d, not FLAGOWNER %d: it will be ignored", in.Name, in.UID, cfg.FlagOwner)
		}
		names = append(names, string(in.Name))
	}
	k.OK("FLAGDIR %s readable (flags: %s)", cfg.FlagDir, strings.Join(append(names, "")[:max(len(names), 1)], " "))
	// Can we write our acknowledgement? A dot-file probe is invisible to
	// readers and removed at once.
	probe := filepath.Join(cfg.AckDir, fmt.Sprintf(".check.%s.%d", cfg.Name, os.Getpid()))
	f, err := conn.SFTP.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		k.Fail("ACKDIR %s is not writable over SFTP: %v", cfg.AckDir, err)
	} else {
		f.Close()
		conn.SFTP.Remove(probe)
		k.OK("ACKDIR %s writable", cfg.AckDir)
	}
	if _, ok := conn.SFTP.HasExtension("posix-rename@openssh.com"); !ok {
		k.Fail("the master's SFTP server has no posix-rename@openssh.com: acknowledgements cannot be written atomically")
	}
	// In the hardened layout the slaves' account cannot write FLAGDIR.
	if cfg.FlagDir != cfg.AckDir {
		probe := filepath.Join(cfg.FlagDir, fmt.Sprintf(".check.%s.%d", cfg.Name, os.Getpid()))
		if f, err := conn.SFTP.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL); err == nil {
			f.Close()
			conn.SFTP.Remove(probe)
			k.Warn("FLAGDIR %s is writable by this account: a slave could forge sdf; make it root-owned 0755", cfg.FlagDir)
		}
	}
}

func sshConfig(cfg *Config, signer ssh.Signer) sftpstore.Config {
	return sftpstore.Config{
		Addr:             cfg.MasterAddr,
		User:             cfg.MasterUser,
		Signer:           signer,
		KnownHosts:       cfg.KnownHosts,
		DialTimeout:      cfg.ConnectTimeout,
		HandshakeTimeout: cfg.ConnectTimeout,
		KeepAlive:        max(cfg.ConnectTimeout, time.Second),
	}
}

// Trust fetches the master's host key, shows its fingerprint and, once
// confirmed, appends it to KNOWN_HOSTS.
func Trust(ctx context.Context, cfg *Config, wantFP string, yes bool, stdin io.Reader, w io.Writer) error {
	var key ssh.PublicKey
	capture := func(_ string, _ net.Addr, k ssh.PublicKey) error {
		key = k
		return errors.New("host key captured")
	}
	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	nc, err := d.DialContext(ctx, "tcp", cfg.MasterAddr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", cfg.MasterAddr, err)
	}
	nc.SetDeadline(time.Now().Add(cfg.ConnectTimeout))
	ssh.NewClientConn(nc, cfg.MasterAddr, &ssh.ClientConfig{User: cfg.MasterUser, HostKeyCallback: capture,
		HostKeyAlgorithms: sftpstore.PreferredHostKeyAlgorithms})
	nc.Close()
	if key == nil {
		return fmt.Errorf("%s sent no host key", cfg.MasterAddr)
	}
	fp := ssh.FingerprintSHA256(key)
	fmt.Fprintf(w, "%s host key %s %s\n", cfg.MasterAddr, key.Type(), fp)
	switch {
	case wantFP != "":
		if wantFP != fp {
			return &command.Hinted{Err: fmt.Errorf("fingerprint mismatch: the master sent %s, you expected %s", fp, wantFP),
				Hint: "compare with: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub (on the master)"}
		}
	case !yes:
		fmt.Fprintf(w, "Compare with the master's own: ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub\nTrust this key? [y/N] ", keyFileType(key.Type()))
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("not trusted")
		}
	}
	f, err := os.OpenFile(cfg.KnownHosts, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(cfg.MasterAddr)}, key)); err != nil {
		return fmt.Errorf("known hosts: %w", err)
	}
	fmt.Fprintf(w, "added to %s\n", cfg.KnownHosts)
	return nil
}

func keyFileType(t string) string {
	switch t {
	case ssh.KeyAlgoED25519:
		return "ed25519"
	case ssh.KeyAlgoRSA:
		return "rsa"
	}
	return "ecdsa"
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

// Simulate plays one event through the real decision and watch path
// against the real master, with a throwaway state directory, no
// acknowledgement and no shutdown.
func Simulate(ctx context.Context, cfg *Config, event, ups string, timeout time.Duration, w io.Writer) error {
	tmp, err := os.MkdirTemp("", "upsslave-simulate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	sim := *cfg
	sim.StateDir, sim.LogFile, sim.DryRun = tmp, "", true
	log := eventlog.Open(eventlog.Options{Tag: "upsslave-simulate", Stderr: w})
	s := Open(&sim, log)
	s.Simulate = true
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fmt.Fprintf(w, "simulating %s for %s (state in %s; nothing is acknowledged or shut down)\n", event, ups, tmp)
	err = s.HandleEvent(ctx, event, ups, "simulated by upsslave simulate")
	st, _ := s.store.Load(ups)
	fmt.Fprintf(w, "result: power=%s job=%s\n", st.Power, st.Job)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("simulation stopped after %v without a verdict", timeout)
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "simulation interrupted; nothing was acknowledged or shut down")
		return nil
	}
	return err
}
