package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Paths of Debian's dropbear-bin (not the dropbear package, which adds a
// service) and of the SFTP server the lab forces on Dropbear's account.
var (
	DropbearPath    = "/usr/sbin/dropbear"
	DropbearkeyPath = "/usr/bin/dropbearkey"
	// SFTPServerPath is OpenSSH's sftp-server (openssh-sftp-server).
	// Debian's Dropbear looks for its compile-time path /usr/lib/sftp-server,
	// which that package provides as a symlink to this file; the lab does
	// not rely on it, since the account's key is forced to this command.
	SFTPServerPath = "/usr/lib/openssh/sftp-server"
)

// DefaultDropbearUser is the lab's account on Dropbear. It is not
// DefaultSSHUser: Dropbear has no ChrootDirectory or ForceCommand, runs
// every command through the account's shell ("$SHELL -c"), and rejects an
// account whose shell is not in /etc/shells, so the packaged nutslave
// account (shell /usr/sbin/nologin) cannot log in to it. Giving nutslave a
// shell would weaken it on every OpenSSH master; instead this lab-only
// account has /bin/sh, and its only authorized key is forced to the SFTP
// server (dropbearAuthOptions).
const DefaultDropbearUser = "nutslave-dropbear"

// dropbearHome is the home of the Dropbear accounts the lab creates, an
// empty directory on the host. Dropbear reads only ~/.ssh/authorized_keys
// (2022.83 has no option for another file), so each Dropbear runs in a
// private mount namespace with its own home mounted over this one.
const dropbearHome = safeBase + "/dropbear-home"

// dropbearAuthOptions are the authorized_keys options of the account's
// key, all honoured by Dropbear 2022.83 (it logs "Restrict option set",
// "Port forwarding disabled." …): whatever the client asks for (the "sftp"
// subsystem, a command, a shell), the account runs SFTPServerPath, with no
// pty and no forwarding.
const dropbearAuthOptions = "restrict,no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty"

// DropbearOptions configures StartDropbear. The zero value is usable.
type DropbearOptions struct {
	// User is the account; default DefaultDropbearUser. It is created
	// with useradd --system (shell /bin/sh, home /run/nutslave-lab/
	// dropbear-home, password field "*") if missing.
	User string
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// HostKeyTypes are the host keys made with "dropbearkey -t"; default
	// only "ed25519", as on a small master that never made the others.
	HostKeyTypes []string
	// KeyOwner is the local account that owns ClientKey (mode 0600) and
	// KnownHostsFile; default root.
	KeyOwner string
	// StartTimeout bounds the wait for Dropbear's banner; default 10s.
	StartTimeout time.Duration
}

// A Dropbear is a running Dropbear SSH server on loopback with one
// account whose key is forced to OpenSSH's sftp-server, laid out as the
// master's flag directory. Without a chroot, the account sees the host's
// paths: FlagDir and AckDir are what the slaves put in FLAGDIR and ACKDIR.
type Dropbear struct {
	// Addr is "127.0.0.1:<port>"; User the account.
	Addr, User string
	// Dir holds the host keys, the client key, known_hosts, dropbear.log
	// and dropbear.pid.
	Dir string
	// FlagDir (root:root 0755, the master's flags) and AckDir
	// (root:<user> 1770, the slaves' acknowledgements) are host paths.
	FlagDir, AckDir string
	// SFTPFlagDir and SFTPAckDir are the same directories as the account
	// sees them over SFTP: FlagDir and AckDir, since there is no chroot.
	SFTPFlagDir, SFTPAckDir string
	// KnownHostsFile pins every host key for "[127.0.0.1]:<port>".
	KnownHostsFile string
	// ClientKey is the account's ed25519 private key (OpenSSH format,
	// unencrypted); ClientKey+".pub" is its public half.
	ClientKey string
	// HostKeys are Dropbear's public host keys, in HostKeyTypes' order.
	HostKeys []ssh.PublicKey
	// AuthorizedKeysFile is the account's authorized_keys (a host path;
	// Dropbear sees it as ~/.ssh/authorized_keys); LogFile Dropbear's log.
	AuthorizedKeysFile, LogFile string

	server // base holds home/ and flags/
}

// CheckDropbear reports whether StartDropbear can run here.
func CheckDropbear() error {
	return checkBinaries(DropbearPath, DropbearkeyPath, SFTPServerPath, "/usr/bin/unshare")
}

