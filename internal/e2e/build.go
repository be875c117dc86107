// Package e2e plays whole power outages through the real programs: Debian's
// dummy-ups, upsd and upsmon (started by package lab), OpenSSH's sshd as
// the master's SFTP-only flag account, upsslave as every slave's NOTIFYCMD
// and SHUTDOWNCMD, and upsflags on the master (or, where upsflags cannot be
// built, a stand-in that writes the flags with package flags).
//
// Nothing here ever shuts a machine down: every shutdown command is a
// recorder that appends a time-stamped line to a file, and the assertions
// count those lines. The package backs the end-to-end tests of this
// directory and the demo program in ./demo (make demo).
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Module is the import path of the module whose commands Build compiles.
const Module = "github.com/nutslave/nutslave"

// Binaries are the programs under test.
type Binaries struct {
	// Upsslave is the slave command.
	Upsslave string
	// Upsflags is the master command; empty when it could not be built or
	// does not offer the commands the scenarios use (see UpsflagsMissing).
	Upsflags string
	// UpsflagsMissing says why Upsflags is empty.
	UpsflagsMissing string
	// UpsflagsNote says why Upsflags was built without cgo, if it was.
	UpsflagsNote string
}

// upsflagsCommands are the subcommands the scenarios expect upsflags to
// offer before they use it instead of the stand-in master.
var upsflagsCommands = []string{"run", "watch", "status", "reset", "check"}

// goTool returns the go command on PATH, else the one under $GOROOT.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		return filepath.Join(root, "bin", "go")
	}
	return "go"
}

// Build compiles upsslave (without cgo, as the slave package ships it) and,
// if it builds and offers run, watch, status, reset and check, upsflags,
// into dir. Failing to build upsslave is an error; failing to build
// upsflags is reported in UpsflagsMissing.
func Build(ctx context.Context, dir string) (Binaries, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("build: %w", err)
	}
	var b Binaries
	b.Upsslave = filepath.Join(dir, "upsslave")
	if err := goBuild(ctx, b.Upsslave, Module+"/cmd/upsslave", "CGO_ENABLED=0"); err != nil {
		return Binaries{}, err
	}
	flagsBin := filepath.Join(dir, "upsflags")
	if err := goBuild(ctx, flagsBin, Module+"/cmd/upsflags"); err != nil {
		// Without gcc or libusb's headers (make demo installs neither),
		// upsflags builds without its USB source; the lab reads the UPS
		// through upsd anyway.
		if err2 := goBuild(ctx, flagsBin, Module+"/cmd/upsflags", "CGO_ENABLED=0"); err2 != nil {
			b.UpsflagsMissing = err.Error()
			return b, nil
		}
		b.UpsflagsNote = "built without cgo (no USB source): " + err.Error()
	}
	if missing := missingCommands(ctx, flagsBin); len(missing) > 0 {
		b.UpsflagsMissing = "upsflags --help does not list: " + strings.Join(missing, ", ")
		return b, nil
	}
	b.Upsflags = flagsBin
	return b, nil
}

func goBuild(ctx context.Context, out, pkg string, env ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 400 {
			msg = msg[:400] + "..."
		}
		return fmt.Errorf("go build %s: %w: %s", pkg, err, msg)
	}
	return nil
}

// missingCommands lists the upsflagsCommands that "upsflags --help" does
// not mention.
func missingCommands(ctx context.Context, bin string) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--help")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	out, _ := cmd.CombinedOutput()
	var missing []string
	for _, c := range upsflagsCommands {
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && strings.TrimSuffix(f[0], ",") == c {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, c)
		}
	}
	return missing
}

// ErrUnexpected is wrapped by the errors of Check: the outage did not go
// as the scenario expected.
var ErrUnexpected = errors.New("unexpected outage")
