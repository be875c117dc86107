package lab

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// AdoptOrphans makes this process the reaper of its orphaned descendants:
// a process a daemon forked (sshd's per-connection processes, which start
// sessions of their own) is reparented here instead of to init when its
// parent ends, so [Leftovers] can find it.
func AdoptOrphans() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("lab: PR_SET_CHILD_SUBREAPER: %w", err)
	}
	return nil
}

// Leftovers waits up to grace for this process's children to end, then
// kills those still alive and describes them ("pid 123: sshd: nutslave
// [priv]"). After every test has stopped what it started, the list is
// empty; with [AdoptOrphans] it includes orphaned grandchildren.
func Leftovers(grace time.Duration) []string {
	deadline := time.Now().Add(grace)
	for {
		kids := liveChildren(os.Getpid())
		if len(kids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var out []string
			for _, pid := range kids {
				out = append(out, fmt.Sprintf("pid %d: %s", pid, cmdline(pid)))
				syscall.Kill(pid, syscall.SIGKILL)
			}
			return out
		}
		reapZombies()
		time.Sleep(50 * time.Millisecond)
	}
}

// reapZombies collects the exit status of ended children that nobody
// waits for (adopted orphans).
func reapZombies() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || errors.Is(err, syscall.ECHILD) {
			return
		}
	}
}

// procInfo is one process as /proc/PID/stat describes it.
type procInfo struct {
	state string // "R", "S", "Z" …
	ppid  int
}

// processes reads every process's state and parent from /proc.
func processes() map[int]procInfo {
	out := map[int]procInfo{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if state, ppid, ok := procStat(pid); ok {
			out[pid] = procInfo{state, ppid}
		}
	}
	return out
}

// liveChildren lists the children of ppid that have not ended (zombies
// excluded).
func liveChildren(ppid int) []int {
	var out []int
	for pid, p := range processes() {
		if p.ppid == ppid && p.state != "Z" && p.state != "X" {
			out = append(out, pid)
		}
	}
	return out
}

// KillTree kills pid's descendants (not pid itself). It freezes them
// first, until no new one appears, so that none forks a child that escapes
// the kill: sshd's per-connection processes run in sessions of their own,
// out of reach of a signal to its process group.
func KillTree(pid int) {
	frozen := map[int]bool{}
	for range 20 {
		grew := false
		for _, k := range descendants(pid) {
			if !frozen[k] {
				syscall.Kill(k, syscall.SIGSTOP)
				frozen[k] = true
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	for k := range frozen {
		syscall.Kill(k, syscall.SIGKILL)
	}
}

// descendants returns the pids of pid's children, grandchildren and so on.
func descendants(pid int) []int {
	procs := processes()
	var out []int
	want := map[int]bool{pid: true}
	for changed := true; changed; {
		changed = false
		for p, info := range procs {
			if want[info.ppid] && !want[p] {
				want[p] = true
				out = append(out, p)
				changed = true
			}
		}
	}
	return out
}

// procStat reads a process's state and parent from /proc/PID/stat.
func procStat(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	// The command name in parentheses may contain spaces: parse after ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0], ppid, err == nil
}

func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
	if s == "" {
		return "(unknown)"
	}
	return s
}