// StartDropbear generates keys under dir (created if needed), starts
// "dropbear -F -E" on 127.0.0.1 in a private mount namespace and returns
// once it sends its banner. On error nothing is left running.
func StartDropbear(dir string, opts DropbearOptions) (*Dropbear, error) {
	if err := CheckDropbear(); err != nil {
		return nil, err
	}
	if opts.User == "" {
		opts.User = DefaultDropbearUser
	}
	if len(opts.HostKeyTypes) == 0 {
		opts.HostKeyTypes = []string{"ed25519"}
	}
	abs, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	// The mount point for every instance's home.
	if err := os.MkdirAll(dropbearHome, 0o755); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	acct, err := ensureDropbearUser(opts.User)
	if err != nil {
		return nil, err
	}
	d := &Dropbear{
		server:         server{name: "dropbear"},
		User:           opts.User,
		Dir:            abs,
		KnownHostsFile: filepath.Join(abs, "known_hosts"),
		ClientKey:      filepath.Join(abs, "id_ed25519"),
		LogFile:        filepath.Join(abs, "dropbear.log"),
	}
	if err := d.makeBase(); err != nil {
		return nil, err
	}
	if err := d.setUp(
		func() error { return d.layout(acct) },
		func() error { return d.writeKeys(opts) },
		func() error {
			return d.listen(opts.Port, func(addr string) error { d.Addr = addr; return d.start(opts) })
		},
	); err != nil {
		return nil, err
	}
	return d, nil
}

// ensureDropbearUser creates the lab's Dropbear account if missing, and
// checks that it is one Dropbear accepts and the lab can use: home
// dropbearHome, a shell listed in /etc/shells, a password field that is
// not a lock ("!": "User account is locked").
func ensureDropbearUser(name string) (sftpUser, error) {
	return ensureAccount(name, []string{"--home-dir", dropbearHome, "--shell", "/bin/sh", "--password", "*",
		"--comment", "nutslave lab Dropbear SFTP flags"}, func(u *user.User) error {
		if u.HomeDir != dropbearHome {
			return fmt.Errorf("lab: account %s has home %s, want %s (the lab mounts each Dropbear's own over it)", name, u.HomeDir, dropbearHome)
		}
		if sh, err := loginShell(name); err != nil {
			return err
		} else if !validShell(sh) {
			return fmt.Errorf("lab: account %s has shell %q, which is not in /etc/shells: Dropbear refuses it", name, sh)
		}
		return nil
	})
}

// loginShell returns name's shell from /etc/passwd.
func loginShell(name string) (string, error) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "", fmt.Errorf("lab: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) == 7 && f[0] == name {
			return f[6], nil
		}
	}
	return "", fmt.Errorf("lab: %s is not in /etc/passwd", name)
}

// validShell reports whether sh is listed in /etc/shells, as Dropbear
// checks with getusershell (an empty shell means /bin/sh).
func validShell(sh string) bool {
	if sh == "" {
		sh = "/bin/sh"
	}
	b, err := os.ReadFile("/etc/shells")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == sh {
			return true
		}
	}
	return false
}

