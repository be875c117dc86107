package slave

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/lock"
)

// StatusReport is what `upsslave status` shows, as text or as JSON (schema
// [command.StatusSchema], docs/status-json.md). CollectStatus builds it.
type StatusReport struct {
	command.StatusHeader
	// Name is this slave's NAME; Master the master's account, user@host:port.
	Name   string `json:"name"`
	Master string `json:"master"`
	// UPS is the remembered state of each UPS seen since boot.
	UPS      []UPSStatus     `json:"ups"`
	Shutdown *ShutdownStatus `json:"shutdown,omitempty"`
	// MasterDirs are FLAGDIR and ACKDIR as read over SFTP; absent with
	// --local or when the master could not be read (MasterError says why).
	MasterDirs  []MasterDir `json:"master_dirs,omitempty"`
	MasterError string      `json:"master_error,omitempty"`
}

// UPSStatus is what upsslave remembers about one UPS in this boot.
type UPSStatus struct {
	// Name is the UPSNAME upsmon gave; "" when it gave none.
	Name       string    `json:"name"`
	Power      string    `json:"power"`
	PowerSince time.Time `json:"power_since,omitzero"`
	// Job is what upsslave is doing about it: none, watch, waitsdf, ...
	Job       string    `json:"job"`
	JobSince  time.Time `json:"job_since,omitzero"`
	WaitSince time.Time `json:"wait_since,omitzero"`
	LastEvent string    `json:"last_event,omitempty"`
	// LastEventTime is when the last event came.
	LastEventTime time.Time `json:"last_event_time,omitzero"`
	// Watcher: a watcher for this UPS is running now.
	Watcher          bool      `json:"watcher"`
	UnreachableSince time.Time `json:"unreachable_since,omitzero"`
	// AckTime is when this slave wrote its sdfok.<NAME>.
	AckTime time.Time `json:"ack_time,omitzero"`
	Reason  string    `json:"reason,omitempty"`
	// CondemnedTime is when a verdict on this UPS condemned it as one of
	// several supplies (MASTERS, MINSUPPLIES); absent while it powers.
	CondemnedTime time.Time `json:"condemned_time,omitzero"`
	// Master is this UPS's master (MASTERS), when not the default.
	Master string `json:"master,omitempty"`
}

// ShutdownStatus is this host's own shutdown in this boot.
type ShutdownStatus = command.ShutdownStatus

// MasterDir is one of the master's directories as read over SFTP.
type MasterDir struct {
	Dir   string     `json:"dir"`
	Files []FlagFile `json:"files"`
}

// FlagFile is one flag file and its modification time.
type FlagFile = command.FlagFile

// CollectStatus reads the remembered state and, when remote, lists the
// master's FLAGDIR and ACKDIR over SFTP. When the master cannot be read
// it returns the report with MasterError set, and the error.
func CollectStatus(ctx context.Context, cfg *Config, remote bool) (*StatusReport, error) {
	eng := Open(cfg, eventlog.Discard())
	store := eng.store
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	r := &StatusReport{
		StatusHeader: command.NewStatusHeader("upsslave", cfg.Version, host, time.Now(), cfg.Path),
		Name:         cfg.Name,
		Master:       cfg.MasterUser + "@" + cfg.MasterAddr, UPS: []UPSStatus{},
	}
	for _, u := range store.Known() {
		st, err := store.Load(u)
		if err != nil {
			return nil, err
		}
		us := UPSStatus{
			Name: u, Power: st.Power.String(), PowerSince: command.UTC(st.PowerSince),
			Job: st.Job.String(), JobSince: command.UTC(st.JobSince), WaitSince: command.UTC(st.WaitSince),
			LastEvent: string(st.LastEvent), LastEventTime: command.UTC(st.LastEventAt),
			UnreachableSince: command.UTC(st.UnreachableSince), AckTime: command.UTC(st.Acked), Reason: st.Reason,
			CondemnedTime: command.UTC(st.Condemned),
		}
		if user, addr := cfg.MasterFor(u); addr != cfg.MasterAddr || user != cfg.MasterUser {
			us.Master = user + "@" + addr
		}
		if l, err := lock.TryLock(store.LockFile(u, "watch")); errors.Is(err, lock.ErrHeld) {
			us.Watcher = true
		} else if err == nil {
			l.Unlock()
		}
		r.UPS = append(r.UPS, us)
	}
	if state, when, ok := eng.runner.Status(); ok {
		r.Shutdown = &ShutdownStatus{State: state, Time: command.UTC(when)}
	}
	if !remote {
		return r, nil
	}
	dirs, err := listMaster(ctx, cfg)
	r.MasterDirs = dirs
	if err != nil {
		r.MasterError = err.Error()
		return r, err
	}
	return r, nil
}

