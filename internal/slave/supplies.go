package slave

import (
	"fmt"
	"os"
	"strings"

	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/notify"
)

// upsmonConf is what upsslave reads of upsmon.conf: the UPSes feeding
// this host (MONITOR lines with their power values) and MINSUPPLIES, with
// their lines for check's messages. upsslave never writes upsmon.conf.
type upsmonConf struct {
	Path     string
	Supplies notify.Supplies
	Lines    map[string]int // UPS -> line of its MONITOR
	MinLine  int
}

// upsmonConfPath is UPSMON_CONF, else $UPSMON_CONF, else Debian's, then
// RHEL's upsmon.conf ("" if none exists).
func (cfg *Config) upsmonConfPath() string { return command.UpsmonConf(cfg.UpsmonConf, os.Getenv) }

// readUpsmonConf reads MONITOR and MINSUPPLIES from upsmon.conf.
// MINSUPPLIES defaults to 1, as in upsmon.
func readUpsmonConf(path string) (upsmonConf, error) {
	u := upsmonConf{Path: path, Lines: map[string]int{}, Supplies: notify.Supplies{Min: 1}}
	c, err := command.ReadUpsmon(path)
	if err != nil {
		return u, err
	}
	for _, m := range c.Monitors {
		u.Supplies.Feeds = append(u.Supplies.Feeds, notify.Feed{UPS: m.UPS, Power: m.Power})
		u.Lines[m.UPS] = m.Line
	}
	u.Supplies.Min, u.MinLine = c.MinSupplies, c.MinLine
	return u, nil
}

// checkSupplies reports, for a host with more than one supply, a UPS of
// upsmon.conf with no master in MASTERS and a MINSUPPLIES the MONITOR
// lines can never give.
func checkSupplies(k *checker, cfg *Config) {
	path := cfg.upsmonConfPath()
	if path == "" {
		return
	}
	u, err := readUpsmonConf(path)
	if err != nil {
		if len(cfg.Masters) > 0 {
			k.Fail("MASTERS is set but upsmon.conf cannot be read: %v", err)
		}
		return
	}
	if total := u.Supplies.Total(); len(u.Supplies.Feeds) > 0 && u.Supplies.Min > total {
		k.Fail("%s:%d: MINSUPPLIES %d is more than the power values of its MONITOR lines give (%d): upsmon would never count this host as powered",
			path, u.MinLine, u.Supplies.Min, total)
	}
	if !u.Supplies.Redundant() {
		return
	}
	for _, f := range u.Supplies.Feeds {
		found := false
		for _, m := range cfg.Masters {
			found = found || m.UPS == f.UPS
		}
		if !found {
			k.Fail("%s:%d: MONITOR %s has no master in %s MASTERS (line %d): add %s=USER@ITS-MASTER",
				path, u.Lines[f.UPS], f.UPS, cfg.Path, cfg.lines["MASTERS"], f.UPS)
		}
	}
	for _, m := range cfg.Masters {
		if !u.Supplies.Has(m.UPS) {
			k.Warn("%s MASTERS names %s, which %s does not MONITOR", cfg.Path, m.UPS, path)
		}
	}
	if k.Errors == 0 {
		k.OK("supplies: %s (MINSUPPLIES %d): a verdict on one condemns that supply; this host goes down below MINSUPPLIES",
			suppliesText(u.Supplies), max(u.Supplies.Min, 1))
	}
}

func suppliesText(s notify.Supplies) string {
	var parts []string
	for _, f := range s.Feeds {
		parts = append(parts, fmt.Sprintf("%s (power %d)", f.UPS, f.Power))
	}
	return strings.Join(parts, ", ")
}
