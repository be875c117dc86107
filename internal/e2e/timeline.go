package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// An Event is one line of an outage's timeline.
type Event struct {
	Time   time.Time
	Source string
	Text   string
}

// Timeline merges what the cluster did (UPS changes, scenario notes), the
// master's log and shutdown records, every slave's upsslave log and
// shutdown records, and the acknowledgement files, in time order. Lines of
// a source keep their order; upsslave logs carry whole seconds.
func (c *Cluster) Timeline() []Event {
	c.mu.Lock()
	evs := append([]Event(nil), c.events...)
	c.mu.Unlock()
	if c.Master != nil {
		evs = append(evs, c.readLogEvents(c.Master.LogFile(), "master")...)
		for _, r := range c.MasterShutdowns() {
			evs = append(evs, Event{r.Time, "master", "SHUTDOWN COMMAND (recorded): " + r.Args})
		}
		for _, r := range c.PrimaryUpsmonShutdowns() {
			evs = append(evs, Event{r.Time, "master", "upsmon's own SHUTDOWNCMD (recorded): " + r.Args})
		}
	}
	if c.SSH.FlagDir != "" {
		for _, f := range []string{"onl", "battsdf", "sdf"} {
			if t, ok := c.FlagTime(f); ok {
				evs = append(evs, Event{t, "flags", f + " present (last written)"})
			}
		}
	}
	for _, s := range c.Slaves {
		evs = append(evs, c.readLogEvents(s.LogFile, s.Name)...)
		for _, r := range s.Shutdowns() {
			evs = append(evs, Event{r.Time, s.Name, "SHUTDOWN COMMAND (recorded): " + r.Args})
		}
		if t, ok := c.AckTime(s.Name); ok {
			evs = append(evs, Event{t, "flags", "sdfok." + s.Name + " written"})
		}
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	return collapse(evs)
}

// collapse drops a line that repeats the last one of the same source (a
// master logging the same decision every poll) and counts the repeats.
func collapse(evs []Event) []Event {
	last := map[string]int{} // source -> index in out
	repeats := map[int]int{}
	var out []Event
	for _, e := range evs {
		if i, ok := last[e.Source]; ok && out[i].Text == e.Text {
			repeats[i]++
			continue
		}
		last[e.Source] = len(out)
		out = append(out, e)
	}
	for i, n := range repeats {
		out[i].Text += fmt.Sprintf(" [repeated %d more times]", n)
	}
	return out
}

// readLogEvents reads a log whose lines start with an RFC 3339 time (as
// upsslave, upsflags and the stand-in master write them). A time in whole
// seconds is refined by when the cluster saw the line appear.
func (c *Cluster) readLogEvents(path, src string) []Event {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var evs []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for i := 0; sc.Scan(); i++ {
		ts, rest, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		if t.Nanosecond() == 0 {
			if seen, ok := c.tail.seenAt(path, i); ok && !seen.Before(t) && seen.Sub(t) < 2*time.Second {
				t = seen
			}
		}
		// Drop the "upsslave[pid]:" style tag; the source says who.
		if tag, body, ok := strings.Cut(rest, ": "); ok && !strings.Contains(tag, " ") {
			rest = body
		}
		evs = append(evs, Event{t, src, rest})
	}
	return evs
}

// PrintTimeline writes the timeline with times relative to the cluster's
// start, each line cut to width characters (0: no limit).
func (c *Cluster) PrintTimeline(w io.Writer, width int) { c.PrintTimelineFrom(w, c.Start, width) }

// PrintTimelineFrom writes the timeline with times relative to t0 (such as
// the power failure), each line cut to width characters (0: no limit).
func (c *Cluster) PrintTimelineFrom(w io.Writer, t0 time.Time, width int) {
	for _, e := range c.Timeline() {
		rel := e.Time.Sub(t0)
		sign := "+"
		if rel < 0 {
			sign, rel = "-", -rel
		}
		line := fmt.Sprintf("%s %s%6.2fs  %-9s %s", e.Time.Format("15:04:05.000"), sign, rel.Seconds(), e.Source, e.Text)
		if width > 0 && len(line) > width {
			line = line[:width-3] + "..."
		}
		fmt.Fprintln(w, line)
	}
}

// PrintRoster writes who acknowledged and who shut down, and when
// (relative to the cluster's start).
func (c *Cluster) PrintRoster(w io.Writer) { c.PrintRosterFrom(w, c.Start) }

// PrintRosterFrom writes the roster with times relative to t0.
func (c *Cluster) PrintRosterFrom(w io.Writer, t0 time.Time) {
	at := func(t time.Time) string {
		return fmt.Sprintf("%s (%+.2fs)", t.Format("15:04:05.000"), t.Sub(t0).Seconds())
	}
	fmt.Fprintf(w, "%-10s %-28s %-28s %s\n", "host", "acknowledged (sdfok)", "shutdown recorded", "calls")
	for _, s := range c.Slaves {
		ack, shut := "-", "-"
		if t, ok := c.AckTime(s.Name); ok {
			ack = at(t)
		}
		recs := s.Shutdowns()
		if len(recs) > 0 {
			shut = at(recs[0].Time)
		}
		fmt.Fprintf(w, "%-10s %-28s %-28s %d\n", s.Name, ack, shut, len(recs))
	}
	if c.Master != nil {
		shut := "-"
		recs := c.MasterShutdowns()
		if len(recs) > 0 {
			shut = at(recs[0].Time)
		}
		sdf := "-"
		if t, ok := c.FlagTime("sdf"); ok {
			sdf = "sdf " + at(t)
		}
		fmt.Fprintf(w, "%-10s %-28s %-28s %d\n", "master", sdf, shut, len(recs))
	}
}
