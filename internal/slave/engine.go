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
	remote := NewSFTP(opts, log, func() sftpstore.Config {
		signer, err := sftpstore.LoadSigner(cfg.Identity)
		if err != nil {
			log.Error("cannot load the ssh identity; the master cannot be reached, only the fail-safe clocks apply", "err", err)
		}
		return sshConfig(cfg, signer)
	})
	return New(opts, log, remote)
}
