package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/nutslave/nutslave/internal/lab"
)

// Options configure Start. Zero durations take the defaults in brackets.
type Options struct {
	// Dir holds everything: NUT, sshd, the master, one directory per slave.
	Dir string
	// Bin are the programs under test.
	Bin Binaries
	// StandIn forces the stand-in master even when upsflags is built.
	StandIn bool
	// MasterCron, a cron.d file, starts upsflags as its every-minute line
	// does on a master without systemd, instead of "upsflags watch".
	MasterCron string
	// Slaves are the slaves' NAMEs (default slave1 slave2). Each gets its
	// own secondary upsmon, STATEDIR, LOGFILE and shutdown recorder.
	Slaves []string
	// NoUpsmon starts no upsmon at all (the scenario delivers events
	// itself); NoPrimary starts no primary upsmon.
	NoUpsmon, NoPrimary bool
	// StdwCharge is the master's STDWCHARGE [50]; Debounce its DEBOUNCE [2].
	StdwCharge, Debounce int
	// MasterPoll [500ms], HostSync [15s] and MasterDeadTime [10s] are the
	// master's POLL, HOSTSYNC and DEADTIME.
	MasterPoll, HostSync, MasterDeadTime time.Duration
	// SlavePoll [250ms], SlaveDeadTime [4s], SDFWait [10s] and
	// ConnectTimeout [1s] go into every upsslave.conf.
	SlavePoll, SlaveDeadTime, SDFWait, ConnectTimeout time.Duration
	// UpsmonPrimaryHostSync is the primary upsmon's HOSTSYNC [5s].
	UpsmonPrimaryHostSync time.Duration
	// SlaveUser is RUN_AS_USER of the slaves' upsmons, the account that
	// runs upsslave as NOTIFYCMD (as Debian's packages use "nut"); it then
	// owns the SSH key, STATEDIR and LOGFILE and can read upsslave.conf.
	// upsmon's SHUTDOWNCMD ("upsslave shutdown") runs as root whatever it
	// is. Default root.
	SlaveUser string
	// SlaveWrap is put before every upsslave command line (e.g. "ip netns
	// exec NS"); SlaveMaster and SlaveKnownHosts, when set, replace the
	// address the slaves dial and their known_hosts file.
	SlaveWrap                    []string
	SlaveMaster, SlaveKnownHosts string
	// SlaveConf are extra lines for every upsslave.conf.
	SlaveConf []string
	// MasterSSH is the master's SSH server: MasterOpenSSH (default) or
	// MasterDropbear.
	MasterSSH string
	// Logf, when set, receives progress lines.
	Logf func(format string, args ...any)
}

