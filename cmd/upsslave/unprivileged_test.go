package main

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/sshtest"
)

// TestRunsAsNutUser runs the real upsslave binary the way upsmon does on
// Debian: as the unprivileged nut user, through /bin/sh -c, with the
// config and key root:nut 0640. It acknowledges the master's sdf and runs
// its (recording) shutdown command.
func TestRunsAsNutUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a command as the nut user")
	}
	nut, err := user.Lookup("nut")
	if err != nil {
		t.Skip("no nut user (install nut-client): ", err)
	}
	uid, _ := strconv.Atoi(nut.Uid)
	gid, _ := strconv.Atoi(nut.Gid)
	// A root-owned 0755 base, so the nut user can reach what it needs.
	base, err := os.MkdirTemp("/var/tmp", "upsslave-nut-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	bin := filepath.Join(base, "upsslave")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv, err := sshtest.Start(filepath.Join(base, "ssh"), sshtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	for _, d := range []string{"flags", "acks", "state", "etc"} {
		os.MkdirAll(filepath.Join(base, d), 0o755)
	}
	os.Chown(filepath.Join(base, "state"), uid, gid)
	// The key and known_hosts as a package would install them.
	etc := filepath.Join(base, "etc")
	key, _ := os.ReadFile(srv.ClientKey)
	kh, _ := os.ReadFile(srv.KnownHosts)
	os.WriteFile(filepath.Join(etc, "upsslave.key"), key, 0o640)
	os.WriteFile(filepath.Join(etc, "upsslave.known_hosts"), kh, 0o644)
	os.Chown(filepath.Join(etc, "upsslave.key"), 0, gid)
	record := filepath.Join(base, "state", "shutdown.log")
	conf := strings.Join([]string{
		"MASTER=nutslave@" + srv.Addr,
		"NAME=nutslave1",
		"FLAGDIR=" + filepath.Join(base, "flags"),
		"ACKDIR=" + filepath.Join(base, "acks"),
		"STATEDIR=" + filepath.Join(base, "state"),
		"LOGFILE=" + filepath.Join(base, "state", "upsslave.log"),
		"POLL=20ms",
		`SHUTDOWNCMD="/bin/sh -c 'echo shutdown >> ` + record + `'"`,
	}, "\n") + "\n"
	confPath := filepath.Join(etc, "upsslave.conf")
	os.WriteFile(confPath, []byte(conf), 0o640)
	os.Chown(confPath, 0, gid)
	os.WriteFile(filepath.Join(base, "flags", "sdf"), []byte("time=now\n"), 0o644)

	cmd := exec.Command("/bin/sh", "-c", bin+` --config `+confPath+` "UPS ups@master: forced shutdown in progress"`)
	cmd.Env = []string{"NOTIFYTYPE=FSD", "UPSNAME=ups@master", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(base, "state", "upsslave.log"))
		t.Fatalf("upsslave as nut: %v\n%s\nlog:\n%s", err, out, log)
	}
	if _, err := os.Stat(filepath.Join(base, "acks", "sdfok.nutslave1")); err != nil {
		t.Fatalf("no acknowledgement: %v", err)
	}
	got, _ := os.ReadFile(record)
	if strings.Count(string(got), "shutdown") != 1 {
		t.Fatalf("shutdown recorded %q, want once", got)
	}
	st, err := os.Stat(filepath.Join(base, "state", "ups@master.state"))
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sys().(*syscall.Stat_t); int(s.Uid) != uid {
		t.Errorf("state file owned by uid %d, want nut (%d)", s.Uid, uid)
	}
}