// makeBase picks the directory for home/ and flags/: Dir itself when every
// component of its path is root-owned and not writable by group or others
// (the account must reach FlagDir, and no one else may replace it), else a
// fresh directory under safeBase, linked from Dir/base.
func (d *Dropbear) makeBase() error {
	if err := d.server.makeBase(d.Dir, "dropbear-"); err != nil || !d.removeBase {
		return err
	}
	link := filepath.Join(d.Dir, "base")
	os.Remove(link)
	if err := os.Symlink(d.base, link); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// layout creates home/.ssh (root-owned 0755, as Dropbear demands of the
// directories above authorized_keys), flags/ and flags/acks/.
func (d *Dropbear) layout(acct sftpUser) error {
	d.FlagDir = filepath.Join(d.base, "flags")
	d.AckDir = filepath.Join(d.FlagDir, "acks")
	d.SFTPFlagDir, d.SFTPAckDir = d.FlagDir, d.AckDir
	d.AuthorizedKeysFile = filepath.Join(d.base, "home", ".ssh", "authorized_keys")
	return makeDirs(
		ownedDir{filepath.Join(d.base, "home"), 0, 0, 0o755},
		ownedDir{filepath.Join(d.base, "home", ".ssh"), 0, 0, 0o755},
		ownedDir{d.FlagDir, 0, 0, 0o755},
		ownedDir{d.AckDir, 0, acct.gid, 0o770 | os.ModeSticky},
	)
}

// writeKeys makes the host keys with dropbearkey, the client key and the
// account's authorized_keys.
func (d *Dropbear) writeKeys(opts DropbearOptions) error {
	for _, typ := range opts.HostKeyTypes {
		path := d.hostKeyFile(typ)
		os.Remove(path) // dropbearkey will not overwrite
		if out, err := exec.Command(DropbearkeyPath, "-t", typ, "-f", path).CombinedOutput(); err != nil {
			return fmt.Errorf("lab: dropbearkey -t %s: %v: %s", typ, err, strings.TrimSpace(string(out)))
		}
		pub, err := dropbearPublicKey(path)
		if err != nil {
			return err
		}
		d.HostKeys = append(d.HostKeys, pub)
	}
	return writeClientKey(d.ClientKey, d.KnownHostsFile, opts.KeyOwner, func(authLine []byte) error {
		forced := fmt.Sprintf("%s,command=%q %s", dropbearAuthOptions, SFTPServerPath, authLine)
		return writeFile(d.AuthorizedKeysFile, []byte(forced), 0o644)
	})
}

func (d *Dropbear) hostKeyFile(typ string) string {
	return filepath.Join(d.Dir, "dropbear_"+typ+"_host_key")
}

// dropbearPublicKey reads the public half of a Dropbear private key from
// "dropbearkey -y", which prints it as an authorized_keys line.
func dropbearPublicKey(path string) (ssh.PublicKey, error) {
	out, err := exec.Command(DropbearkeyPath, "-y", "-f", path).Output()
	if err != nil {
		return nil, fmt.Errorf("lab: dropbearkey -y -f %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if pub, _, _, _, err := ssh.ParseAuthorizedKey(sc.Bytes()); err == nil {
			return pub, nil
		}
	}
	return nil, fmt.Errorf("lab: dropbearkey -y -f %s printed no public key: %q", path, out)
}

// argv is Dropbear's command line: in the foreground (-F), logging to
// stderr (-E), no password logins (-s), no root (-w), no port forwarding
// either way (-j -k), no motd (-m), only the account's group (-G), one
// host key file per type (-r, so Dropbear has exactly these keys).
func (d *Dropbear) argv() []string {
	a := []string{DropbearPath, "-F", "-E", "-s", "-w", "-j", "-k", "-m",
		"-G", d.group(), "-p", d.Addr, "-P", filepath.Join(d.Dir, "dropbear.pid")}
	for _, k := range d.HostKeys {
		a = append(a, "-r", d.hostKeyFile(keyFileType(k.Type())))
	}
	return a
}

// group returns the account's primary group name.
func (d *Dropbear) group() string {
	u, err := user.Lookup(d.User)
	if err != nil {
		return d.User
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return d.User
	}
	return g.Name
}

// keyFileType maps a key type to dropbearkey's -t name.
func keyFileType(t string) string {
	switch {
	case t == ssh.KeyAlgoED25519:
		return "ed25519"
	case t == ssh.KeyAlgoRSA:
		return "rsa"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ecdsa"
	}
	return t
}

// start writes known_hosts for d.Addr, starts Dropbear with the instance's
// home mounted over dropbearHome and waits for its banner.
func (d *Dropbear) start(opts DropbearOptions) error {
	if err := writeKnownHosts(d.KnownHostsFile, d.Addr, d.HostKeys...); err != nil {
		return err
	}
	argv := append([]string{"/bin/sh", "-c", `mount --bind "$0" ` + dropbearHome + ` && exec "$@"`,
		filepath.Join(d.base, "home")}, d.argv()...)
	return d.run(d.Addr, d.LogFile, &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}, opts.StartTimeout, argv...)
}

// HostKeyAlgorithms lists the algorithms of Dropbear's host keys, ed25519
// first. A client must offer these first: Dropbear 2022.83 advertises RSA
// without an RSA key and aborts ("Failed assertion (rsa.c:164)") when the
// client picks it, as x/crypto's default order does.
func (d *Dropbear) HostKeyAlgorithms() []string {
	var out []string
	for _, want := range []string{ssh.KeyAlgoED25519, "ecdsa-", ssh.KeyAlgoRSA} {
		for _, k := range d.HostKeys {
			t := k.Type()
			if t != want && !(want == "ecdsa-" && strings.HasPrefix(t, want)) {
				continue
			}
			if t == ssh.KeyAlgoRSA {
				out = append(out, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
				continue
			}
			out = append(out, t)
		}
	}
	return out
}

// ClientConfig returns an ssh.ClientConfig for the account: its key, the
// pinned host keys and their algorithms, a 10 s timeout.
func (d *Dropbear) ClientConfig() (*ssh.ClientConfig, error) {
	return clientConfig(d.User, d.ClientKey, d.KnownHostsFile, d.HostKeyAlgorithms())
}
