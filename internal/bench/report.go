package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes where the figures were taken.
func Machine() string {
	var b strings.Builder
	w := func(k, v string) { fmt.Fprintf(&b, "| %s | %s |\n", k, v) }
	b.WriteString("| | |\n|---|---|\n")
	w("date", time.Now().Format(time.RFC3339))
	w("CPU", fmt.Sprintf("%d × %s", runtime.NumCPU(), firstMatch("/proc/cpuinfo", "model name")))
	w("memory", firstMatch("/proc/meminfo", "MemTotal"))
	w("kernel", strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")))
	w("load average at start", strings.Join(strings.Fields(readFile("/proc/loadavg"))[:3], " "))
	w("Go", runtime.Version())
	w("OpenSSH", cmdLine("ssh", "-V"))
	w("NUT", cmdLine("/lib/nut/upsd", "-V"))
	return b.String()
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func firstMatch(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}

func cmdLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" && err != nil {
		return "? (" + err.Error() + ")"
	}
	return line
}

// Pct is cpu as a percentage of one core over window.
func Pct(cpu, window time.Duration) float64 {
	return 100 * float64(cpu) / float64(window)
}

// WriteLogOnly prints a table of log-only results.
func WriteLogOnly(w io.Writer, rs ...*LogOnlyResult) {
	writeTable(w, "| slave | event | runs | wall p50 (ms) | wall p99 (ms) | wall max (ms) | CPU user+sys p50 (ms) | peak RSS p50 (MiB) | peak RSS p99 (MiB) | peak RSS max (MiB) | failed runs |", rs, func(r *LogOnlyResult) string {
		wall := Summarize(Millis(r.Wall))
		rss := make([]float64, len(r.MaxRSS))
		for i, k := range r.MaxRSS {
			rss[i] = float64(k) / 1024
		}
		m := Summarize(rss)
		cpu := Summarize(Millis(r.CPU))
		return fmt.Sprintf("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %d |", r.Label, r.Event, wall.N,
			f1(wall.P50), f1(wall.P99), f1(wall.Max), f1(cpu.P50), f1(m.P50), f1(m.P99), f1(m.Max), r.Failures)
	})
}

// LatencySummary condenses a LatencyResult.
type LatencySummary struct {
	Recorder, Ack   Summary
	ConnsPerOutage  Summary
	LoginsPerOutage Summary
	Bad             int // runs without exactly one recorder call, no ack, or an error
	ConnRate        float64
	Runs            int
	ExitCodes       map[int]int
	FirstErr        string
}

// Summary condenses r.
func (r *LatencyResult) Summary() LatencySummary {
	var rec, ack, conns, logins []float64
	var connTotal, waitTotal float64
	s := LatencySummary{Runs: len(r.Outages), ExitCodes: map[int]int{}}
	for _, o := range r.Outages {
		s.ExitCodes[o.ExitCode]++
		if o.Recorded != 1 || !o.Acked || o.Err != "" {
			s.Bad++
			if s.FirstErr == "" {
				s.FirstErr = fmt.Sprintf("recorded=%d acked=%v err=%q", o.Recorded, o.Acked, o.Err)
			}
		}
		if o.Recorded > 0 {
			rec = append(rec, float64(o.Recorder)/float64(time.Millisecond))
		}
		if o.Acked {
			ack = append(ack, float64(o.Ack)/float64(time.Millisecond))
		}
		conns = append(conns, float64(o.Log.Connections))
		logins = append(logins, float64(o.Log.Accepted))
		connTotal += float64(o.Log.Connections)
		waitTotal += o.Wait.Seconds()
	}
	s.Recorder, s.Ack = Summarize(rec), Summarize(ack)
	s.ConnsPerOutage, s.LoginsPerOutage = Summarize(conns), Summarize(logins)
	if waitTotal > 0 {
		s.ConnRate = connTotal / waitTotal
	}
	return s
}

// WriteLatency prints a table of latency results.
func WriteLatency(w io.Writer, rs ...*LatencyResult) {
	writeTable(w, "| slave | outages | sdf → recorder p50 (ms) | p99 (ms) | max (ms) | sdf → ack p50 (ms) | ack p99 (ms) | SSH connections per outage (min / p50 / max) | logins per outage (p50) | bad runs | exit codes |", rs, func(r *LatencyResult) string {
		s := r.Summary()
		return fmt.Sprintf("| %s | %d | %s | %s | %s | %s | %s | %.0f / %.0f / %.0f | %.0f | %d | %v |", r.Kind, s.Runs,
			f1(s.Recorder.P50), f1(s.Recorder.P99), f1(s.Recorder.Max), f1(s.Ack.P50), f1(s.Ack.P99),
			s.ConnsPerOutage.Min, s.ConnsPerOutage.P50, s.ConnsPerOutage.Max, s.LoginsPerOutage.P50, s.Bad, s.ExitCodes)
	})
}

