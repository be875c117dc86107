package flagger

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/lock"
	"github.com/nutslave/nutslave/internal/master"
)

// StatusSchema is [command.StatusSchema], the version of the JSON status.
const StatusSchema = command.StatusSchema

// Seconds is [command.Seconds]: a duration as a number of seconds in JSON.
type Seconds = command.Seconds

// MasterStatus is what `upsflags status` shows, as text or JSON, and what
// `upsflags metrics` exports. CollectStatus builds it; nothing in it is
// computed again by a printer.
type MasterStatus struct {
	command.StatusHeader
	Source  string        `json:"source"`
	Reading ReadingStatus `json:"reading"`
	State   StateStatus   `json:"state"`
	// DeciderRunning: another upsflags holds the decider lock now.
	DeciderRunning bool   `json:"decider_running"`
	FlagDir        string `json:"flag_dir"`
	// Flags are the files in FLAGDIR, by name.
	Flags []FlagFile `json:"flags"`
	Next  NextRun    `json:"next_run"`
	// Drill is set while a drill flag is present.
	Drill    *DrillStatus    `json:"drill,omitempty"`
	Roster   RosterStatus    `json:"roster"`
	Shutdown *ShutdownStatus `json:"shutdown,omitempty"`
	// Killpower is how the UPS is armed after an outage.
	Killpower KillpowerStatus `json:"killpower"`
}

// KillpowerStatus says how the master arms the UPS at its shutdown
// (KILLPOWER) and whether it is armed now.
type KillpowerStatus struct {
	// Via is "nut" (POWERDOWNFLAG for NUT's nutshutdown), "usb" (the
	// package's hook, upsflags killpower) or "none".
	Via string `json:"via"`
	// Armed: the next halt tells the UPS to cut its load (set after an
	// sdf, cleared by upsflags reset at boot).
	Armed bool `json:"armed"`
	// Note says what stands in the way, e.g. a UPS that cannot be told.
	Note string `json:"note,omitempty"`
}

// ReadingStatus is one reading of the UPS.
type ReadingStatus struct {
	Time time.Time `json:"time"`
	// Took is how long the reading took.
	Took Seconds `json:"took_seconds"`
	OK   bool    `json:"ok"`
	// Error says why there is no reading (OK false).
	Error  string   `json:"error,omitempty"`
	Status []string `json:"status,omitempty"`
	// ChargePercent is battery.charge, when the UPS reports it.
	ChargePercent *float64 `json:"charge_percent,omitempty"`
	// Runtime is battery.runtime, when the UPS reports it.
	Runtime *Seconds `json:"runtime_seconds,omitempty"`
	// OnBattery is the status's OB (set only for a reading).
	OnBattery *bool `json:"on_battery,omitempty"`
}

// reading turns rs back into the reading it was made from.
func (rs ReadingStatus) reading() master.Reading {
	r := master.Reading{Time: rs.Time, Status: rs.Status}
	if !rs.OK {
		r.Err = errors.New(rs.Error)
	}
	if rs.ChargePercent != nil {
		r.Charge, r.HasCharge = *rs.ChargePercent, true
	}
	if rs.Runtime != nil {
		r.Runtime, r.HasRuntime = time.Duration(*rs.Runtime), true
	}
	return r
}

// StateStatus is what upsflags remembers between runs, this boot.
type StateStatus struct {
	// Power is the last known power: online, onbattery or unknown.
	Power      string    `json:"power"`
	PowerSince time.Time `json:"power_since,omitzero"`
	// Phase is normal, committed (sdf written, waiting for the slaves) or
	// done (the master's shutdown ran).
	Phase          string    `json:"phase"`
	LowReadings    int       `json:"low_readings"`
	NoReadingSince time.Time `json:"no_reading_since,omitzero"`
	Reason         string    `json:"reason,omitempty"`
	// SDFTime is when this outage's sdf was written (or found).
	SDFTime time.Time `json:"sdf_time,omitzero"`
}

// FlagFile is one flag file and its modification time.
type FlagFile = command.FlagFile

// NextRun is what a run now would do.
type NextRun struct {
	Note string `json:"note"`
	// Ops are the flag operations and the commitment, in order ("set
	// battsdf", "wait for the slaves, then shut down").
	Ops []string `json:"ops"`
}