func (o *Options) defaults() {
	if len(o.Slaves) == 0 {
		o.Slaves = []string{"slave1", "slave2"}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.StdwCharge == 0 {
		o.StdwCharge = 50
	}
	if o.Debounce == 0 {
		o.Debounce = 2
	}
	def(&o.MasterPoll, 500*time.Millisecond)
	def(&o.HostSync, 15*time.Second)
	def(&o.MasterDeadTime, 10*time.Second)
	def(&o.SlavePoll, 250*time.Millisecond)
	def(&o.SlaveDeadTime, 4*time.Second)
	def(&o.SDFWait, 10*time.Second)
	def(&o.ConnectTimeout, time.Second)
	def(&o.UpsmonPrimaryHostSync, 5*time.Second)
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// A Slave is one slave host: its upsslave configuration, state, log and
// shutdown recorder, and the secondary upsmon that runs upsslave.
type Slave struct {
	Name string
	// Dir holds upsslave.conf, state/, upsslave.log, shutdown.log and
	// upsmon/.
	Dir, ConfFile, StateDir, LogFile, ShutdownLog string
	// Upsmon is the slave's secondary upsmon; nil with NoUpsmon.
	Upsmon *lab.Upsmon
}

// Shutdowns returns the recorded calls of the slave's shutdown command.
func (s *Slave) Shutdowns() []Record {
	r, _ := ReadRecords(s.ShutdownLog)
	return r
}

// Log returns the slave's upsslave log.
func (s *Slave) Log() string {
	b, _ := os.ReadFile(s.LogFile)
	return string(b)
}

// A Cluster is one UPS with its NUT, the master's sshd and master program,
// a primary upsmon and the slaves.
type Cluster struct {
	Opts Options
	NUT  *lab.NUT
	// SSH is the master's SSH server, whichever it is; SSHD is set when it
	// is OpenSSH, Dropbear when it is Dropbear.
	SSH      MasterSSH
	SSHD     *lab.SSHD
	Dropbear *lab.Dropbear
	Master   Master
	Primary  *lab.Upsmon
	Slaves   []*Slave
	// Recorder is the shutdown recorder script.
	Recorder string
	// Start is when the cluster was up.
	Start time.Time

	mu     sync.Mutex
	events []Event
	extra  []*proc
	tail   *tailer
}

// Start brings a cluster up under opts.Dir: dummy-ups and upsd (UPS on
// line, charge 100), sshd with the flag account, the master, the slaves'
// secondary upsmons and the primary upsmon. On error everything started is
// stopped.
func Start(opts Options) (c *Cluster, err error) {
	opts.defaults()
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c = &Cluster{Opts: opts}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if c.Recorder, err = writeRecorder(dir); err != nil {
		return nil, err
	}
	opts.Logf("starting dummy-ups and upsd")
	c.NUT, err = lab.StartNUT(filepath.Join(dir, "nut"), lab.NUTOptions{
		Vars: map[string]string{"ups.status": "OL", "battery.charge": "100", "battery.runtime": "1800"},
	})
	if err != nil {
		return nil, err
	}
	c.event("ups", "OL, charge 100 (dummy-ups)")
	if err := c.startMasterSSH(); err != nil {
		return nil, err
	}
	if err := c.startMaster(); err != nil {
		return nil, err
	}
	for _, name := range opts.Slaves {
		s, err := c.newSlave(name)
		if err != nil {
			return nil, err
		}
		c.Slaves = append(c.Slaves, s)
	}
	logs := []string{c.Master.LogFile()}
	for _, s := range c.Slaves {
		logs = append(logs, s.LogFile)
	}
	c.tail = startTailer(logs...)
	if !opts.NoUpsmon {
		for _, s := range c.Slaves {
			opts.Logf("starting %s's secondary upsmon", s.Name)
			if err := c.startSlaveUpsmon(s); err != nil {
				return nil, err
			}
		}
		if !opts.NoPrimary {
			if err := c.startPrimary(); err != nil {
				return nil, err
			}
		}
		// upsmon polls every 5 s until it first sees OL or OB: give every
		// upsmon its first status before the outage starts.
		time.Sleep(firstPoll)
	}
	c.Start = time.Now()
	return c, nil
}

// firstPoll is how long an upsmon may take to see its first status.
const firstPoll = 5500 * time.Millisecond

func (c *Cluster) masterConfig() masterConfig {
	return masterConfig{
		dir:        filepath.Join(c.Opts.Dir, "master"),
		source:     c.NUT.URL(),
		upsdAddr:   c.NUT.Addr,
		ups:        c.NUT.UPS,
		flagDir:    c.SSH.FlagDir,
		ackDir:     c.SSH.AckDir,
		slaves:     c.Opts.Slaves,
		stdwCharge: c.Opts.StdwCharge,
		debounce:   c.Opts.Debounce,
		cron:       c.Opts.MasterCron,
		hostSync:   c.Opts.HostSync,
		poll:       c.Opts.MasterPoll,
		deadTime:   c.Opts.MasterDeadTime,
		recorder:   c.Recorder,
	}
}

func (c *Cluster) startMaster() error {
	mc := c.masterConfig()
	if err := os.MkdirAll(mc.dir, 0o755); err != nil {
		return err
	}
	if c.Opts.Bin.Upsflags != "" && !c.Opts.StandIn {
		c.Opts.Logf("starting the master: upsflags watch")
		m, err := startUpsflags(c.Opts.Bin.Upsflags, mc)
		if err != nil {
			return err
		}
		c.Master = m
		return nil
	}
	c.Opts.Logf("starting the master: stand-in (upsflags not used)")
	m, err := startStandIn(mc)
	if err != nil {
		return err
	}
	c.Master = m
	return nil
}

func (c *Cluster) startPrimary() error {
	c.Opts.Logf("starting the master's primary upsmon")
	mdir := filepath.Join(c.Opts.Dir, "master")
	opts := lab.UpsmonOptions{
		HostSync:    c.Opts.UpsmonPrimaryHostSync,
		ShutdownCmd: c.Recorder + " " + filepath.Join(mdir, "upsmon-shutdown.log") + " upsmon-primary",
	}
	if m, ok := c.Master.(*UpsflagsMaster); ok {
		opts.NotifyCmd = c.Opts.Bin.Upsflags
		opts.Env = []string{"UPSFLAGS_CONF=" + m.ConfFile()}
	}
	u, err := c.NUT.StartUpsmon(filepath.Join(mdir, "upsmon"), opts)
	if err != nil {
		return err
	}
	c.Primary = u
	return nil
}

// newSlave writes a slave's directory and upsslave.conf.
func (c *Cluster) newSlave(name string) (*Slave, error) {
	d := filepath.Join(c.Opts.Dir, name)
	s := &Slave{
		Name:        name,
		Dir:         d,
		ConfFile:    filepath.Join(d, "upsslave.conf"),
		StateDir:    filepath.Join(d, "state"),
		LogFile:     filepath.Join(d, "upsslave.log"),
		ShutdownLog: filepath.Join(d, "shutdown.log"),
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(s.StateDir, 0o750); err != nil {
		return nil, err
	}
	master := c.SSH.User + "@" + c.SSH.Addr
	if c.Opts.SlaveMaster != "" {
		master = c.SSH.User + "@" + c.Opts.SlaveMaster
	}
	kh := c.SSH.KnownHostsFile
	if c.Opts.SlaveKnownHosts != "" {
		kh = c.Opts.SlaveKnownHosts
	}
	o := c.Opts
	conf := []string{
		"# written by nutslave's internal/e2e",
		"MASTER=" + master,
		"IDENTITY=" + c.SSH.ClientKey,
		"KNOWN_HOSTS=" + kh,
		"FLAGDIR=" + c.SSH.SFTPFlagDir,
		"ACKDIR=" + c.SSH.SFTPAckDir,
		"FLAGOWNER=0",
		"NAME=" + name,
		"POLL=" + o.SlavePoll.String(),
		"SDFWAIT=" + o.SDFWait.String(),
		"DEADTIME=" + o.SlaveDeadTime.String(),
		"CONNECT_TIMEOUT=" + o.ConnectTimeout.String(),
		fmt.Sprintf("SHUTDOWNCMD=%q", c.Recorder+" "+s.ShutdownLog+" "+name),
		"LOGFILE=" + s.LogFile,
		"STATEDIR=" + s.StateDir,
	}
	conf = append(conf, o.SlaveConf...)
	if err := os.WriteFile(s.ConfFile, []byte(strings.Join(conf, "\n")+"\n"), 0o640); err != nil {
		return nil, err
	}
	if err := c.ownBySlaveUser(s.ConfFile, false); err != nil {
		return nil, err
	}
	for _, f := range []string{s.LogFile, s.ShutdownLog} {
		if err := os.WriteFile(f, nil, 0o640); err != nil {
			return nil, err
		}
	}
	for _, p := range []string{s.StateDir, s.LogFile, s.ShutdownLog} {
		if err := c.ownBySlaveUser(p, true); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// ownBySlaveUser gives path to SlaveUser (user too, or only the group).
func (c *Cluster) ownBySlaveUser(path string, userToo bool) error {
	if c.Opts.SlaveUser == "" || c.Opts.SlaveUser == "root" {
		return nil
	}
	u, err := user.Lookup(c.Opts.SlaveUser)
	if err != nil {
		return fmt.Errorf("SlaveUser: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if !userToo {
		uid = 0
	}
	return os.Chown(path, uid, gid)
}

// WriteSlaveConf writes a copy of s's upsslave.conf to path with MASTER
// (user@host:port of the flag account) and KNOWN_HOSTS replaced: the same
// slave reaching the master by another address. It is owned like the
// original.
func (c *Cluster) WriteSlaveConf(s *Slave, path, masterAddr, knownHosts string) error {
	b, err := os.ReadFile(s.ConfFile)
	if err != nil {
		return err
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "MASTER="):
			lines[i] = "MASTER=" + c.SSH.User + "@" + masterAddr
		case strings.HasPrefix(l, "KNOWN_HOSTS="):
			lines[i] = "KNOWN_HOSTS=" + knownHosts
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o640); err != nil {
		return err
	}
	return c.ownBySlaveUser(path, false)
}

// SlaveCommand is the command line that runs upsslave for s, with the
// scenario's wrapper in front.
func (c *Cluster) SlaveCommand(args ...string) []string {
	return append(append(append([]string{}, c.Opts.SlaveWrap...), c.Opts.Bin.Upsslave), args...)
}

func (c *Cluster) startSlaveUpsmon(s *Slave) error {
	u, err := c.NUT.StartUpsmon(filepath.Join(s.Dir, "upsmon"), lab.UpsmonOptions{
		Secondary:   true,
		NotifyCmd:   strings.Join(c.SlaveCommand(), " "),
		ShutdownCmd: strings.Join(c.SlaveCommand("shutdown"), " "),
		Env:         []string{"UPSSLAVE_CONF=" + s.ConfFile},
		RunAsUser:   c.Opts.SlaveUser,
	})
	if err != nil {
		return err
	}
	s.Upsmon = u
	return nil
}

// Slave returns the slave called name, or nil.
func (c *Cluster) Slave(name string) *Slave {
	for _, s := range c.Slaves {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Set changes the dummy UPS (and waits until upsd serves the change), and
// notes it in the timeline.
func (c *Cluster) Set(vars map[string]string) error {
	if err := c.NUT.Set(vars); err != nil {
		return err
	}
	var parts []string
	if s, ok := vars["ups.status"]; ok {
		parts = append(parts, s)
	}
	if ch, ok := vars["battery.charge"]; ok {
		parts = append(parts, "charge "+ch)
	}
	c.event("ups", strings.Join(parts, ", "))
	return nil
}

// Note adds a line to the timeline (for what the scenario does, such as
// stopping sshd).
func (c *Cluster) Note(text string) { c.event("scenario", text) }

// NoteAs adds a line to the timeline in the name of src (a host, "ups").
func (c *Cluster) NoteAs(src, text string) { c.event(src, text) }

func (c *Cluster) event(src, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, Event{Time: time.Now(), Source: src, Text: text})
}

// AckTime returns when slave's sdfok.<name> was written, and whether it
// exists.
func (c *Cluster) AckTime(name string) (time.Time, bool) {
	fi, err := os.Stat(filepath.Join(c.SSH.AckDir, "sdfok."+name))
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// FlagTime returns when the master's flag name was written, and whether it
// exists.
func (c *Cluster) FlagTime(name string) (time.Time, bool) {
	fi, err := os.Stat(filepath.Join(c.SSH.FlagDir, name))
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// MasterShutdowns returns the recorded calls of the master's shutdown
// command.
func (c *Cluster) MasterShutdowns() []Record {
	r, _ := ReadRecords(c.Master.ShutdownLog())
	return r
}

// PrimaryUpsmonShutdowns returns the recorded calls of the primary upsmon's
// own SHUTDOWNCMD (NUT's path, separate from the master program's).
func (c *Cluster) PrimaryUpsmonShutdowns() []Record {
	r, _ := ReadRecords(filepath.Join(c.Opts.Dir, "master", "upsmon-shutdown.log"))
	return r
}

// WriteKnownHosts writes a known_hosts file that pins the master's host key
// for addr (host:port), for slaves that dial the master at another address.
func (c *Cluster) WriteKnownHosts(path, addr string) error {
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, c.SSH.HostKey) + "\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		return err
	}
	return c.ownBySlaveUser(path, true)
}

// StartSSHDProc starts one more sshd from the flag account's sshd_config,
// with extra arguments (such as "-o", "ListenAddress=..."), prefixed by
// wrap (such as "ip netns exec NS"). It is stopped with the cluster or by
// the returned function. OpenSSH only (Opts.MasterSSH MasterOpenSSH).
func (c *Cluster) StartSSHDProc(logName string, wrap []string, extra ...string) (stop func() error, err error) {
	argv := append(append([]string{}, wrap...), lab.SSHDPath, "-D", "-e", "-f", c.SSHD.ConfigFile)
	argv = append(argv, extra...)
	p, err := startProc("sshd", filepath.Join(c.SSHD.Dir, logName), nil, argv...)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.extra = append(c.extra, p)
	c.mu.Unlock()
	return p.stop, nil
}

// Stop stops everything the cluster started: upsmons first (and their
// notification commands), then the master, sshd and NUT. The directory and
// its logs stay.
func (c *Cluster) Stop() error {
	var errs []error
	for _, s := range c.Slaves {
		if s.Upsmon != nil {
			errs = append(errs, s.Upsmon.Stop())
		}
	}
	if c.Primary != nil {
		errs = append(errs, c.Primary.Stop())
	}
	if c.Master != nil {
		errs = append(errs, c.Master.Stop())
	}
	c.mu.Lock()
	extra := c.extra
	c.extra = nil
	c.mu.Unlock()
	for _, p := range extra {
		errs = append(errs, p.stop())
	}
	c.tail.close()
	if c.SSHD != nil {
		errs = append(errs, c.SSHD.Stop())
	}
	if c.Dropbear != nil {
		errs = append(errs, c.Dropbear.Stop())
	}
	if c.NUT != nil {
		errs = append(errs, c.NUT.Stop())
	}
	return errors.Join(errs...)
}
