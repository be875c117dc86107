package slave

import (
	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/eventlog"
)

// Options maps upsslave.conf onto the engine's settings.
func (cfg *Config) Options() Options {
	return Options{
		Name:             cfg.Name,
		FlagDir:          cfg.FlagDir,
		AckDir:           cfg.AckDir,
		FlagOwner:        cfg.FlagOwner,
		Poll:             cfg.Poll,
		SDFWait:          cfg.SDFWait,
		DeadTime:         cfg.DeadTime,
		ConnectTimeout:   cfg.ConnectTimeout,
		ShutdownCmd:      cfg.ShutdownCmd,
		DryRun:           cfg.DryRun,
		StateDir:         cfg.StateDir,
		NoParentShutdown: cfg.OnNoParent == "shutdown",
		Version:          cfg.Version,
	}
}

// Open builds the engine for cfg: the master over SFTP (connected
// on first use), the state in STATEDIR, the shutdown command.
func Open(cfg *Config, log *eventlog.Logger) *Watcher {
	opts := cfg.Options()
	master := func(user, addr string) Remote {
		return NewSFTP(opts, log, func() sftpstore.Config {
			signer, err := sftpstore.LoadSigner(cfg.Identity)
			if err != nil {
				log.Error("cannot load the ssh identity; the master cannot be reached, only the fail-safe clocks apply", "err", err)
			}
			c := sshConfig(cfg, signer)
			c.User, c.Addr = user, addr
			return c
		})
	}
	w := New(opts, log, master(cfg.MasterUser, cfg.MasterAddr))
	if len(cfg.Masters) == 0 {
		return w // one master, one supply: as always
	}
	w.remoteFor = func(ups string) Remote { return master(cfg.MasterFor(ups)) }
	if path := cfg.upsmonConfPath(); path != "" {
		u, err := readUpsmonConf(path)
		if err != nil {
			log.Warn("cannot read upsmon.conf's MONITOR lines: every verdict shuts this host down", "err", err)
		}
		w.supplies = u.Supplies
	}
	return w
}