// DrillStatus is a drill in progress.
type DrillStatus struct {
	ID      string    `json:"id,omitempty"`
	Started time.Time `json:"started"`
}

// RosterStatus is whom the master waits for and what it knows of each.
type RosterStatus struct {
	AckDir string `json:"ack_dir"`
	// AnyOne: SLAVES and STAGES are empty, any one acknowledgement ends the
	// wait.
	AnyOne bool `json:"any_one"`
	// HostSyncUntil is when the wait ends without every acknowledgement
	// (set with the state's sdf_time).
	HostSyncUntil time.Time `json:"hostsync_until,omitzero"`
	Stale         Seconds   `json:"stale_after_seconds"`
	// Complete: every slave waited for acknowledged this outage's sdf.
	Complete bool `json:"complete"`
	// AckError and HeartbeatError say why ACKDIR could not be read.
	AckError       string        `json:"ack_error,omitempty"`
	HeartbeatError string        `json:"heartbeat_error,omitempty"`
	Slaves         []SlaveStatus `json:"slaves"`
}

// SlaveStatus is one slave: listed in SLAVES or STAGES, or known from an
// acknowledgement or a heartbeat.
type SlaveStatus struct {
	// Name is the slave's NAME; "" for a plain sdfok that stands for no
	// listed slave.
	Name   string `json:"name"`
	Listed bool   `json:"listed"`
	// Acknowledged: an sdfok.<name> (or a plain sdfok standing for it)
	// not older than this outage's sdf, or than its stage's sdf.<name>.
	Acknowledged bool      `json:"acknowledged"`
	AckTime      time.Time `json:"ack_time,omitzero"`
	// AckPlain: the acknowledgement counted is a plain sdfok.
	AckPlain bool `json:"ack_plain,omitempty"`
	// OldAckTime is an acknowledgement from before this outage.
	OldAckTime time.Time `json:"old_ack_time,omitzero"`
	// Stage is the slave's own threshold (STAGES); absent: it follows
	// STDWCHARGE.
	Stage *StageStatus `json:"stage,omitempty"`
	// Verdict is the flag that tells it to go: sdf.<name>, sdf,
	// battsdf.<name> or battsdf; absent: none.
	Verdict     string    `json:"verdict,omitempty"`
	VerdictTime time.Time `json:"verdict_time,omitzero"`
	// Heartbeat is its last seen.<name>; absent: never seen.
	Heartbeat *HeartbeatStatus `json:"heartbeat,omitempty"`
	// Stale: listed, and never seen or not for STALE.
	Stale bool `json:"stale"`
	// Problems counts the problems its last heartbeat reported.
	Problems int `json:"problems"`
	// DrillLatency is how long after the drill flag it answered, during a
	// drill.
	DrillLatency *Seconds `json:"drill_latency_seconds,omitempty"`
	// LastOutage is its way back after the last outage the master shut
	// down for (STATEDIR/upsflags.outage); absent: it did not acknowledge
	// one.
	LastOutage *ReturnStatus `json:"last_outage,omitempty"`
}

// ReturnStatus is a slave's return after an outage: when it acknowledged,
// the wake-ups sent (Wake-on-LAN), and its first heartbeat since.
type ReturnStatus struct {
	AckTime   time.Time `json:"ack_time"`
	WokenTime time.Time `json:"woken_time,omitzero"`
	WakeTries int       `json:"wake_tries,omitempty"`
	BackTime  time.Time `json:"back_time,omitzero"`
	GaveUp    bool      `json:"gave_up,omitempty"`
}

// StageStatus is a staged slave's threshold: a charge or a runtime.
type StageStatus struct {
	ChargePercent *float64 `json:"charge_percent,omitempty"`
	Runtime       *Seconds `json:"runtime_seconds,omitempty"`
}

// threshold renders s as in the roster: "70%" or "runtime<5m0s".
func (s *StageStatus) threshold() string {
	if s.Runtime != nil {
		return master.Stage{Runtime: time.Duration(*s.Runtime)}.Threshold()
	}
	return master.Stage{Charge: *s.ChargePercent}.Threshold()
}

