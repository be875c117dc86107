package slave

import (
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/notify"
)

// Reading the whole flag directory costs four SFTP exchanges (OPENDIR,
// READDIR, READDIR, CLOSE); an LSTAT of the directory costs one. A waiting
// slave LSTATs the directory every POLL and reads it again only when the
// directory may have changed since its last reading:
//
//   - its mark (modification time, size, mode) differs: an entry was
//     created, removed or renamed, as every flag write of the master is;
//   - the current mark was first seen less than listSettle ago: SFTP
//     reports whole seconds (FAT-like file systems two), so a second change
//     within the same second leaves the mark as it was, until that second
//     is over;
//   - the last reading is listRefresh old: a flag rewritten in place
//     (`touch onl`, as hand-made masters do) never changes the directory.
//
// A missing sdf is the one mistake this must never make: each rule errs
// towards reading.
const (
	listSettle  = 3 * time.Second
	listRefresh = 2 * time.Second
)

// listing remembers the last full reading of the flag directory.
type listing struct {
	conn     int       // the session's connection it was made on
	mark     string    // the directory's mark at that reading
	markSeen time.Time // when this mark was first seen
	at       time.Time // when the reading was made
	seen     notify.Seen
	onl      notify.Onl
}

// due reports whether the directory must be read again, given its mark
// now and the session's current connection.
func (l *listing) due(now time.Time, mark string, conn int) bool {
	switch {
	case l.at.IsZero(), conn != l.conn, mark != l.mark:
		return true
	case now.Sub(l.markSeen) < listSettle:
		return true
	case now.Sub(l.at) >= listRefresh:
		return true
	}
	return false
}

// record keeps a full reading made at now with the directory at mark.
func (l *listing) record(now time.Time, mark string, conn int, seen notify.Seen, onl notify.Onl) {
	if mark != l.mark || conn != l.conn || l.markSeen.IsZero() {
		l.markSeen = now
	}
	l.conn, l.mark, l.at, l.seen, l.onl = conn, mark, now, seen, onl
}

// reading is what one listing of FLAGDIR says to the slave name.
type reading struct {
	seen notify.Seen
	onl  notify.Onl
	// drill is the master's drill flag, nil when there is none.
	drill *flags.Info
	// foreign are the flags someone other than FLAGOWNER wrote: they
	// count for nothing, and the caller warns about them.
	foreign []flags.Info
}

// read interprets one listing of FLAGDIR for the slave name. sdf and
// battsdf are the master's verdicts for every slave, sdf.NAME and
// battsdf.NAME (upsflags STAGES) for this one only: another slave's staged
// verdict counts for nothing here. A flag whose owner is known and is not
// owner counts for nothing either: only the master may give a verdict.
func read(infos []flags.Info, name string, owner uint32) reading {
	var r reading
	mySDF, myBatt := flags.StagedSDF(name), flags.StagedBattSDF(name)
	for _, in := range infos {
		if in.HasOwner && in.UID != owner {
			r.foreign = append(r.foreign, in)
			continue
		}
		switch in.Name {
		case flags.SDF, mySDF:
			r.seen.SDF = true
		case flags.BattSDF, myBatt:
			r.seen.BattSDF = true
		case flags.Onl:
			r.onl = notify.Onl{Present: true, ModTime: in.ModTime, Size: in.Size}
		case flags.Drill:
			r.drill = &in
		}
	}
	return r
}