// WriteWait prints a table of waiting costs.
func WriteWait(w io.Writer, rs ...*WaitResult) {
	writeTable(w, "| slave | window (s) | slave CPU (% of a core) | sshd CPU (% of a core) | SSH connections in window | per second | logins | slave RSS (MiB) | after onl |", rs, func(r *WaitResult) string {
		rss := "-"
		if r.SlaveRSSKiB > 0 {
			rss = f1(float64(r.SlaveRSSKiB) / 1024)
		}
		return fmt.Sprintf("| %s | %.0f | %.2f | %.2f | %d | %.2f | %d | %s | %s |", r.Kind, r.Window.Seconds(),
			Pct(r.SlaveCPU, r.Window), Pct(r.SSHDCPU, r.Window), r.Log.Connections,
			float64(r.Log.Connections)/r.Window.Seconds(), r.Log.Accepted, rss, r.Ended)
	})
}

func secs(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return fmt.Sprintf("%.2f", d.Seconds())
}

// WriteFleet prints the fleet tables.
func WriteFleet(w io.Writer, rs ...*FleetResult) {
	fmt.Fprintln(w, "#### Silent master (sshd up, no flags)")
	fmt.Fprintln(w)
	writeTable(w, "| N | silent (s) | spawning N (s) | all N logged in, after the last ONBATT (s) | premature shutdowns | exited early | sshd: connections / logins / dropped past MaxStartups / throttling episodes | slaves logging \"busy\" / \"unreachable\" | slaves' RSS total (MiB) |", rs, func(r *FleetResult) string {
		l := r.SilentLog
		return fmt.Sprintf("| %d | %.0f | %.2f | %s | %d | %d | %d / %d / %d / %d | %d / %d | %.0f |", r.N, r.Silent.Seconds(), r.Spawn.Seconds(),
			secs(r.AllLoggedIn), r.Premature, r.ExitedEarly, l.Connections, l.Accepted, l.Dropped, l.ThrottleBegin, r.BusyLogged, r.UnansweredLogged, float64(r.SlavesRSSKiB)/1024)
	})
	fmt.Fprintln(w)
	fmt.Fprintln(w, "#### Master writes battsdf and sdf")
	fmt.Fprintln(w)
	writeTable(w, "| N | acknowledged | recorders ran | sdf → every sdfok (s) | sdf → every recorder (s) | p50 ack / recorder (s) | sshd: new connections / logins / dropped | fail-safe shutdowns | killed at the end |", rs, func(r *FleetResult) string {
		l := r.VerdictLog
		return fmt.Sprintf("| %d | %d | %d | %s | %s | %.2f / %.2f | %d / %d / %d | %d | %d |", r.N, r.Acked, r.Recorded, secs(r.AllAcked), secs(r.AllRecorded),
			r.AckP50.Seconds(), r.RecP50.Seconds(), l.Connections, l.Accepted, l.Dropped, r.FailSafe, r.Leftover)
	})
	fmt.Fprintln(w)
	fmt.Fprintln(w, "#### CPU (% of one core; the machine has 2)")
	fmt.Fprintln(w)
	writeTable(w, "| N | spawning + connection storm: window (s) / all slaves / sshd | steady waiting: window (s) / all slaves / sshd / per slave | after sdf: window (s) / all slaves / sshd |", rs, func(r *FleetResult) string {
		return fmt.Sprintf("| %d | %.1f / %.1f / %.1f | %.1f / %.1f / %.1f / %.2f | %.1f / %.1f / %.1f |", r.N,
			r.StormWindow.Seconds(), Pct(r.StormSlaves, r.StormWindow), Pct(r.StormSSHD, r.StormWindow),
			r.SteadyWindow.Seconds(), Pct(r.SteadySlaves, r.SteadyWindow), Pct(r.SteadySSHD, r.SteadyWindow), Pct(r.SteadySlaves, r.SteadyWindow)/float64(r.N),
			r.VerdictWindow.Seconds(), Pct(r.VerdictSlaves, r.VerdictWindow), Pct(r.VerdictSSHD, r.VerdictWindow))
	})
}