// HeartbeatStatus is a slave's last readiness report (seen.<name>), as the
// slave wrote it: cleaned and capped, never trusted further.
type HeartbeatStatus struct {
	Time time.Time `json:"time"`
	Age  Seconds   `json:"age_seconds"`
	// FromMtime: the report had no usable time=, Time is the file's.
	FromMtime bool   `json:"from_mtime,omitempty"`
	Result    string `json:"result,omitempty"`
	Problems  string `json:"problems,omitempty"`
	Version   string `json:"version,omitempty"`
	Host      string `json:"host,omitempty"`
	// MAC, Iface and Addr are the link it reaches the master through
	// (for Wake-on-LAN); absent: it did not say (loopback, older upsslave).
	MAC   string `json:"mac,omitempty"`
	Iface string `json:"iface,omitempty"`
	Addr  string `json:"addr,omitempty"`
}

// ShutdownStatus is this host's own shutdown in this boot.
type ShutdownStatus = command.ShutdownStatus

// readiness turns s back into what master.Ready said of it.
func (s SlaveStatus) readiness() master.Readiness {
	r := master.Readiness{Name: s.Name, Listed: s.Listed, Stale: s.Stale}
	if h := s.Heartbeat; h != nil {
		r.Seen, r.Age = true, time.Duration(h.Age)
		r.Heartbeat = master.Heartbeat{Name: s.Name, At: h.Time, FromMtime: h.FromMtime,
			Result: h.Result, Problems: h.Problems, Version: h.Version, Host: h.Host}
	}
	return r
}

// CollectStatus reads the UPS, the state, the flags and ACKDIR once; it
// takes no lock and writes nothing. When FLAGDIR or ACKDIR cannot be read
// it returns what it found before, with the error.
func CollectStatus(ctx context.Context, cfg *Config) (*MasterStatus, error) {
	f, err := New(cfg, eventlog.Discard())
	if err != nil {
		return nil, err
	}
	start := time.Now()
	r := f.src.Read(ctx)
	return f.collect(ctx, r, time.Since(start), time.Now())
}

// collect builds the status from reading r (which took took) at now.
func (f *Flagger) collect(ctx context.Context, r master.Reading, took time.Duration, now time.Time) (*MasterStatus, error) {
	cfg := f.cfg
	s := &MasterStatus{
		StatusHeader: command.NewStatusHeader("upsflags", cfg.Version, f.host, now, cfg.Path),
		Source:       f.src.String(),
		Reading:      readingStatus(r, took),
		FlagDir:      cfg.FlagDir,
		Flags:        []FlagFile{},
	}
	st, err := loadState(cfg, f.boot)
	if err != nil {
		return s, err
	}
	s.State = StateStatus{
		Power: st.Power.String(), PowerSince: utc(st.PowerSince), Phase: st.Phase.String(),
		LowReadings: st.LowCount, NoReadingSince: utc(st.NoReadingSince), Reason: st.Reason,
	}
	if l, err := lock.TryLock(lockPath(cfg)); errors.Is(err, lock.ErrHeld) {
		s.DeciderRunning = true
	} else if err == nil {
		l.Unlock()
	}
	if _, err := checkDir("FLAGDIR", cfg.FlagDir, cfg.FlagOwner); err != nil {
		return s, err
	}
	fd, err := flags.OpenDir(cfg.FlagDir)
	if err != nil {
		return s, err
	}
	defer fd.Close()
	infos, err := fd.List(ctx)
	if err != nil {
		return s, err
	}
	for _, in := range infos {
		s.Flags = append(s.Flags, FlagFile{Name: string(in.Name), Time: utc(in.ModTime)})
		if in.Name == flags.Drill {
			body, _ := fd.Get(ctx, flags.Drill)
			fields, _ := flags.Parse(body)
			s.Drill = &DrillStatus{ID: master.Clean(fields["id"], 64), Started: utc(in.ModTime)}
		}
	}
	disk, staged, _, _ := scanFlags(infos)
	next, plan := master.Decide(st, r, disk, now, cfg.decision())
	_, stagePlans := master.DecideStages(next, r, staged, now, cfg.decision())
	s.Next = NextRun{Note: plan.Note, Ops: planOps(plan, stagePlans)}

	sdfAt := st.SDFAt
	if sdfAt.IsZero() && disk.SDF {
		sdfAt = disk.SDFTime
	}
	s.State.SDFTime = utc(sdfAt)
	var acks []flags.Info
	var hbs []master.Heartbeat
	var answers []master.DrillAnswer
	if _, err := checkDir("ACKDIR", cfg.AckDir, cfg.FlagOwner); err != nil {
		s.Roster.AckError = err.Error()
	} else if ad, err := flags.OpenDir(cfg.AckDir); err != nil {
		s.Roster.AckError = err.Error()
	} else {
		acks, err = ad.List(ctx)
		ad.Close()
		if err != nil {
			return s, err
		}
		if hbs, err = readHeartbeats(ctx, cfg); err != nil {
			s.Roster.HeartbeatError = err.Error()
		}
		if s.Drill != nil {
			answers, _ = readDrillAnswers(ctx, cfg)
		}
	}
	s.Roster = collectRoster(cfg, rosterView{acks: acks, sdfAt: sdfAt, st: st, disk: disk, staged: staged, hbs: hbs, now: now}, s.Roster)
	if s.Drill != nil {
		latency := map[string]Seconds{}
		for _, a := range answers {
			if a.ID == s.Drill.ID && s.Drill.ID != "" {
				latency[a.Name] = Seconds(a.At.Sub(s.Drill.Started))
			}
		}
		for i, sl := range s.Roster.Slaves {
			if d, ok := latency[sl.Name]; ok {
				s.Roster.Slaves[i].DrillLatency = &d
			}
		}
	}
	if state, when, ok := f.runner.Status(); ok {
		s.Shutdown = &ShutdownStatus{State: state, Time: utc(when)}
	}
	s.Killpower = f.killpowerStatus()
	return s, nil
}

