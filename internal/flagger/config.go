package flagger

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/conf"
	"github.com/nutslave/nutslave/internal/master"
)

// Config is upsflags.conf: what the master engine needs.
type Config struct {
	Path string

	Source    string // auto, nut://..., usb, usb://..., file:/path
	UPS       string // for SOURCE=auto: which UPS upsd serves
	FlagDir   string
	AckDir    string
	SSHUser   string
	FlagOwner uint32
	Slaves    []string
	// Stages are the slaves with their own thresholds (STAGES=).
	Stages []master.Stage
	// Stale: a roster member whose last heartbeat is older is stale.
	Stale time.Duration

	StdwCharge  float64
	StdwRuntime time.Duration
	MaxOnBatt   time.Duration
	Debounce    int
	HostSync    time.Duration
	DeadTime    time.Duration
	Poll        time.Duration

	ShutdownCmd []string
	LogFile     string
	StateDir    string
	Trigger     string
	DryRun      bool
	// Next is the NOTIFYCMD upsmon ran before (NOTIFYCMD_NEXT): it gets
	// every event too.
	Next command.Chain
	// Metrics is where each run writes a Prometheus textfile; "" is off.
	Metrics string
	// RestoreMinCharge (percent) and WakeFor: after an outage, the slaves
	// that acknowledged it are woken (Wake-on-LAN) once the UPS is on line
	// with at least this charge, until each is seen or WakeFor passed.
	RestoreMinCharge float64
	WakeFor          time.Duration
	// Killpower (KILLPOWER=auto|yes|no): arm the UPS at the master's
	// shutdown by writing upsmon.conf's POWERDOWNFLAG (killpower.go);
	// auto does when the UPS is read through NUT.
	Killpower string
	// OffDelay and OnDelay (OFFDELAY, ONDELAY): with SOURCE=usb, the UPS
	// cuts its load OffDelay after the shutdown hook's command and restores
	// it once the mains is back and OnDelay has passed; 0 takes the
	// device's default (usbtool.DefaultDelays).
	OffDelay, OnDelay time.Duration
	// PoweroffWait (POWEROFF_WAIT=auto|0|DURATION): when the UPS reports
	// line power at the hook (the power race), how long to wait for it to
	// cut the load before rebooting instead; negative is auto
	// (master.AutoPoweroffWait), 0 never reboots.
	PoweroffWait time.Duration
	// RebootCmd is that reboot (REBOOTCMD).
	RebootCmd []string
	// UpsmonConf is the master's upsmon.conf (UPSMON_CONF; default
	// $UPSMON_CONF, then Debian's, then RHEL's path).
	UpsmonConf string

	// Version is the program's, written into the flags for people (not
	// from the file).
	Version string

	lines map[string]int // key -> line, for validation errors
}

func defaultConfig(path string) *Config {
	return &Config{
		Path:             path,
		Source:           "auto",
		FlagDir:          "/srv/nutslave/flags",
		SSHUser:          "nutslave",
		StdwCharge:       50,
		RestoreMinCharge: 30,
		WakeFor:          time.Hour,
		Killpower:        "auto",
		PoweroffWait:     -1,
		RebootCmd:        []string{"/usr/bin/systemctl", "reboot", "--force", "--force"},
		Debounce:         2,
		HostSync:         120 * time.Second,
		DeadTime:         30 * time.Second,
		Poll:             2 * time.Second,
		Stale:            5 * time.Minute,
		ShutdownCmd:      []string{"/sbin/shutdown", "-h", "+0"},
		LogFile:          "/var/log/nutslave/upsflags.log",
		StateDir:         "/var/lib/nutslave",
		Trigger:          "/run/nutslave/upsflags.trigger",
	}
}

// decision returns the thresholds for internal/master.
func (c *Config) decision() master.Config {
	return master.Config{
		StdwCharge:  c.StdwCharge,
		StdwRuntime: c.StdwRuntime,
		MaxOnBatt:   c.MaxOnBatt,
		Debounce:    c.Debounce,
		Spacing:     c.Poll / 2,
		DeadTime:    c.DeadTime,
		Stages:      c.Stages,
	}
}

// roster is whom the master waits for: SLAVES ∪ STAGES.
func (c *Config) roster() []string { return master.RosterNames(c.Slaves, c.Stages) }

// SetVersion records the program's version (command.Config).
func (c *Config) SetVersion(v string) { c.Version = v }

