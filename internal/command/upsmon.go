package command

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// UpsmonConfPaths are where upsmon.conf is looked for when $UPSMON_CONF
// is unset: Debian's NUT directory, then RHEL's.
var UpsmonConfPaths = []string{"/etc/nut/upsmon.conf", "/etc/ups/upsmon.conf"}

// UpsmonConf returns the upsmon.conf in use: configured (a program's
// UPSMON_CONF key) when set, else $UPSMON_CONF, else the first of
// UpsmonConfPaths that exists ("" if none).
func UpsmonConf(configured string, getenv func(string) string) string {
	if configured != "" {
		return configured
	}
	if p := getenv("UPSMON_CONF"); p != "" {
		return p
	}
	for _, p := range UpsmonConfPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Upsmon is what nutslave reads of upsmon.conf; it never writes it.
type Upsmon struct {
	Path string
	// NotifyCmd is NOTIFYCMD (the last one, as upsmon takes it), unquoted;
	// "" when absent.
	NotifyCmd  string
	NotifyLine int
	Monitors   []Monitor
	// MinSupplies is MINSUPPLIES (1 when absent, as in upsmon).
	MinSupplies int
	MinLine     int
	// PowerDownFlag is POWERDOWNFLAG, "" when absent.
	PowerDownFlag string
}

// Monitor is one MONITOR line: the UPS (upsmon's UPSNAME for it), its
// power value and role ("primary", "secondary", or the old "master",
// "slave").
type Monitor struct {
	UPS   string
	Power int
	Role  string
	Line  int
}

// Primary reports whether upsmon monitors some UPS as primary.
func (u Upsmon) Primary() bool {
	for _, m := range u.Monitors {
		if m.Role == "primary" || m.Role == "master" {
			return true
		}
	}
	return false
}

// ReadUpsmon reads the directives nutslave uses from upsmon.conf. A
// MONITOR or MINSUPPLIES it cannot read is an error naming the line.
func ReadUpsmon(path string) (Upsmon, error) {
	u := Upsmon{Path: path, MinSupplies: 1}
	f, err := os.Open(path)
	if err != nil {
		return u, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "NOTIFYCMD":
			u.NotifyCmd = strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "NOTIFYCMD")), `"`)
			u.NotifyLine = n
		case "POWERDOWNFLAG":
			if len(fields) > 1 {
				u.PowerDownFlag = strings.Trim(fields[1], `"`)
			}
		case "MONITOR":
			if len(fields) < 3 {
				return u, fmt.Errorf("%s:%d: MONITOR needs a UPS and a power value", path, n)
			}
			power, err := strconv.Atoi(fields[2])
			if err != nil || power < 0 {
				return u, fmt.Errorf("%s:%d: MONITOR %s: power value %q is not a count", path, n, fields[1], fields[2])
			}
			m := Monitor{UPS: fields[1], Power: power, Line: n}
			if len(fields) >= 6 {
				m.Role = fields[5]
			}
			u.Monitors = append(u.Monitors, m)
		case "MINSUPPLIES":
			if len(fields) < 2 {
				return u, fmt.Errorf("%s:%d: MINSUPPLIES needs a count", path, n)
			}
			v, err := strconv.Atoi(fields[1])
			if err != nil || v < 0 {
				return u, fmt.Errorf("%s:%d: MINSUPPLIES %q is not a count", path, n, fields[1])
			}
			u.MinSupplies, u.MinLine = v, n
		}
	}
	return u, sc.Err()
}