func utc(t time.Time) time.Time { return command.UTC(t) }

func readingStatus(r master.Reading, took time.Duration) ReadingStatus {
	rs := ReadingStatus{Time: utc(r.Time), Took: Seconds(took), OK: r.OK(), Status: r.Status}
	if !r.OK() {
		rs.Error = r.Err.Error()
		rs.Status = nil
		return rs
	}
	if r.HasCharge {
		c := r.Charge
		rs.ChargePercent = &c
	}
	if r.HasRuntime {
		d := Seconds(r.Runtime)
		rs.Runtime = &d
	}
	ob := r.Power() == master.PowerOnBattery
	rs.OnBattery = &ob
	return rs
}

// rosterView is what the roster is built from.
type rosterView struct {
	acks   []flags.Info
	sdfAt  time.Time
	st     master.State
	disk   master.Disk
	staged map[string]master.StageFlags
	hbs    []master.Heartbeat
	now    time.Time
}

// collectRoster lists every known slave (SLAVES ∪ STAGES ∪ any
// acknowledgement or seen.<name>): acknowledged for this outage's sdf (or
// its own stage's sdf.<name>) or not and when, its stage, the verdict it
// was given and its last heartbeat. rs brings the errors already found.
func collectRoster(cfg *Config, v rosterView, rs RosterStatus) RosterStatus {
	rs.AckDir, rs.Stale, rs.Slaves = cfg.AckDir, Seconds(cfg.Stale), []SlaveStatus{}
	outage, _ := loadOutage(cfg)
	if !v.sdfAt.IsZero() {
		rs.HostSyncUntil = utc(v.sdfAt.Add(cfg.HostSync))
	}
	since := v.sdfAt
	if since.IsZero() {
		// No outage: every acknowledgement present is from an old one.
		since = v.now.Add(24 * 365 * time.Hour)
	}
	stageAt := map[string]time.Time{}
	for n, ss := range v.st.Stages {
		if !ss.SDFAt.IsZero() {
			stageAt[n] = ss.SDFAt
		}
	}
	for n, f := range v.staged {
		if f.SDF && stageAt[n].IsZero() {
			stageAt[n] = f.SDFTime
		}
	}
	ro := master.NewRoster(cfg.Slaves, cfg.Stages, stageAt)
	t := ro.Count(v.acks, since)
	rs.AnyOne, rs.Complete = len(ro.Names) == 0, t.Complete && !v.sdfAt.IsZero()
	acked := map[string]master.Ack{}
	var anon *master.Ack
	for _, a := range t.Acked {
		if a.Slave == "" {
			anon = &a
			continue
		}
		acked[a.Slave] = a
	}
	stale := map[string]master.Ack{}
	for _, a := range t.Stale {
		stale[a.Slave] = a
	}
	stageOf := map[string]master.Stage{}
	for _, sg := range cfg.Stages {
		stageOf[sg.Name] = sg
	}
	ready := master.Ready(ro.Names, v.hbs, v.now, cfg.Stale)
	readyOf := map[string]master.Readiness{}
	for _, r := range ready {
		readyOf[r.Name] = r
	}
	anonFor := ro.Anon
	if anonFor == "" && len(ro.Names) == 1 {
		anonFor = ro.Names[0]
	}
	slave := func(n string, listed bool) SlaveStatus {
		s := SlaveStatus{Name: n, Listed: listed}
		if sg, ok := stageOf[n]; ok && n != "" {
			s.Stage = &StageStatus{}
			if sg.Runtime > 0 {
				d := Seconds(sg.Runtime)
				s.Stage.Runtime = &d
			} else {
				c := sg.Charge
				s.Stage.ChargePercent = &c
			}
		}
		switch f := v.staged[n]; {
		case n != "" && f.SDF:
			s.Verdict, s.VerdictTime = string(flags.StagedSDF(n)), utc(f.SDFTime)
		case v.disk.SDF:
			s.Verdict, s.VerdictTime = string(flags.SDF), utc(v.disk.SDFTime)
		case n != "" && f.BattSDF:
			s.Verdict = string(flags.StagedBattSDF(n))
		case v.disk.BattSDF:
			s.Verdict = string(flags.BattSDF)
		}
		if r, ok := readyOf[n]; ok && n != "" {
			s.Stale = r.Stale
			if r.Seen {
				h := r.Heartbeat
				s.Heartbeat = &HeartbeatStatus{Time: utc(h.At), Age: Seconds(r.Age), FromMtime: h.FromMtime,
					Result: h.Result, Problems: h.Problems, Version: h.Version, Host: h.Host, Iface: h.Iface}
				if h.MAC != nil {
					s.Heartbeat.MAC = h.MAC.String()
				}
				if h.Addr != nil {
					s.Heartbeat.Addr = h.Addr.String()
				}
				s.Problems = problemCount(r)
			}
		}
		if rt, ok := outage.Slaves[n]; ok && n != "" {
			s.LastOutage = &ReturnStatus{AckTime: utc(rt.AckedAt), WokenTime: utc(rt.WokenAt), WakeTries: rt.Tries,
				BackTime: utc(rt.BackAt), GaveUp: rt.GaveUp}
		}
		return s
	}
	ackedSlave := func(a master.Ack, listed bool) SlaveStatus {
		s := slave(a.Slave, listed)
		s.Acknowledged, s.AckTime, s.AckPlain = true, utc(a.At), a.Slave == ""
		return s
	}
	known := map[string]bool{}
	if len(ro.Names) == 0 {
		for _, a := range t.Acked {
			rs.Slaves = append(rs.Slaves, ackedSlave(a, false))
			known[a.Slave] = true
		}
	}
	for _, n := range ro.Names {
		s := slave(n, true)
		switch a, ok := acked[n]; {
		case ok:
			s.Acknowledged, s.AckTime = true, utc(a.At)
		case n == anonFor && anon != nil:
			s.Acknowledged, s.AckTime, s.AckPlain = true, utc(anon.At), true
		default:
			if o, ok := stale[n]; ok {
				s.OldAckTime = utc(o.At)
			}
		}
		rs.Slaves = append(rs.Slaves, s)
		known[n] = true
	}
	for _, a := range t.Unlisted {
		rs.Slaves = append(rs.Slaves, ackedSlave(a, false))
		known[a.Slave] = true
	}
	for _, r := range ready {
		if !known[r.Name] {
			rs.Slaves = append(rs.Slaves, slave(r.Name, false))
		}
	}
	return rs
}

// problemCount counts the problems a heartbeat reported: its "error: …;
// warning: …" items, or one for a result other than ok without a list.
func problemCount(r master.Readiness) int {
	if !r.Problem() {
		return 0
	}
	n := 0
	for _, p := range strings.Split(r.Heartbeat.Problems, ";") {
		if strings.TrimSpace(p) != "" {
			n++
		}
	}
	return max(n, 1)
}
