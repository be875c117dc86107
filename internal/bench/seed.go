package bench

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ErrNoSeedScript means the seed page holds no numbered "#!/bin/bash"
// listing of upsslave.
var ErrNoSeedScript = errors.New("no upsslave listing in the seed page")

// listingLine matches "  12 : text" in the seed page's numbered listing.
var listingLine = regexp.MustCompile(`^\s*(\d+) : ?(.*)$`)

// ExtractSeedScript returns the original bash upsslave from the seed page:
// the numbered listing that starts with "1 : #!/bin/bash", without the
// numbers.
func ExtractSeedScript(page string) (string, error) {
	var out []string
	want := 1
	for _, line := range strings.Split(page, "\n") {
		m := listingLine.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil || m[1] != strconv.Itoa(want) {
			if len(out) > 0 {
				break
			}
			continue
		}
		if want == 1 && !strings.HasPrefix(m[2], "#!/bin/bash") {
			continue
		}
		out = append(out, m[2])
		want++
	}
	if len(out) < 10 {
		return "", ErrNoSeedScript
	}
	return strings.Join(out, "\n") + "\n", nil
}

// SeedTarget says where the adapted seed script points.
type SeedTarget struct {
	WorkDir    string // replaces the script's local /etc/ups/ files
	User, Host string // replaces MASTERUSER bssh@192.168.2.5
	Port       string
	Identity   string
	KnownHosts string
	// FlagDir and AckDir are the master's directories over SFTP; the
	// script's /home/bssh/{onl,battsdf,sdf} go to FlagDir, sdfok to AckDir
	// (the lab's FlagDir is read-only for the account, as DESIGN §2 wants).
	FlagDir, AckDir string
	// Shutdown replaces "shutdown -h +0"; it is used as is (quote it).
	Shutdown string
}

// AdaptSeed rewrites the original script only as far as needed to run it
// against the lab: local paths, the master's paths and account, scp's key,
// port and known_hosts (and BatchMode, so it never prompts), and the
// shutdown command. Every rewrite must apply, or it fails: a changed seed
// must not be measured silently half-adapted.
func AdaptSeed(script string, t SeedTarget) (string, error) {
	scpOpts := fmt.Sprintf("scp -P %s -i %s -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes ",
		t.Port, t.Identity, t.KnownHosts)
	rewrites := []struct {
		what     string
		re       *regexp.Regexp
		repl     string
		minCount int
	}{
		{"local files", regexp.MustCompile(`"/etc/ups/`), `"` + strings.TrimSuffix(t.WorkDir, "/") + `/`, 6},
		{"master ack path", regexp.MustCompile(`"/home/bssh/sdfok"`), `"` + strings.TrimSuffix(t.AckDir, "/") + `/sdfok"`, 1},
		{"master flag paths", regexp.MustCompile(`"/home/bssh/`), `"` + strings.TrimSuffix(t.FlagDir, "/") + `/`, 3},
		{"master account", regexp.MustCompile(`MASTERUSER="[^"]*"`), `MASTERUSER="` + t.User + `@` + t.Host + `"`, 1},
		{"scp options", regexp.MustCompile(`(?m)(^|[\s;])scp `), "${1}" + scpOpts, 5},
		{"shutdown command", regexp.MustCompile(`shutdown -h \+0`), t.Shutdown, 1},
	}
	for _, r := range rewrites {
		n := len(r.re.FindAllStringIndex(script, -1))
		if n < r.minCount {
			return "", fmt.Errorf("adapt seed: %s: %d matches of %s, want at least %d", r.what, n, r.re, r.minCount)
		}
		script = r.re.ReplaceAllString(script, r.repl)
	}
	return script, nil
}