// LoadConfig reads and validates the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	c := defaultConfig(path)
	abs, dur := conf.AbsPath, conf.Duration
	keys := map[string]conf.Setter{
		"SOURCE": func(v string) error {
			if _, err := parseSource(v, ""); err != nil {
				return err
			}
			c.Source = v
			return nil
		},
		"UPS": func(v string) error {
			if v != "" {
				if _, _, err := parseNUTName(v); err != nil {
					return err
				}
			}
			c.UPS = v
			return nil
		},
		"SSHUSER":     func(v string) error { c.SSHUser = v; return validUser(v) },
		"FLAGOWNER":   conf.UID(&c.FlagOwner),
		"SLAVES":      func(v string) (err error) { c.Slaves, err = master.ParseSlaves(v); return err },
		"STAGES":      func(v string) (err error) { c.Stages, err = master.ParseStages(v); return err },
		"STALE":       dur(&c.Stale),
		"STDWCHARGE":  percent(&c.StdwCharge),
		"STDWRUNTIME": conf.OptionalDuration(&c.StdwRuntime),
		"MAXONBATT":   conf.OptionalDuration(&c.MaxOnBatt),
		"DEBOUNCE": func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return fmt.Errorf("%q: want a count from 1 to 100, e.g. 2", v)
			}
			c.Debounce = n
			return nil
		},
		"HOSTSYNC":          dur(&c.HostSync),
		"DEADTIME":          dur(&c.DeadTime),
		"POLL":              dur(&c.Poll),
		"SHUTDOWNCMD":       requiredCommand(&c.ShutdownCmd),
		"TRIGGER":           abs(&c.Trigger),
		"METRICS":           conf.OptionalPath(&c.Metrics),
		"RESTORE_MINCHARGE": percent(&c.RestoreMinCharge),
		"WAKE_FOR":          conf.OptionalDuration(&c.WakeFor),
		"KILLPOWER":         func(v string) error { c.Killpower = v; return validKillpower(v) },
		"UPSMON_CONF":       abs(&c.UpsmonConf),
		"OFFDELAY":          upsDelay(&c.OffDelay),
		"ONDELAY":           upsDelay(&c.OnDelay),
		"POWEROFF_WAIT":     poweroffWait(&c.PoweroffWait),
		"REBOOTCMD":         requiredCommand(&c.RebootCmd),
	}
	common := command.Common{FlagDir: &c.FlagDir, AckDir: &c.AckDir, LogFile: &c.LogFile, StateDir: &c.StateDir,
		DryRun: &c.DryRun, Next: &c.Next, Lines: &c.lines}
	if err := command.LoadConfig(path, keys, common, c.Validate); err != nil {
		return nil, err
	}
	return c, nil
}

// requiredCommand is a Setter for a command that cannot be left empty.
func requiredCommand(p *[]string) conf.Setter {
	return func(v string) (err error) {
		*p, err = conf.SplitCommand(v)
		if err == nil && len(*p) == 0 {
			err = errors.New("empty command")
		}
		return err
	}
}

// upsDelay is a Setter for OFFDELAY and ONDELAY: a duration up to a week
// ("0" takes the device's default); the protocol's own ranges are checked
// when the command is made (usbtool).
func upsDelay(p *time.Duration) conf.Setter {
	return func(v string) error {
		d, err := conf.ParseDuration(v)
		if err != nil || d > 7*24*time.Hour {
			return fmt.Errorf("%q: want a duration such as 20s or 3m (0: the UPS's default)", v)
		}
		*p = d
		return nil
	}
}

// poweroffWait is the Setter for POWEROFF_WAIT: auto, 0 or off (never reboot) or
// a duration up to master.MaxPoweroffWait.
func poweroffWait(p *time.Duration) conf.Setter {
	return func(v string) error {
		switch v {
		case "auto":
			*p = -1
			return nil
		case "off":
			*p = 0
			return nil
		}
		d, err := conf.ParseDuration(v)
		if err != nil || d > master.MaxPoweroffWait {
			return fmt.Errorf("%q: want auto, 0 or off (never reboot) or a duration up to %v (systemd-shutdown kills its hooks after 90 s)", v, master.MaxPoweroffWait)
		}
		*p = d
		return nil
	}
}

// percent is a Setter for a percentage from 0 to 100 ("50" or "50%").
func percent(p *float64) conf.Setter {
	return func(v string) error {
		n, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil || n < 0 || n > 100 {
			return fmt.Errorf("%q: want a percentage from 0 to 100, e.g. 50", v)
		}
		*p = n
		return nil
	}
}

func validUser(v string) error {
	if v == "" || len(v) > 32 || strings.ContainsAny(v, " :/\t") {
		return fmt.Errorf("%q is not a user name", v)
	}
	return nil
}

// Validate checks the configuration as a whole.
func (c *Config) Validate() error {
	v := conf.Validator{Path: c.Path, Lines: c.lines}
	if err := cmp.Or(v.Poll(c.Poll, time.Minute, c.DeadTime), v.Positive("HOSTSYNC", c.HostSync), v.Positive("STALE", c.Stale)); err != nil {
		return err
	}
	if c.FlagDir == "/" || c.AckDir == "/" {
		return v.Bad("FLAGDIR", fmt.Errorf("%w: / cannot be a flag directory", conf.ErrBadValue))
	}
	return nil
}
