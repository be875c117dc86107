package lab

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// DefaultSSHUser is the SFTP-only account the packages ship (DESIGN §2).
const DefaultSSHUser = "nutslave"

// safeBase is where the chroot and authorized keys go when the lab
// directory's path is not root-owned all the way down (sshd refuses a
// ChrootDirectory, and StrictModes an authorized_keys file, below a
// directory that others may write to, such as /tmp).
const safeBase = "/run/nutslave-lab"

// SSHDOptions configures StartSSHD. The zero value is usable.
type SSHDOptions struct {
	// User is the SFTP-only account; default DefaultSSHUser. It is created
	// with useradd --system (shell /usr/sbin/nologin, password field "*")
	// if missing; a locked password field ("!") is replaced by "*", since
	// sshd refuses locked accounts when UsePAM is off.
	User string
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// LogLevel is sshd's LogLevel; default INFO. VERBOSE logs the key of
	// every accepted login; the log is LogFile.
	LogLevel string
	// MaxStartups is sshd's MaxStartups ("10:30:100" is sshd's default);
	// empty leaves sshd's default.
	MaxStartups string
	// KeyOwner is the local account that owns ClientKey (mode 0600) and
	// KnownHostsFile, for a slave process that does not run as root (such
	// as upsmon's RUN_AS_USER "nut"); default root.
	KeyOwner string
	// StartTimeout bounds the wait for sshd's banner; default 10s.
	StartTimeout time.Duration
	// AlsoAuthorize are more public keys (authorized_keys lines) the
	// account accepts: one slave key for two masters.
	AlsoAuthorize [][]byte
}

// An SSHD is a running OpenSSH sshd on loopback with one SFTP-only,
// chrooted account laid out as the master's flag directory.
type SSHD struct {
	// Addr is "127.0.0.1:<port>"; User the SFTP-only account.
	Addr, User string
	// Dir holds sshd_config, the host key, the client key, known_hosts,
	// sshd.log and sshd.pid.
	Dir string
	// ChrootDir is the account's ChrootDirectory (root:root 0755); FlagDir
	// (root:root 0755, the master's flags) and AckDir (root:<user> 1770,
	// the slaves' acknowledgements) lie in it. These are host paths.
	ChrootDir, FlagDir, AckDir string
	// SFTPFlagDir and SFTPAckDir are the same directories as the account
	// sees them over SFTP: "/flags" and "/flags/acks".
	SFTPFlagDir, SFTPAckDir string
	// KnownHostsFile pins the host key for "[127.0.0.1]:<port>".
	KnownHostsFile string
	// ClientKey is the account's ed25519 private key (OpenSSH format,
	// unencrypted); ClientKey+".pub" is its public half.
	ClientKey string
	// HostKey is sshd's public host key.
	HostKey ssh.PublicKey
	// ConfigFile is the sshd_config in use; LogFile sshd's log.
	ConfigFile, LogFile string

	server // base holds the chroot and the authorized keys
}

// StartSSHD generates keys and a config under dir (created if needed),
// starts "sshd -D -e" on 127.0.0.1 and returns once it sends its banner. On
// error nothing is left running.
func StartSSHD(dir string, opts SSHDOptions) (*SSHD, error) {
	if err := CheckSSHD(); err != nil {
		return nil, err
	}
	if opts.User == "" {
		opts.User = DefaultSSHUser
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "INFO"
	}
	abs, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	// sshd needs its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	acct, err := ensureSFTPUser(opts.User)
	if err != nil {
		return nil, err
	}
	s := &SSHD{
		server:         server{name: "sshd"},
		User:           opts.User,
		Dir:            abs,
		SFTPFlagDir:    "/flags",
		SFTPAckDir:     "/flags/acks",
		KnownHostsFile: filepath.Join(abs, "known_hosts"),
		ClientKey:      filepath.Join(abs, "id_ed25519"),
		ConfigFile:     filepath.Join(abs, "sshd_config"),
		LogFile:        filepath.Join(abs, "sshd.log"),
	}
	if err := s.makeBase(s.Dir, ""); err != nil {
		return nil, err
	}
	if err := s.setUp(
		func() error { return s.layout(acct) },
		func() error { return s.writeKeys(opts, acct) },
		func() error {
			return s.listen(opts.Port, func(addr string) error { s.Addr = addr; return s.start(opts) })
		},
	); err != nil {
		return nil, err
	}
	return s, nil
}

// ensureSFTPUser creates the system account if missing and makes sure its
// password field is not a locked "!" (sshd refuses those without PAM).
func ensureSFTPUser(name string) (sftpUser, error) {
	return ensureAccount(name, []string{"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
		"--comment", "nutslave SFTP flags"}, nil)
}

// passwordLocked reports whether name's /etc/shadow password field is a
// lock with no password behind it ("!", "!!", "!*").
func passwordLocked(name string) (bool, error) {
	f, err := os.Open("/etc/shadow")
	if err != nil {
		return false, fmt.Errorf("lab: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) > 1 && fields[0] == name {
			switch fields[1] {
			case "!", "!!", "!*":
				return true, nil
			}
			return false, nil
		}
	}
	return false, sc.Err()
}

