package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/<pid>/stat times; the kernel exports it as
// 100 on every architecture Linux runs Go on (USER_HZ, not CONFIG_HZ).
const userHZ = 100

// ErrNoProcess means the process is gone.
var ErrNoProcess = errors.New("no such process")

// ProcTimes is one process's CPU times from /proc/<pid>/stat.
type ProcTimes struct {
	PPid int
	// Self is utime+stime; Children is cutime+cstime (children it has
	// waited for, and theirs).
	Self, Children time.Duration
}

// Total is Self+Children.
func (p ProcTimes) Total() time.Duration { return p.Self + p.Children }

// parseStat reads the fields of a /proc/<pid>/stat line that matter here.
func parseStat(b []byte) (ProcTimes, error) {
	// The command name in parentheses may contain spaces and ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ProcTimes{}, fmt.Errorf("stat: no ')' in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return ProcTimes{}, fmt.Errorf("stat: %d fields after the name, want >= 15", len(f))
	}
	var n [5]int64
	for k, idx := range []int{1, 11, 12, 13, 14} {
		v, err := strconv.ParseInt(f[idx], 10, 64)
		if err != nil {
			return ProcTimes{}, fmt.Errorf("stat: field %d: %w", idx+3, err)
		}
		n[k] = v
	}
	tick := time.Second / userHZ
	return ProcTimes{
		PPid:     int(n[0]),
		Self:     time.Duration(n[1]+n[2]) * tick,
		Children: time.Duration(n[3]+n[4]) * tick,
	}, nil
}

// ReadProc reads /proc/<pid>/stat.
func ReadProc(pid int) (ProcTimes, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ProcTimes{}, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
		}
		return ProcTimes{}, err
	}
	return parseStat(b)
}

// TreeCPU returns the CPU time used so far by pid, the children it has
// reaped, and every live descendant (with what they reaped). Deltas of it
// over a window count short-lived children such as sshd's per-connection
// processes or a script's scp.
func TreeCPU(pid int) (time.Duration, error) {
	root, err := ReadProc(pid)
	if err != nil {
		return 0, err
	}
	all, err := allProcs()
	if err != nil {
		return 0, err
	}
	total := root.Total()
	for _, d := range descendantsOf(pid, all) {
		total += all[d].Total()
	}
	return total, nil
}

// allProcs reads the stat of every process.
func allProcs() (map[int]ProcTimes, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := make(map[int]ProcTimes, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pt, err := ReadProc(pid); err == nil {
			out[pid] = pt
		}
	}
	return out, nil
}

// descendantsOf lists pid's live descendants in all.
func descendantsOf(pid int, all map[int]ProcTimes) []int {
	kids := map[int][]int{}
	for p, pt := range all {
		kids[pt.PPid] = append(kids[pt.PPid], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, k := range kids[p] {
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out
}

// Descendants lists pid's live descendants.
func Descendants(pid int) ([]int, error) {
	all, err := allProcs()
	if err != nil {
		return nil, err
	}
	return descendantsOf(pid, all), nil
}

// RSSKiB returns a process's resident set (VmRSS) in KiB.
func RSSKiB(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
		}
		return 0, err
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(r interface{ Read([]byte) (int, error) }) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			num, _, _ := strings.Cut(strings.TrimSpace(v), " ")
			return strconv.ParseInt(num, 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("status: no VmRSS line")
}

// SumTreeCPU is TreeCPU summed over pids, with one scan of /proc; pids that
// are gone are skipped and counted in missing.
func SumTreeCPU(pids []int) (total time.Duration, missing int, err error) {
	all, err := allProcs()
	if err != nil {
		return 0, 0, err
	}
	for _, pid := range pids {
		root, ok := all[pid]
		if !ok {
			missing++
			continue
		}
		total += root.Total()
		for _, d := range descendantsOf(pid, all) {
			total += all[d].Total()
		}
	}
	return total, missing, nil
}