// listMaster reads FLAGDIR and ACKDIR over one SFTP connection.
func listMaster(ctx context.Context, cfg *Config) ([]MasterDir, error) {
	signer, err := sftpstore.LoadSigner(cfg.Identity)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*cfg.ConnectTimeout)
	defer cancel()
	conn, err := sftpstore.Dial(cctx, sshConfig(cfg, signer))
	if err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	defer conn.Close()
	var out []MasterDir
	for _, dir := range uniq(cfg.FlagDir, cfg.AckDir) {
		infos, err := sftpstore.New(conn.SFTP, dir).List(cctx)
		if err != nil {
			return out, fmt.Errorf("master %s: %w", dir, err)
		}
		md := MasterDir{Dir: dir, Files: []FlagFile{}}
		for _, in := range infos {
			md.Files = append(md.Files, FlagFile{Name: string(in.Name), Time: command.UTC(in.ModTime)})
		}
		out = append(out, md)
	}
	return out, nil
}

// Status prints what CollectStatus finds, as text or, with asJSON, as one
// JSON document. A master that cannot be read is an error after the rest
// is printed (in the JSON as master_error).
func Status(ctx context.Context, cfg *Config, remote, asJSON bool, w io.Writer) error {
	r, err := CollectStatus(ctx, cfg, remote)
	if r == nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(r); jerr != nil {
			return jerr
		}
		return err
	}
	r.WriteText(w)
	return err
}

// WriteText writes r for people.
func (r *StatusReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "slave %s, master %s\n", r.Name, r.Master)
	if len(r.UPS) == 0 {
		fmt.Fprintln(w, "no events seen since boot")
	}
	for _, u := range r.UPS {
		watcher := "no"
		if u.Watcher {
			watcher = "yes"
		}
		fmt.Fprintf(w, "ups %s: power=%s job=%s since=%s last_event=%s at %s watcher=%s\n",
			orDash(u.Name), u.Power, u.Job, stamp(u.JobSince), orDash(u.LastEvent), stamp(u.LastEventTime), watcher)
		if !u.UnreachableSince.IsZero() {
			fmt.Fprintf(w, "  master unreachable since %s\n", stamp(u.UnreachableSince))
		}
		if !u.AckTime.IsZero() {
			fmt.Fprintf(w, "  acknowledged at %s\n", stamp(u.AckTime))
		}
		if u.Master != "" {
			fmt.Fprintf(w, "  master %s\n", u.Master)
		}
		if !u.CondemnedTime.IsZero() {
			fmt.Fprintf(w, "  supply condemned at %s (this host runs on its other supplies)\n", stamp(u.CondemnedTime))
		}
	}
	if r.Shutdown != nil {
		fmt.Fprintf(w, "shutdown: %s at %s\n", r.Shutdown.State, stamp(r.Shutdown.Time))
	}
	for _, d := range r.MasterDirs {
		fmt.Fprintf(w, "master %s:", d.Dir)
		if len(d.Files) == 0 {
			fmt.Fprint(w, " (empty)")
		}
		for _, f := range d.Files {
			fmt.Fprintf(w, " %s(%s)", f.Name, stamp(f.Time))
		}
		fmt.Fprintln(w)
	}
}
