package e2e

import (
	"fmt"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/nutslave/nutslave/internal/lab"
)

// The master's SSH servers a cluster can run (Options.MasterSSH).
const (
	// MasterOpenSSH is Debian's OpenSSH sshd with the packaged SFTP-only,
	// chrooted nutslave account (lab.StartSSHD); the default.
	MasterOpenSSH = "openssh"
	// MasterDropbear is Dropbear with an ed25519-only host key and an
	// account whose key is forced to sftp-server (lab.StartDropbear), as on
	// small masters (OpenWrt, Raspberry Pi images). There is no chroot:
	// the slaves' FLAGDIR and ACKDIR are the master's own paths.
	MasterDropbear = "dropbear"
)

// MasterSSH is what the master program, the slaves and the scenarios need
// of the master's SSH server, whichever it is.
type MasterSSH struct {
	// Kind is MasterOpenSSH or MasterDropbear.
	Kind string
	// Addr is "127.0.0.1:<port>"; User the flag account; ClientKey its
	// private key; KnownHostsFile pins the server's host keys for Addr.
	Addr, User, ClientKey, KnownHostsFile string
	// FlagDir and AckDir are host paths (the master program's FLAGDIR and
	// ACKDIR); SFTPFlagDir and SFTPAckDir the same directories as the
	// account sees them (the slaves' FLAGDIR and ACKDIR).
	FlagDir, AckDir, SFTPFlagDir, SFTPAckDir string
	// HostKey is the server's (first) host key.
	HostKey ssh.PublicKey
	// Dir holds the server's keys and logs; LogFile is its log.
	Dir, LogFile string
}

// startMasterSSH starts the server Opts.MasterSSH names and fills c.SSH
// (and c.SSHD or c.Dropbear).
func (c *Cluster) startMasterSSH() error {
	switch c.Opts.MasterSSH {
	case "", MasterOpenSSH:
		c.Opts.Logf("starting sshd (SFTP-only flag account)")
		s, err := lab.StartSSHD(filepath.Join(c.Opts.Dir, "sshd"), lab.SSHDOptions{LogLevel: "VERBOSE", KeyOwner: c.Opts.SlaveUser})
		if err != nil {
			return err
		}
		c.SSHD = s
		c.SSH = MasterSSH{Kind: MasterOpenSSH, Addr: s.Addr, User: s.User, ClientKey: s.ClientKey,
			KnownHostsFile: s.KnownHostsFile, FlagDir: s.FlagDir, AckDir: s.AckDir,
			SFTPFlagDir: s.SFTPFlagDir, SFTPAckDir: s.SFTPAckDir, HostKey: s.HostKey,
			Dir: s.Dir, LogFile: s.LogFile}
	case MasterDropbear:
		c.Opts.Logf("starting dropbear (ed25519-only host key, key forced to sftp-server)")
		d, err := lab.StartDropbear(filepath.Join(c.Opts.Dir, "dropbear"), lab.DropbearOptions{KeyOwner: c.Opts.SlaveUser})
		if err != nil {
			return err
		}
		c.Dropbear = d
		c.SSH = MasterSSH{Kind: MasterDropbear, Addr: d.Addr, User: d.User, ClientKey: d.ClientKey,
			KnownHostsFile: d.KnownHostsFile, FlagDir: d.FlagDir, AckDir: d.AckDir,
			SFTPFlagDir: d.SFTPFlagDir, SFTPAckDir: d.SFTPAckDir, HostKey: d.HostKeys[0],
			Dir: d.Dir, LogFile: d.LogFile}
	default:
		return fmt.Errorf("MasterSSH %q: want %q or %q", c.Opts.MasterSSH, MasterOpenSSH, MasterDropbear)
	}
	return nil
}
