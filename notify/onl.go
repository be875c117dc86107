package notify

import (
	"fmt"
	"time"
)

// OnlSkew is how much older than the ONBATT that started a watch an onl
// flag may be, at the watch's first reading, and still count as "power is
// back". It covers SFTP's whole-second file times (up to 1 s) and a clock
// difference of up to a second between the master and this host.
const OnlSkew = 2 * time.Second

// Onl is the master's onl flag as one reading of the flag directory found
// it. ModTime is the master's clock (whole seconds over SFTP).
type Onl struct {
	Present bool
	ModTime time.Time
	Size    int64
}

// onlAbsent is the baseline of a watch that has seen no onl flag.
const onlAbsent = "absent"

// mark names one writing of the flag: upsflags writes onl by rename, so a
// new writing has a new time or size.
func (o Onl) mark() string {
	if !o.Present {
		return onlAbsent
	}
	return fmt.Sprintf("%s/%d", o.ModTime.UTC().Format(time.RFC3339Nano), o.Size)
}

// OnlNews decides whether onl ends a watch, "power is back", as opposed to
// being a leftover from the last on-line period. upsflags writes onl only
// when the power returns and removes it when the UPS goes on battery, so:
//
//   - an onl the watch has seen absent, or seen rewritten, is news;
//   - at the watch's first reading (baseline ""), an onl written after the
//     ONBATT, less OnlSkew, is news: the power came back between the event
//     and that reading (a short outage, or a slow first connection);
//   - any other onl was there before this outage: a leftover, not news.
//
// onBattSince is when this host learnt that the UPS is on battery (zero
// when it does not know). baseline is what the watch remembers of onl; the
// result's next is what it remembers after this reading.
func OnlNews(baseline string, o Onl, onBattSince time.Time) (news bool, next string) {
	m := o.mark()
	switch {
	case !o.Present:
		return false, onlAbsent
	case baseline == "":
		if !onBattSince.IsZero() && !o.ModTime.Before(onBattSince.Add(-OnlSkew)) {
			return true, m
		}
		return false, m
	}
	return m != baseline, m
}
