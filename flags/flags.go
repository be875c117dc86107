// Package flags implements nutslave's flag-file protocol: the files the
// master writes to tell its slaves what to do (onl, battsdf, sdf) and the
// acknowledgements the slaves write back (sdfok.<name>).
//
// Presence is the signal. A flag's body is a few key=value lines for people
// (time=, host=, reason=, ...); readers accept an empty body, as the original
// script used touch. Writes are atomic: a dot-named temporary file in the
// same directory, fsync, rename. Readers ignore dot-files.
package flags

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// A Name is the file name of a flag inside FLAGDIR or ACKDIR.
type Name string

// The master's flags, in FLAGDIR.
const (
	// Onl says the UPS is on line power: a slave watching after ONBATT stops.
	Onl Name = "onl"
	// BattSDF says the UPS is on battery and a threshold is crossed: slaves must shut down.
	BattSDF Name = "battsdf"
	// SDF says the master has committed to shutting down: slaves acknowledge and go.
	SDF Name = "sdf"
	// Drill asks every slave to run the handshake without powering off.
	Drill Name = "drill"
)

// The slaves' files, in ACKDIR.
//
// AnonAck is the acknowledgement of a seed-style slave that has no name.
const AnonAck Name = "sdfok"

const (
	ackPrefix   = "sdfok."
	seenPrefix  = "seen."
	drillPrefix = "drillok."
)

// Per-slave verdicts of a staged shutdown, in FLAGDIR: the master tells one
// slave what BattSDF and SDF tell them all.
const (
	stagedBattPrefix = "battsdf."
	stagedSDFPrefix  = "sdf."
)

// StagedBattSDF is the per-slave battsdf.<slave> verdict.
func StagedBattSDF(slave string) Name { return Name(stagedBattPrefix + slave) }

// StagedSDF is the per-slave sdf.<slave> verdict.
func StagedSDF(slave string) Name { return Name(stagedSDFPrefix + slave) }

// StagedSlave returns the slave a per-slave verdict names, and which
// verdict it is (BattSDF or SDF).
func StagedSlave(n Name) (slave string, verdict Name, ok bool) {
	if s, ok := cutName(n, "", stagedBattPrefix); ok {
		return s, BattSDF, true
	}
	if s, ok := cutName(n, "", stagedSDFPrefix); ok {
		return s, SDF, true
	}
	return "", "", false
}

// MaxBody is the largest flag body a reader accepts.
const MaxBody = 4 << 10

var (
	// ErrInvalidName means a slave name or flag name outside the protocol.
	ErrInvalidName = errors.New("invalid flag name")
	// ErrTooLarge means a flag body over [MaxBody].
	ErrTooLarge = errors.New("flag body too large")
	// ErrNotRegular means a flag path that is a symlink, directory or device.
	ErrNotRegular = errors.New("not a regular file")
	// ErrNoAtomicReplace means the server cannot replace a file atomically
	// (no posix-rename@openssh.com); nutslave refuses to fake it.
	ErrNoAtomicReplace = errors.New("server has no atomic rename (posix-rename@openssh.com)")
)

// ValidSlaveName reports whether s can name a slave: [A-Za-z0-9._-]{1,64},
// not starting with a dot.
func ValidSlaveName(s string) error {
	if !slaveNameOK(s) {
		return fmt.Errorf("%w: slave name %q, want 1-64 of A-Z a-z 0-9 . _ - not starting with a dot", ErrInvalidName, s)
	}
	return nil
}

// slaveNameOK checks [A-Za-z0-9._-]{1,64} without a leading dot. (No
// regexp: compiling one at start-up costs upsslave milliseconds per event.)
func slaveNameOK(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Ack is the acknowledgement file of the named slave: sdfok.<slave>.
func Ack(slave string) Name { return Name(ackPrefix + slave) }

// Seen is the readiness heartbeat file of the named slave: seen.<slave>.
func Seen(slave string) Name { return Name(seenPrefix + slave) }

// DrillAck is the drill acknowledgement of the named slave: drillok.<slave>.
func DrillAck(slave string) Name { return Name(drillPrefix + slave) }

// AckSlave returns the slave named by an acknowledgement file, and whether
// n is one. The anonymous sdfok yields "" and true.
func AckSlave(n Name) (string, bool) { return cutName(n, AnonAck, ackPrefix) }

// SeenSlave returns the slave named by a seen.<slave> file.
func SeenSlave(n Name) (string, bool) { return cutName(n, "", seenPrefix) }

// DrillSlave returns the slave named by a drillok.<slave> file.
func DrillSlave(n Name) (string, bool) { return cutName(n, "", drillPrefix) }

func cutName(n, anon Name, prefix string) (string, bool) {
	if anon != "" && n == anon {
		return "", true
	}
	s, ok := strings.CutPrefix(string(n), prefix)
	if !ok || ValidSlaveName(s) != nil {
		return "", false
	}
	return s, true
}

// Valid reports whether n is a name this protocol uses; it refuses path
// separators, dot-files and anything unknown.
func (n Name) Valid() error {
	switch n {
	case Onl, BattSDF, SDF, Drill, AnonAck:
		return nil
	}
	if _, ok := AckSlave(n); ok {
		return nil
	}
	if _, ok := SeenSlave(n); ok {
		return nil
	}
	if _, ok := DrillSlave(n); ok {
		return nil
	}
	if _, _, ok := StagedSlave(n); ok {
		return nil
	}
	return fmt.Errorf("%w: %q", ErrInvalidName, string(n))
}

// Info describes a flag file as a store sees it.
type Info struct {
	Name    Name
	Size    int64
	ModTime time.Time
	// UID is the owner's numeric id; HasOwner is false where the store
	// cannot tell (an SFTP server that reports no owners).
	UID      uint32
	HasOwner bool
}

// Store reads and writes the flag files of one directory. Implementations
// make Set atomic (readers never see partial content), never follow
// symlinks, and make Clear idempotent.
type Store interface {
	// Set writes body to name atomically, replacing any previous file.
	Set(ctx context.Context, name Name, body []byte) error
	// Get returns the body of name, at most MaxBody bytes. An absent flag
	// wraps [fs.ErrNotExist]; a larger one wraps [ErrTooLarge].
	Get(ctx context.Context, name Name) ([]byte, error)
	// Stat describes name; absent wraps [fs.ErrNotExist], a symlink or
	// other non-regular file wraps [ErrNotRegular].
	Stat(ctx context.Context, name Name) (Info, error)
	// Clear removes name; removing an absent flag is not an error.
	Clear(ctx context.Context, name Name) error
	// List returns the regular, non-dot files that are valid flag names,
	// sorted by name.
	List(ctx context.Context) ([]Info, error)
	// Close releases the store's resources.
	Close() error
}

// IsNotExist reports whether err says a flag is absent.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// SortInfos orders infos by name.
func SortInfos(infos []Info) {
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
}

// tempName is a per-writer unique dot-name next to the target.
func tempName(name Name, pid int, now time.Time) string {
	return fmt.Sprintf(".%s.%d.%d.tmp", name, pid, now.UnixNano())
}
