package flagger

import (
	"context"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/master"
	"github.com/nutslave/nutslave/internal/metrics"
)

// Metrics turns the status into Prometheus gauges (docs/status-json.md
// lists them): the UPS, the flags, the master's phase and each slave.
// Charges are ratios from 0 to 1, durations seconds, times seconds since
// the Unix epoch; a value the status does not have is left out.
func (s *MasterStatus) Metrics() *metrics.Set {
	m := &metrics.Set{}
	m.Gauge("nutslave_info", "Always 1: the program and version that wrote these metrics, and its UPS source.", 1,
		"program", s.Program, "version", s.Version, "source", s.Source)
	m.Gauge("nutslave_status_timestamp_seconds", "When these metrics were collected, in seconds since the Unix epoch.", metrics.Timestamp(s.Time))
	m.Gauge("nutslave_ups_reading_ok", "1 when the UPS could be read, 0 when there was no reading.", metrics.Bool(s.Reading.OK))
	if s.Reading.OnBattery != nil {
		m.Gauge("nutslave_ups_on_battery", "1 when the UPS status says OB (on battery), else 0.", metrics.Bool(*s.Reading.OnBattery))
	}
	if c := s.Reading.ChargePercent; c != nil {
		m.Gauge("nutslave_ups_battery_charge_ratio", "battery.charge as a ratio from 0 to 1.", *c/100)
	}
	if r := s.Reading.Runtime; r != nil {
		m.Gauge("nutslave_ups_battery_runtime_seconds", "battery.runtime: the runtime left on battery, in seconds.", time.Duration(*r).Seconds())
	}
	present := map[string]bool{}
	for _, f := range s.Flags {
		present[f.Name] = true
	}
	for _, n := range []flags.Name{flags.Onl, flags.BattSDF, flags.SDF, flags.Drill} {
		m.Gauge("nutslave_flag_present", "1 when the flag file is present in FLAGDIR, else 0.", metrics.Bool(present[string(n)]), "flag", string(n))
	}
	for _, p := range []master.Phase{master.PhaseNormal, master.PhaseCommitted, master.PhaseDone} {
		m.Gauge("nutslave_master_phase", "1 for the master's current phase: normal, committed (sdf written, waiting for the slaves) or done (its shutdown ran).",
			metrics.Bool(s.State.Phase == p.String()), "phase", p.String())
	}
	m.Gauge("nutslave_master_shutdown_started", "1 when the master's own shutdown command was started in this boot.", metrics.Bool(s.Shutdown != nil))
	m.Gauge("nutslave_roster_complete", "1 when every slave waited for acknowledged this outage's sdf; 0 without sdf.", metrics.Bool(s.Roster.Complete))
	for _, sl := range s.Roster.Slaves {
		if sl.Name == "" {
			continue // a plain sdfok standing for no listed slave
		}
		l := []string{"slave", sl.Name}
		m.Gauge("nutslave_slave_listed", "1 when the slave is in SLAVES or STAGES (the master waits for it), 0 when known only from its files.", metrics.Bool(sl.Listed), l...)
		m.Gauge("nutslave_slave_acknowledged", "1 when the slave acknowledged this outage's sdf (sdfok.NAME), else 0.", metrics.Bool(sl.Acknowledged), l...)
		m.Gauge("nutslave_slave_ordered_down", "1 when a flag tells the slave to shut down (sdf or its stage's sdf.NAME), else 0.",
			metrics.Bool(sl.Verdict == string(flags.SDF) || sl.Verdict == string(flags.StagedSDF(sl.Name))), l...)
		if st := sl.Stage; st != nil && st.ChargePercent != nil {
			m.Gauge("nutslave_slave_stage_charge_ratio", "The staged slave's own charge threshold (STAGES NAME:PERCENT) as a ratio from 0 to 1.", *st.ChargePercent/100, l...)
		}
		if st := sl.Stage; st != nil && st.Runtime != nil {
			m.Gauge("nutslave_slave_stage_runtime_seconds", "The staged slave's own runtime threshold (STAGES NAME:RUNTIME) in seconds.", time.Duration(*st.Runtime).Seconds(), l...)
		}
		if h := sl.Heartbeat; h != nil {
			m.Gauge("nutslave_slave_heartbeat_timestamp_seconds", "When the slave's last heartbeat (seen.NAME) was written, in seconds since the Unix epoch.", metrics.Timestamp(h.Time), l...)
			m.Gauge("nutslave_slave_heartbeat_age_seconds", "How old the slave's last heartbeat was when these metrics were collected, in seconds.", time.Duration(h.Age).Seconds(), l...)
		}
		m.Gauge("nutslave_slave_stale", "1 when a listed slave was never seen or not for STALE, else 0.", metrics.Bool(sl.Stale), l...)
		m.Gauge("nutslave_slave_problems", "How many problems the slave's last heartbeat reported.", float64(sl.Problems), l...)
		if d := sl.DrillLatency; d != nil {
			m.Gauge("nutslave_slave_drill_latency_seconds", "During a drill: how long after the drill flag the slave answered, in seconds.", time.Duration(*d).Seconds(), l...)
		}
	}
	return m
}

// WriteMetrics collects the status and writes it to path as a Prometheus
// textfile (`upsflags metrics`).
func WriteMetrics(ctx context.Context, cfg *Config, path string) error {
	s, err := CollectStatus(ctx, cfg)
	if err != nil {
		return err
	}
	return s.Metrics().WriteFile(path)
}

// remembering is a Source that keeps its last reading, so that the
// metrics written after a run show the run's own reading instead of
// reading the UPS again.
type remembering struct {
	Source
	last master.Reading
	took time.Duration
}

func (r *remembering) Read(ctx context.Context) master.Reading {
	start := time.Now()
	r.last = r.Source.Read(ctx)
	r.took = time.Since(start)
	return r.last
}

// writeMetrics writes METRICS after a run, from the run's reading; a run
// that read nothing (another upsflags was deciding) or was stopped writes
// nothing. A failure is logged and changes nothing else.
func (f *Flagger) writeMetrics(ctx context.Context) {
	rem, ok := f.src.(*remembering)
	if f.cfg.Metrics == "" || !ok || rem.last.Time.IsZero() || ctx.Err() != nil {
		return
	}
	r := rem.last
	rem.last = master.Reading{}
	s, err := f.collect(ctx, r, rem.took, time.Now())
	if err == nil {
		err = s.Metrics().WriteFile(f.cfg.Metrics)
	}
	if err != nil {
		f.log.Warn("cannot write METRICS; the run is not affected", "file", f.cfg.Metrics, "err", err)
	}
}
