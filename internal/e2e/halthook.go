package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nutslave/nutslave/internal/lab"
)

// NutShutdownHook is Debian's nut-server hook, run by systemd at the very
// end of every halt: if "upsmon -K" finds POWERDOWNFLAG it runs
// "upsdrvctl shutdown".
const NutShutdownHook = "/lib/systemd/system-shutdown/nutshutdown"

// CheckHaltHook reports whether RunHaltHook can run here.
func CheckHaltHook() error {
	if _, err := os.Stat(NutShutdownHook); err != nil {
		return fmt.Errorf("the halt hook of Debian's nut-server is not here: %w", err)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		return fmt.Errorf("unshare (util-linux) runs the hook in a private mount namespace: %w", err)
	}
	return nil
}

// UpsmonK is "upsmon -K" on the upsmon.conf in confDir: is POWERDOWNFLAG
// armed? (the hook's own test)
func UpsmonK(confDir string) bool {
	cmd := exec.Command(lab.UpsmonPath, "-K")
	cmd.Env = []string{"NUT_CONFPATH=" + confDir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	return cmd.Run() == nil
}

// RunHaltHook runs Debian's nutshutdown as systemd does at the end of a
// halt, in a private mount namespace where /sbin/upsdrvctl, systemctl,
// reboot, poweroff and halt are a recorder and /etc/nut/nut.conf says
// MODE=netserver (and no POWEROFF_WAIT, which would make the hook reboot
// the machine), reading upsmon.conf from confDir. The recorder and its log
// go into dir (created). It returns what the recorder saw: one
// "upsdrvctl ARGS" (or "systemctl ARGS", …) line per call. If a bind
// mount fails, the hook does not run. The real /etc/killpower, nut.conf
// and upsdrvctl are never touched.
func RunHaltHook(confDir, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	log := filepath.Join(dir, "upsdrvctl.calls")
	os.Remove(log)
	rec := filepath.Join(dir, "recorder")
	if err := os.WriteFile(rec, []byte("#!/bin/sh\necho \"$(basename \"$0\") $*\" >> '"+log+"'\n"), 0o755); err != nil {
		return "", err
	}
	if err := hookCallsOnly(NutShutdownHook, "/sbin/upsdrvctl"); err != nil {
		return "", err
	}
	nutConf := filepath.Join(dir, "nut.conf")
	if err := os.WriteFile(nutConf, []byte("MODE=netserver\n"), 0o644); err != nil {
		return "", err
	}
	// The reboot and poweroff commands are recorded too: should a hook
	// ever find another reason to reboot than POWEROFF_WAIT, the log
	// shows it instead of the machine doing it.
	script := strings.Join([]string{
		"set -e",
		`mount --bind "$1" /sbin/upsdrvctl`,
		`for c in /bin/systemctl /sbin/reboot /sbin/poweroff /sbin/halt; do`,
		`  if [ -e "$c" ]; then mount --bind "$1" "$c"; fi`,
		`done`,
		`mount --bind "$2" /etc/nut/nut.conf`,
		`exec "$3"`,
	}, "\n")
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", rec, nutConf, NutShutdownHook)
	cmd.Env = []string{"NUT_CONFPATH=" + confDir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("the halt hook in its namespace: %w: %s", err, out)
	}
	b, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(b), err
}

// upsdrvctlRE finds the hook's calls of upsdrvctl, with their path.
var upsdrvctlRE = regexp.MustCompile(`[^\s"'$;|&()]*upsdrvctl\b`)

// hookCallsOnly fails unless every upsdrvctl the hook names is path, the
// one replaced by the recorder: a hook that ran another one would cut the
// power of the machine's real UPS.
func hookCallsOnly(hook, path string) error {
	b, err := os.ReadFile(hook)
	if err != nil {
		return err
	}
	for _, m := range upsdrvctlRE.FindAllString(string(b), -1) {
		if m != path {
			return fmt.Errorf("%s calls %s, not %s (replaced by the recorder): not run", hook, m, path)
		}
	}
	return nil
}
