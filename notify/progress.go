package notify

import "time"

// Progress is what upsslave keeps about one UPS between invocations and
// polls: the power as upsmon last said, the job, and the clocks the timing
// rules read. Every change to it is made here, by [Progress.Event] and
// [Progress.Poll]: pure functions of the progress, what happened and the
// time.
type Progress struct {
	Power      Power     `json:"power"`
	PowerSince time.Time `json:"power_since,omitzero"`
	Job        Job       `json:"job"`
	JobSince   time.Time `json:"job_since,omitzero"`
	// WaitSince is when the wait for sdf began (JobWaitSDF and later).
	WaitSince time.Time `json:"wait_since,omitzero"`
	// UnreachableSince is the first failed attempt of the current run of
	// failures; zero while the master answers.
	UnreachableSince time.Time `json:"unreachable_since,omitzero"`
	// OnlBaseline is the onl flag as this job last saw it (OnlNews).
	OnlBaseline string `json:"onl_baseline,omitempty"`
	// Reason says why a shutdown was decided.
	Reason string `json:"reason,omitempty"`
}

// State is the part of p the event table and Step decide on.
func (p Progress) State() State { return State{Power: p.Power, Job: p.Job} }

// Event applies a NOTIFYTYPE at now: the decision table (OnEvent), the
// power's clock, and the job's clocks.
func (p Progress) Event(ev Event, now time.Time, pol Policy) (Progress, Plan) {
	plan := OnEvent(ev, p.State(), pol)
	if plan.State.Power != p.Power {
		p.Power, p.PowerSince = plan.State.Power, now
	}
	p.setJob(plan.State.Job, now)
	return p, plan
}

// setJob changes the job. Leaving or entering JobNone starts a fresh view
// of the master: a new job neither inherits the last one's unreachability
// nor its onl baseline nor its SDFWAIT clock. The SDFWAIT clock starts on
// the first job that waits for sdf and keeps running as the job escalates.
func (p *Progress) setJob(job Job, now time.Time) {
	if job == p.Job {
		return
	}
	if p.Job == JobNone || job == JobNone {
		p.OnlBaseline, p.UnreachableSince, p.WaitSince = "", time.Time{}, time.Time{}
	}
	p.Job, p.JobSince = job, now
	if job >= JobWaitSDF && job != JobDone && p.WaitSince.IsZero() {
		p.WaitSince = now
	}
}

// Reach is how one attempt to read the master's flags went.
type Reach uint8

const (
	// Reached: the flags were read.
	Reached Reach = iota
	// Busy: the master answered and did not finish (sshd past
	// MaxStartups closing before its banner, a late SFTP start). Alive:
	// never a step towards the fail-safe.
	Busy
	// Unreachable: no connection, or it died.
	Unreachable
)

// Attempt is one poll of the master: how it went and, when the flags were
// read, what they said.
type Attempt struct {
	Reach Reach
	// Seen holds the verdict flags (SDF, BattSDF) when Reach is Reached;
	// Poll sets Onl and OnlPresent from Onl.
	Seen Seen
	Onl  Onl
}

// Poll applies one attempt at now: the unreachability clock, the onl
// flag's novelty, the verdict (Step) and the job's clocks. lastChance
// says the fail-safe's last fresh attempt has been made: without it a
// fail-safe verdict becomes RetryNow, one more attempt at once, so the
// host never goes down for a master that has just come back.
func (p Progress) Poll(a Attempt, now time.Time, t Timing, lastChance bool) (Progress, Verdict) {
	seen := a.Seen
	seen.Reached = a.Reach == Reached
	switch {
	case seen.Reached:
		p.UnreachableSince = time.Time{}
		var onBattSince time.Time
		if p.Power == PowerBattery {
			onBattSince = p.PowerSince
		}
		seen.Onl, p.OnlBaseline = OnlNews(p.OnlBaseline, a.Onl, onBattSince)
		seen.OnlPresent = a.Onl.Present
	case a.Reach == Busy:
		// Alive: the clock neither starts nor stops.
	case p.UnreachableSince.IsZero():
		p.UnreachableSince = now
	}
	v := Step(p.State(), Watch{WaitSince: p.WaitSince, UnreachableSince: p.UnreachableSince}, seen, now, t)
	v.Why = FlagReason(seen)
	if v.Action == ShutdownNow && v.FailSafe && !lastChance {
		v.Action = RetryNow
		return p, v
	}
	p.setJob(v.Job, now)
	if v.Action == ShutdownNow {
		p.Reason = v.Reason
	}
	return p, v
}

// FlagReason names the flag a poll's verdict rests on, for the log.
func FlagReason(seen Seen) string {
	switch {
	case seen.SDF:
		return "sdf"
	case seen.BattSDF:
		return "battsdf"
	case seen.Onl:
		return "onl"
	}
	return "clock"
}
