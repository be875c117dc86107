package slave

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/conf"
)

// Config is upsslave.conf.
type Config struct {
	Path string

	MasterUser string
	MasterAddr string // host:port
	// Masters are the masters of the UPSes that feed this host, by
	// upsmon's UPS name (MASTERS=); a UPS not listed has MASTER.
	Masters []UPSMaster
	// UpsmonConf is upsmon.conf, read for its MONITOR lines and
	// MINSUPPLIES (UPSMON_CONF=; default $UPSMON_CONF, then Debian's,
	// then RHEL's path).
	UpsmonConf string
	Identity   string
	KnownHosts string
	FlagDir    string // as seen over SFTP
	AckDir     string
	FlagOwner  uint32
	Name       string

	Poll           time.Duration
	SDFWait        time.Duration
	DeadTime       time.Duration
	ConnectTimeout time.Duration

	ShutdownCmd []string
	LogFile     string
	StateDir    string
	DryRun      bool
	// OnNoParent is "shutdown" or "log".
	OnNoParent string
	// Next is the NOTIFYCMD upsmon ran before (NOTIFYCMD_NEXT): it gets
	// every event too.
	Next command.Chain

	// Version is the program's, written into the acknowledgements for
	// people (not from the file).
	Version string

	lines map[string]int // key -> line, for validation errors
}

func defaultConfig(path string) *Config {
	dir := filepath.Dir(path)
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	return &Config{
		Path:           path,
		Identity:       filepath.Join(dir, "upsslave.key"),
		KnownHosts:     filepath.Join(dir, "upsslave.known_hosts"),
		FlagDir:        "/flags",
		Name:           host,
		Poll:           250 * time.Millisecond,
		SDFWait:        60 * time.Second,
		DeadTime:       60 * time.Second,
		ConnectTimeout: 5 * time.Second,
		ShutdownCmd:    []string{"/sbin/shutdown", "-h", "+0"},
		LogFile:        "/var/log/nutslave/upsslave.log",
		StateDir:       "/var/lib/nutslave",
		OnNoParent:     "shutdown",
	}
}

// SetVersion records the program's version (command.Config).
func (c *Config) SetVersion(v string) { c.Version = v }

// LoadConfig reads and validates the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	c := defaultConfig(path)
	abs, dur := conf.AbsPath, conf.Duration
	keys := map[string]conf.Setter{
		"MASTER":          c.setMaster,
		"MASTERS":         c.setMasters,
		"UPSMON_CONF":     abs(&c.UpsmonConf),
		"IDENTITY":        abs(&c.Identity),
		"KNOWN_HOSTS":     abs(&c.KnownHosts),
		"FLAGOWNER":       conf.UID(&c.FlagOwner),
		"NAME":            func(v string) error { c.Name = v; return flags.ValidSlaveName(v) },
		"POLL":            dur(&c.Poll),
		"SDFWAIT":         dur(&c.SDFWait),
		"DEADTIME":        dur(&c.DeadTime),
		"CONNECT_TIMEOUT": dur(&c.ConnectTimeout),
		"SHUTDOWNCMD":     conf.Command(&c.ShutdownCmd),
		"ON_NOPARENT": func(v string) error {
			if v != "shutdown" && v != "log" {
				return fmt.Errorf("%q: want shutdown or log", v)
			}
			c.OnNoParent = v
			return nil
		},
	}
	common := command.Common{FlagDir: &c.FlagDir, AckDir: &c.AckDir, LogFile: &c.LogFile, StateDir: &c.StateDir,
		DryRun: &c.DryRun, Next: &c.Next, Lines: &c.lines}
	if err := command.LoadConfig(path, keys, common, c.Validate); err != nil {
		return nil, err
	}
	return c, nil
}

// UPSMaster is one entry of MASTERS: the master that holds a UPS.
type UPSMaster struct {
	UPS  string // upsmon's name for it, as in MONITOR: ups@host[:port]
	User string
	Addr string // host:port
}

// MasterFor returns the master of ups: its MASTERS entry, else MASTER.
func (c *Config) MasterFor(ups string) (user, addr string) {
	for _, m := range c.Masters {
		if m.UPS == ups {
			return m.User, m.Addr
		}
	}
	return c.MasterUser, c.MasterAddr
}

// setMasters parses MASTERS="ups@hostA=user@hostA[:port] ups@hostB=…".
func (c *Config) setMasters(v string) error {
	c.Masters = nil
	for _, f := range strings.Fields(v) {
		ups, master, ok := strings.Cut(f, "=")
		if !ok || ups == "" || !strings.Contains(ups, "@") {
			return fmt.Errorf("%q: want UPS=user@host pairs, the UPS as in upsmon.conf's MONITOR line, e.g. ups1@192.168.2.5=nutslave@192.168.2.5", f)
		}
		user, addr, err := parseMaster(master)
		if err != nil {
			return err
		}
		for _, m := range c.Masters {
			if m.UPS == ups {
				return fmt.Errorf("%s is listed twice", ups)
			}
		}
		c.Masters = append(c.Masters, UPSMaster{UPS: ups, User: user, Addr: addr})
	}
	return nil
}

// setMaster parses MASTER=user@host[:port].
func (c *Config) setMaster(v string) error {
	user, addr, err := parseMaster(v)
	if err != nil {
		return err
	}
	c.MasterUser, c.MasterAddr = user, addr
	return nil
}

// parseMaster parses user@host[:port] (port 22 by default).
func parseMaster(v string) (user, addr string, err error) {
	user, hostport, ok := strings.Cut(v, "@")
	if !ok || user == "" || hostport == "" {
		return "", "", fmt.Errorf("%q: want user@host[:port], e.g. nutslave@192.168.2.5", v)
	}
	host, port := hostport, "22"
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%q: bad port %q", v, port)
	}
	if host == "" {
		return "", "", fmt.Errorf("%q: empty host", v)
	}
	return user, net.JoinHostPort(host, port), nil
}

// Validate checks the configuration as a whole.
func (c *Config) Validate() error {
	v := conf.Validator{Path: c.Path, Lines: c.lines}
	if c.MasterAddr == "" && len(c.Masters) == 0 {
		return v.Bad("MASTER", fmt.Errorf("%w: set MASTER=user@host[:port]", conf.ErrMissing))
	}
	if c.MasterAddr == "" {
		// With MASTERS alone, the first is the default (host events,
		// trust, check).
		c.MasterUser, c.MasterAddr = c.Masters[0].User, c.Masters[0].Addr
	}
	if c.Name == "" {
		return v.Bad("NAME", fmt.Errorf("%w: the host name is empty; set NAME", conf.ErrMissing))
	}
	if err := flags.ValidSlaveName(c.Name); err != nil {
		return v.Bad("NAME", fmt.Errorf("%w: host name %q cannot name a slave; set NAME", conf.ErrBadValue, c.Name))
	}
	return cmp.Or(v.Poll(c.Poll, 30*time.Second, c.DeadTime), v.Positive("SDFWAIT", c.SDFWait), v.Positive("CONNECT_TIMEOUT", c.ConnectTimeout))
}
