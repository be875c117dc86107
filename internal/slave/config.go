package slave

import (
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

// LoadConfig reads and validates the configuration file at path.
func LoadConfig(path string) (_ *Config, err error) {
	c := defaultConfig(path)
	ackSet := false
	abs, dur := conf.AbsPath, conf.Duration
	keys := map[string]conf.Setter{
		"MASTER":                 c.setMaster,
		"IDENTITY":               abs(&c.Identity),
		"KNOWN_HOSTS":            abs(&c.KnownHosts),
		"FLAGDIR":                abs(&c.FlagDir),
		"ACKDIR":                 func(v string) error { ackSet = true; return abs(&c.AckDir)(v) },
		"FLAGOWNER":              conf.UID(&c.FlagOwner),
		"NAME":                   func(v string) error { c.Name = v; return flags.ValidSlaveName(v) },
		"POLL":                   dur(&c.Poll),
		"SDFWAIT":                dur(&c.SDFWait),
		"DEADTIME":               dur(&c.DeadTime),
		"CONNECT_TIMEOUT":        dur(&c.ConnectTimeout),
		"SHUTDOWNCMD":            conf.Command(&c.ShutdownCmd),
		"LOGFILE":                conf.OptionalPath(&c.LogFile),
		"STATEDIR":               abs(&c.StateDir),
		"DRYRUN":                 func(v string) (err error) { c.DryRun, err = conf.ParseBool(v); return err },
		"NOTIFYCMD_NEXT":         conf.Command(&c.Next.Argv),
		"NOTIFYCMD_NEXT_TIMEOUT": dur(&c.Next.Timeout),
		"ON_NOPARENT": func(v string) error {
			if v != "shutdown" && v != "log" {
				return fmt.Errorf("%q: want shutdown or log", v)
			}
			c.OnNoParent = v
			return nil
		},
	}
	if c.lines, err = command.ApplyConfig(path, keys); err != nil {
		return nil, err
	}
	if !ackSet {
		c.AckDir = c.FlagDir + "/acks"
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// setMaster parses MASTER=user@host[:port].
func (c *Config) setMaster(v string) error {
	user, hostport, ok := strings.Cut(v, "@")
	if !ok || user == "" || hostport == "" {
		return fmt.Errorf("%q: want user@host[:port], e.g. nutslave@192.168.2.5", v)
	}
	host, port := hostport, "22"
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	} else if strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]") {
		host = hostport[1 : len(hostport)-1]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: bad port %q", v, port)
	}
	if host == "" {
		return fmt.Errorf("%q: empty host", v)
	}
	c.MasterUser, c.MasterAddr = user, net.JoinHostPort(host, port)
	return nil
}

// Validate checks the configuration as a whole.
func (c *Config) Validate() error {
	bad := func(key string, err error) error {
		return &conf.Error{Path: c.Path, Line: c.lines[key], Key: key, Err: err}
	}
	if c.MasterAddr == "" {
		return bad("MASTER", fmt.Errorf("%w: set MASTER=user@host[:port]", conf.ErrMissing))
	}
	if c.Name == "" {
		return bad("NAME", fmt.Errorf("%w: the host name is empty; set NAME", conf.ErrMissing))
	}
	if err := flags.ValidSlaveName(c.Name); err != nil {
		return bad("NAME", fmt.Errorf("%w: host name %q cannot name a slave; set NAME", conf.ErrBadValue, c.Name))
	}
	if c.Poll < 10*time.Millisecond || c.Poll > 30*time.Second {
		return bad("POLL", fmt.Errorf("%w: %v, want between 10ms and 30s", conf.ErrBadValue, c.Poll))
	}
	if c.DeadTime < 2*c.Poll {
		return bad("DEADTIME", fmt.Errorf("%w: %v must be at least twice POLL (%v)", conf.ErrBadValue, c.DeadTime, c.Poll))
	}
	if c.SDFWait <= 0 {
		return bad("SDFWAIT", fmt.Errorf("%w: must be positive", conf.ErrBadValue))
	}
	if c.ConnectTimeout <= 0 {
		return bad("CONNECT_TIMEOUT", fmt.Errorf("%w: must be positive", conf.ErrBadValue))
	}
	return nil
}