// writeTable prints a Markdown table: header, its separator row, and row's
// line for each of rs.
func writeTable[R any](w io.Writer, header string, rs []R, row func(R) string) {
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, strings.Repeat("|---", strings.Count(header, "|")-1)+"|")
	for _, r := range rs {
		fmt.Fprintln(w, row(r))
	}
}

// p50max formats the median and maximum of ds in seconds ("-" when empty).
func p50max(ds []time.Duration) string {
	s := Summarize(Millis(ds))
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f / %.2f", s.P50/1000, s.Max/1000)
}

// ReturnSummary condenses a ReturnResult: per slave durations, for those
// that got that far.
type ReturnSummary struct {
	Acked, Back int
	// HeartbeatFailed counts failed heartbeat runs (each retried after
	// Retry); HeartbeatNever the slaves with no successful one.
	HeartbeatFailed, HeartbeatNever int
	// FirstPacket: power back → the first magic packet at the slave;
	// Waking: → the first one not lost; Boot: the waking packet →
	// seen.<name> written (simulated boot and the heartbeat); Heartbeat:
	// the heartbeat command alone; Notice: seen.<name> written → the end
	// of the master's run that recorded it; Total: power back → that end.
	FirstPacket, Waking, Boot, Heartbeat, Notice, Total []time.Duration
	TriesMin, TriesMax, TriesSum, Received              int
}

// Summary condenses r.
func (r *ReturnResult) Summary() ReturnSummary {
	var s ReturnSummary
	s.TriesMin = -1
	for _, x := range r.Slaves {
		if x.Acked {
			s.Acked++
		}
		if !x.SeenByMaster.IsZero() {
			s.Back++
			s.Total = append(s.Total, x.SeenByMaster.Sub(r.PowerBack))
		}
		s.HeartbeatFailed += x.HeartbeatFailed
		if !x.HeartbeatStart.IsZero() {
			if x.HeartbeatExit != 0 {
				s.HeartbeatFailed++
				s.HeartbeatNever++
			} else {
				s.Heartbeat = append(s.Heartbeat, x.HeartbeatEnd.Sub(x.HeartbeatStart))
			}
		}
		if !x.FirstPacket.IsZero() {
			s.FirstPacket = append(s.FirstPacket, x.FirstPacket.Sub(r.PowerBack))
		}
		if !x.Waking.IsZero() {
			s.Waking = append(s.Waking, x.Waking.Sub(r.PowerBack))
			if !x.Seen.IsZero() {
				s.Boot = append(s.Boot, x.Seen.Sub(x.Waking))
			}
		}
		if !x.Seen.IsZero() && !x.SeenByMaster.IsZero() {
			s.Notice = append(s.Notice, x.SeenByMaster.Sub(x.Seen))
		}
		if s.TriesMin < 0 || x.Tries < s.TriesMin {
			s.TriesMin = x.Tries
		}
		s.TriesMax = max(s.TriesMax, x.Tries)
		s.TriesSum += x.Tries
		s.Received += x.Received
	}
	return s
}

// WriteReturn prints the tables of the return benchmark.
func WriteReturn(w io.Writer, rs ...*ReturnResult) {
	writeTable(w, "| N | boot (s) | first packets lost | acknowledged | seen again | master runs | power back → first packet at the slave, p50 / max (s) | power back → waking packet | waking packet → heartbeat written (boot + heartbeat runs) | successful heartbeat command alone | heartbeat written → the master's run that saw it | **power back → seen by the master** | packets sent per slave, min / max (total) | packets at the slaves | heartbeat runs failed (slaves never through) |", rs, func(r *ReturnResult) string {
		s := r.Summary()
		return fmt.Sprintf("| %d | %.0f | %d | %d | %d | %d | %s | %s | %s | %s | %s | **%s** | %d / %d (%d) | %d | %d (%d) |",
			r.N, r.Boot.Seconds(), r.Lost, s.Acked, s.Back, r.Runs,
			p50max(s.FirstPacket), p50max(s.Waking), p50max(s.Boot), p50max(s.Heartbeat), p50max(s.Notice), p50max(s.Total),
			s.TriesMin, s.TriesMax, s.TriesSum, s.Received, s.HeartbeatFailed, s.HeartbeatNever)
	})
}
