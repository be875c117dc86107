package flagger

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/master"
)

// TestStampVerdictsReadsTheFileClock: the time the master waits from is
// the sdf file's own time, not the fine clock's "now" at writing, which
// can be up to a file-clock tick later than the time an acknowledgement
// written right after it gets.
func TestStampVerdictsReadsTheFileClock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fd, err := flags.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	now := time.Now()
	// The file clock lags the fine one by part of a tick.
	fileTime := now.Add(-3 * time.Millisecond).Truncate(4 * time.Millisecond)
	for _, n := range []flags.Name{flags.SDF, flags.StagedSDF("web1")} {
		if err := fd.Set(ctx, n, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(dir, string(n)), fileTime, fileTime); err != nil {
			t.Fatal(err)
		}
	}
	st := master.State{SDFAt: now, Stages: map[string]master.StageState{"web1": {SDFAt: now}, "web2": {SDFAt: now}}}
	plan := master.Plan{SDF: master.Set}
	stages := []master.StagePlan{{Name: "web1", SDF: master.Set}, {Name: "web2"}}
	got := stampVerdicts(ctx, fd, st, plan, stages)
	if !got.SDFAt.Equal(fileTime) {
		t.Errorf("SDFAt = %v, want sdf's file time %v", got.SDFAt, fileTime)
	}
	if w := got.Stages["web1"].SDFAt; !w.Equal(fileTime) {
		t.Errorf("web1's SDFAt = %v, want sdf.web1's file time %v", w, fileTime)
	}
	if w := got.Stages["web2"].SDFAt; !w.Equal(now) {
		t.Errorf("web2 (no sdf.web2 written now) SDFAt = %v, want it unchanged %v", w, now)
	}
}
