package command

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/nutslave/nutslave/internal/conf"
)

// commonConfig is what LoadConfig fills in for a program.
type commonConfig struct {
	flagDir, ackDir, logFile, stateDir string
	dryRun                             bool
	next                               Chain
	lines                              map[string]int
	own                                string
}

func loadCommon(t *testing.T, text string) (commonConfig, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c := commonConfig{flagDir: "/flags", logFile: "/var/log/x.log"}
	validated := false
	keys := map[string]conf.Setter{"OWN": func(v string) error { c.own = v; return nil }}
	common := Common{FlagDir: &c.flagDir, AckDir: &c.ackDir, LogFile: &c.logFile, StateDir: &c.stateDir,
		DryRun: &c.dryRun, Next: &c.next, Lines: &c.lines}
	err := LoadConfig(path, keys, common, func() error {
		validated = true
		if c.lines == nil {
			t.Errorf("validate ran before the lines were set")
		}
		return nil
	})
	if err == nil && !validated {
		t.Errorf("LoadConfig did not validate")
	}
	return c, err
}

// TestLoadConfigCommonKeys: the keys both programs have, next to a
// program's own, and ACKDIR's default.
func TestLoadConfigCommonKeys(t *testing.T) {
	c, err := loadCommon(t, "OWN=yes\nFLAGDIR=/srv/flags/\nLOGFILE=\"\"\nSTATEDIR=/var/lib/x\nDRYRUN=yes\n"+
		"NOTIFYCMD_NEXT=\"/bin/echo a b\"\nNOTIFYCMD_NEXT_TIMEOUT=5s\n")
	if err != nil {
		t.Fatal(err)
	}
	want := commonConfig{flagDir: "/srv/flags", ackDir: "/srv/flags/acks", stateDir: "/var/lib/x", dryRun: true,
		next: Chain{Argv: []string{"/bin/echo", "a", "b"}, Timeout: 5 * time.Second}, own: "yes",
		lines: map[string]int{"OWN": 1, "FLAGDIR": 2, "LOGFILE": 3, "STATEDIR": 4, "DRYRUN": 5, "NOTIFYCMD_NEXT": 6, "NOTIFYCMD_NEXT_TIMEOUT": 7}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	c, err = loadCommon(t, "FLAGDIR=/srv/flags\nACKDIR=/srv/acks\n")
	if err != nil || c.ackDir != "/srv/acks" || c.logFile != "/var/log/x.log" {
		t.Errorf("ACKDIR set: ackDir %q, logFile %q, %v", c.ackDir, c.logFile, err)
	}
	for _, text := range []string{"ACKDIR=acks\n", "DRYRUN=perhaps\n", "NOTIFYCMD_NEXT_TIMEOUT=soon\n", "NOPE=1\n"} {
		if _, err := loadCommon(t, text); err == nil {
			t.Errorf("%q: no error", text)
		}
	}
}