// rootOwnedPath reports whether every directory from / to dir is owned by
// root and not writable by group or others, as sshd demands of a chroot.
func rootOwnedPath(dir string) bool {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
			return false
		}
		if p == "/" {
			return true
		}
	}
}

// layout creates chroot/, chroot/flags/ and chroot/flags/acks/ and the
// authorized keys directory.
func (s *SSHD) layout(acct sftpUser) error {
	s.ChrootDir = filepath.Join(s.base, "chroot")
	s.FlagDir = filepath.Join(s.ChrootDir, "flags")
	s.AckDir = filepath.Join(s.FlagDir, "acks")
	if err := makeDirs(
		ownedDir{s.ChrootDir, 0, 0, 0o755},
		ownedDir{s.FlagDir, 0, 0, 0o755},
		ownedDir{s.AckDir, 0, acct.gid, 0o770 | os.ModeSticky},
		ownedDir{filepath.Join(s.base, "authorized_keys"), 0, 0, 0o755},
	); err != nil {
		return err
	}
	if s.removeBase {
		link := filepath.Join(s.Dir, "chroot")
		os.Remove(link)
		if err := os.Symlink(s.ChrootDir, link); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}

// writeKeys generates the host key, the client key, authorized_keys and
// (once the port is known, in start) known_hosts.
func (s *SSHD) writeKeys(opts SSHDOptions, acct sftpUser) error {
	hostPub, hostPEM, err := newKey("nutslave lab host key")
	if err != nil {
		return err
	}
	s.HostKey = hostPub
	if err := os.WriteFile(filepath.Join(s.Dir, "ssh_host_ed25519_key"), hostPEM, 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return writeClientKey(s.ClientKey, s.KnownHostsFile, opts.KeyOwner, func(authLine []byte) error {
		authorized := append([]byte(nil), authLine...)
		for _, k := range opts.AlsoAuthorize {
			authorized = append(authorized, k...)
		}
		return writeFile(filepath.Join(s.base, "authorized_keys", s.User), authorized, 0o644)
	})
}

// newKey returns a fresh ed25519 public key and its private key in OpenSSH
// PEM form.
func newKey(comment string) (ssh.PublicKey, []byte, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	return sshPub, pem.EncodeToMemory(block), nil
}

// WriteKey writes a fresh ed25519 private key in OpenSSH PEM form to path,
// mode 0600 (a replacement host key, a key no server authorizes), and
// returns its public half.
func WriteKey(path, comment string) (ssh.PublicKey, error) {
	pub, pemBytes, err := newKey(comment)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	return pub, nil
}

func (s *SSHD) config(opts SSHDOptions) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# written by nutslave's internal/lab")
	w("ListenAddress %s", s.Addr)
	w("HostKey %s", filepath.Join(s.Dir, "ssh_host_ed25519_key"))
	w("PidFile %s", filepath.Join(s.Dir, "sshd.pid"))
	w("LogLevel %s", opts.LogLevel)
	w("AuthorizedKeysFile %s/%%u", filepath.Join(s.base, "authorized_keys"))
	w("AllowUsers %s", s.User)
	w("PubkeyAuthentication yes")
	w("PasswordAuthentication no")
	w("KbdInteractiveAuthentication no")
	w("HostbasedAuthentication no")
	w("UsePAM no")
	w("PermitRootLogin no")
	w("StrictModes yes")
	w("AllowTcpForwarding no")
	w("AllowStreamLocalForwarding no")
	w("AllowAgentForwarding no")
	w("X11Forwarding no")
	w("PermitTunnel no")
	w("PermitTTY no")
	w("PermitUserRC no")
	w("GatewayPorts no")
	if opts.MaxStartups != "" {
		w("MaxStartups %s", opts.MaxStartups)
	}
	w("Subsystem sftp internal-sftp")
	w("Match User %s", s.User)
	w("\tForceCommand internal-sftp")
	w("\tChrootDirectory %s", s.ChrootDir)
	return b.String()
}

// start writes known_hosts and sshd_config for s.Addr, starts sshd and waits
// for its banner.
func (s *SSHD) start(opts SSHDOptions) error {
	if err := writeKnownHosts(s.KnownHostsFile, s.Addr, s.HostKey); err != nil {
		return err
	}
	if err := writeFile(s.ConfigFile, []byte(s.config(opts)), 0o600); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return s.run(s.Addr, s.LogFile, nil, opts.StartTimeout, SSHDPath, "-D", "-e", "-f", s.ConfigFile)
}

// Banner reports whether an SSH server answers on addr.
func Banner(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	return readBanner(conn)
}

// readBanner reads the server's first line from conn, closes it and
// reports whether it is an SSH banner.
func readBanner(conn net.Conn) bool {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-2.0-")
}

// ClientConfig returns an ssh.ClientConfig for the account: its key, the
// pinned host key, a 10 s timeout.
func (s *SSHD) ClientConfig() (*ssh.ClientConfig, error) {
	return clientConfig(s.User, s.ClientKey, s.KnownHostsFile, nil)
}
