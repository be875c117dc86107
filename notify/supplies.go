package notify

// Supplies is how this host is powered, as upsmon.conf says: each UPS
// feeding it (a MONITOR line) with its power value, and MINSUPPLIES, the
// power this host needs to keep running. A server with two power supplies
// on two UPSes has two feeds of power 1 and MINSUPPLIES 1: it survives
// either UPS going down.
type Supplies struct {
	Min   int
	Feeds []Feed
}

// Feed is one UPS feeding this host: upsmon's system name (the UPSNAME it
// sets for NOTIFYCMD, "ups@host[:port]") and its power value.
type Feed struct {
	UPS   string
	Power int
}

// Redundant reports whether more than one UPS powers this host. Only then
// does a verdict on one UPS condemn that supply alone; with a single feed
// every verdict shuts the host down, as it always has.
func (s Supplies) Redundant() bool {
	n := 0
	for _, f := range s.Feeds {
		if f.Power > 0 {
			n++
		}
	}
	return n > 1
}

// Has reports whether ups is one of the feeds.
func (s Supplies) Has(ups string) bool {
	for _, f := range s.Feeds {
		if f.UPS == ups {
			return true
		}
	}
	return false
}

// Total is the power of every feed.
func (s Supplies) Total() int {
	n := 0
	for _, f := range s.Feeds {
		n += f.Power
	}
	return n
}

// StaysUp decides whether this host keeps running once the feeds
// condemned says are gone: it does while the power of the others is at
// least Min (MINSUPPLIES, at least 1). left is that power.
func (s Supplies) StaysUp(condemned func(ups string) bool) (left int, up bool) {
	for _, f := range s.Feeds {
		if !condemned(f.UPS) {
			left += f.Power
		}
	}
	return left, left >= max(s.Min, 1)
}
