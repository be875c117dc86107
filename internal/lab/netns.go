package lab

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Network namespaces for the labs that need links of their own (the
// demo's and the benchmark's Wake-on-LAN links): thin wrappers around
// iproute2's ip.

// IP runs "ip ARGS..." and returns its output in the error when it fails.
func IP(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

var macRE = regexp.MustCompile(`link/ether ([0-9a-f:]{17})`)

// LinkMAC is the hardware address of iface in network namespace ns.
func LinkMAC(ns, iface string) (string, error) {
	out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", iface).Output()
	if err != nil {
		return "", fmt.Errorf("ip -n %s link show %s: %w", ns, iface, err)
	}
	m := macRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("no MAC for %s in %s: %s", iface, ns, out)
	}
	return m[1], nil
}

// DeleteNamespaces deletes the namespaces, the last made first (their
// links go with them). The processes in them must be stopped first.
func DeleteNamespaces(made []string) error {
	var errs []error
	for i := len(made) - 1; i >= 0; i-- {
		errs = append(errs, IP("netns", "delete", made[i]))
	}
	return errors.Join(errs...)
}

// StaleNamespaces returns the namespaces in list (the output of "ip netns
// list") that re matches and whose maker is gone: re's first submatch is
// the pid of the process that made the namespace, alive says whether it
// still runs.
func StaleNamespaces(list string, re *regexp.Regexp, alive func(pid int) bool) []string {
	var stale []string
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := re.FindStringSubmatch(f[0])
		if len(m) < 2 {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || alive(pid) {
			continue
		}
		stale = append(stale, f[0])
	}
	return stale
}

// PidAlive reports whether a process with this pid exists.
func PidAlive(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	return err == nil
}

// RemoveStaleNamespaces deletes the namespaces re names whose maker is gone
// (see StaleNamespaces): those of a program killed before it could delete
// them. It returns their names.
func RemoveStaleNamespaces(re *regexp.Regexp) []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	stale := StaleNamespaces(string(out), re, PidAlive)
	for _, ns := range stale {
		IP("netns", "delete", ns)
	}
	return stale
}

// NetnsExec is the command prefix that runs a program in namespace ns.
func NetnsExec(ns string) []string { return []string{"ip", "netns", "exec", ns} }

// CheckNoDefaultRoute fails unless every namespace is without a default
// route (a packet meant for the lab's links can go nowhere else).
func CheckNoDefaultRoute(namespaces []string) error {
	for _, ns := range namespaces {
		out, err := exec.Command("ip", "-n", ns, "route", "show", "default").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			return fmt.Errorf("namespace %s has a default route or cannot tell (%v): %s", ns, err, out)
		}
	}
	return nil
}

// InNamespace runs fn on an OS thread moved into network namespace ns
// (/run/netns/ns): the sockets fn makes belong to ns for good. The thread
// is never given back to the runtime: it ends with fn.
func InNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// BannerIn reports whether an SSH server answers on addr, asked from
// inside network namespace ns.
func BannerIn(ns, addr string) bool {
	var conn net.Conn
	if err := InNamespace(ns, func() (err error) {
		conn, err = net.DialTimeout("tcp4", addr, time.Second)
		return err
	}); err != nil {
		return false
	}
	return readBanner(conn)
}
