package slave

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/notify"
)

// Remote is the master as a watcher sees it.
type Remote interface {
	// Look reads the master's flags once. The attempt says how it went
	// (reached, busy, unreachable) and, when reached, what the flags say
	// for this slave; the error, if any, is for the log.
	Look(ctx context.Context) (notify.Attempt, error)
	// Acknowledge writes this slave's sdfok.<NAME> with body.
	Acknowledge(ctx context.Context, body []byte) error
	// Retry makes the next Look a fresh attempt to connect, at once,
	// whatever the back-off says.
	Retry()
	// Close ends the connection, if any.
	Close() error
}

// Reach classifies a Look's error: nil is Reached, sftpstore.ErrBusy is
// Busy (the master alive and busy), anything else Unreachable.
func Reach(err error) notify.Reach {
	switch {
	case err == nil:
		return notify.Reached
	case errors.Is(err, sftpstore.ErrBusy):
		return notify.Busy
	}
	return notify.Unreachable
}

// SFTP is the master over one SSH/SFTP connection (an sftpstore.Session,
// which reconnects with back-off). A waiting slave LSTATs the flag
// directory each Look and reads it only when it may have changed
// (listing.go). Flags not owned by FLAGOWNER are ignored; a drill flag is
// answered as it is found.
type SFTP struct {
	opts Options
	log  *eventlog.Logger
	cfg  func() sftpstore.Config
	sess *sftpstore.Session
	// last is the last full reading of the flag directory.
	last listing
	// warnedOwner avoids repeating the foreign-owner warning every poll.
	warnedOwner map[flags.Name]bool
}

// NewSFTP returns the master reached with the SSH settings cfg returns; it
// is called once, on the first Look or Acknowledge, so that a missing key
// costs nothing to an event that only logs.
func NewSFTP(opts Options, log *eventlog.Logger, cfg func() sftpstore.Config) *SFTP {
	return &SFTP{opts: opts, log: log, cfg: cfg, warnedOwner: map[flags.Name]bool{}}
}

func (r *SFTP) session() *sftpstore.Session {
	if r.sess == nil {
		r.sess = sftpstore.NewSession(r.cfg())
	}
	return r.sess
}

// Retry implements Remote.
func (r *SFTP) Retry() { r.session().Retry() }

// Close implements Remote.
func (r *SFTP) Close() error {
	if r.sess == nil {
		return nil
	}
	err := r.sess.Close()
	r.sess = nil
	return err
}

// broken drops the connection after an error that may have come from it;
// a missing or forbidden file is the master's answer, not a broken link.
func (r *SFTP) broken(err error) error {
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		r.sess.Broken()
	}
	return err
}

// Look implements Remote: an LSTAT of the flag directory, and a full
// reading of it when it may have changed.
func (r *SFTP) Look(ctx context.Context) (notify.Attempt, error) {
	c, err := r.session().Client(ctx)
	if err != nil {
		return notify.Attempt{Reach: Reach(err)}, err
	}
	pctx, cancel := context.WithTimeout(ctx, r.opts.ConnectTimeout)
	defer cancel()
	store := sftpstore.New(c, r.opts.FlagDir)
	mark, err := store.DirMark(pctx)
	if err != nil {
		err = r.broken(err)
		return notify.Attempt{Reach: Reach(err)}, err
	}
	if now := time.Now(); !r.last.due(now, mark, r.sess.Connects) {
		return notify.Attempt{Reach: notify.Reached, Seen: r.last.seen, Onl: r.last.onl}, nil
	}
	infos, err := store.List(pctx)
	if err != nil {
		err = r.broken(err)
		return notify.Attempt{Reach: Reach(err)}, err
	}
	rd := read(infos, r.opts.Name, r.opts.FlagOwner)
	for _, in := range rd.foreign {
		if !r.warnedOwner[in.Name] {
			r.warnedOwner[in.Name] = true
			r.log.Warn("ignoring a flag not owned by FLAGOWNER: someone other than the master wrote it", "flag", in.Name, "uid", in.UID, "want", r.opts.FlagOwner)
		}
	}
	if rd.drill != nil {
		AnswerDrill(pctx, r.log, r.opts, c, *rd.drill)
	}
	r.last.record(time.Now(), mark, r.sess.Connects, rd.seen, rd.onl)
	return notify.Attempt{Reach: notify.Reached, Seen: rd.seen, Onl: rd.onl}, nil
}

// Acknowledge implements Remote: sdfok.<NAME> in ACKDIR.
func (r *SFTP) Acknowledge(ctx context.Context, body []byte) error {
	c, err := r.session().Client(ctx)
	if err != nil {
		return err
	}
	if err := sftpstore.New(c, r.opts.AckDir).Set(ctx, flags.Ack(r.opts.Name), body); err != nil {
		return r.broken(err)
	}
	return nil
}

// AnswerDrill goes through the shutdown handshake for a drill the master
// asked for: it acknowledges with drillok.<NAME> and logs what it would
// do. It never runs SHUTDOWNCMD, and a drill is never an sdf. Each drill
// (told apart by its id) is answered once.
func AnswerDrill(ctx context.Context, log *eventlog.Logger, opts Options, c *sftp.Client, in flags.Info) {
	if in.HasOwner && in.UID != opts.FlagOwner {
		return // not from the master: ignore, as for any flag
	}
	store := sftpstore.New(c, opts.FlagDir)
	body, _ := store.Get(ctx, flags.Drill)
	fields, _ := flags.Parse(body)
	id := fields["id"]
	if id == "" {
		id = in.ModTime.UTC().Format(time.RFC3339)
	}
	marker := filepath.Join(opts.StateDir, "drill.answered")
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == id {
		return
	}
	start := time.Now()
	log.Warn("drill: the master asks for a shutdown drill; nothing will be powered off", "drill", id)
	ack := flags.Stamp(start, opts.Name,
		flags.Field{Key: "drill", Value: id},
		flags.Field{Key: "version", Value: opts.Version},
		flags.Field{Key: "would_run", Value: strings.Join(opts.ShutdownCmd, " ")},
		flags.Field{Key: "uid", Value: fmt.Sprint(os.Geteuid())})
	if err := sftpstore.New(c, opts.AckDir).Set(ctx, flags.DrillAck(opts.Name), ack); err != nil {
		log.Error("drill: could not acknowledge", "drill", id, "err", err)
		return
	}
	os.WriteFile(marker, []byte(id+"\n"), 0o640)
	log.Crit("drill: would shut down now", "drill", id, "cmd", fmt.Sprintf("%q", opts.ShutdownCmd), "handshake", time.Since(start).Round(time.Millisecond))
}
