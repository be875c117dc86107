package slave

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nutslave/nutslave/internal/golden"
	"github.com/nutslave/nutslave/internal/poweroff"
	"github.com/nutslave/nutslave/notify"
)

// TestStatusGolden: `upsslave status --local` as JSON and as text, for a
// slave that watched one UPS, acknowledged and started its shutdown, and
// logged an event for another: a changed field name, type or time format
// shows up as a diff.
func TestStatusGolden(t *testing.T) {
	local := time.Local
	time.Local = time.UTC // the text shows local times
	defer func() { time.Local = local }()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	conf := filepath.Join(dir, "upsslave.conf")
	if err := os.WriteFile(conf, []byte("MASTER=nutslave@192.0.2.5\nNAME=web1\nSTATEDIR="+dir+"/state\nLOGFILE=none\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Version = "1.4.0-test"
	if err := os.Mkdir(cfg.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	store := &Store{Dir: cfg.StateDir, Boot: poweroff.BootID()}
	set := func(ups string, fn func(st *State)) {
		if _, err := store.Update(context.Background(), ups, func(st *State) error { fn(st); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	set("ups@master", func(st *State) {
		st.Power, st.PowerSince = notify.PowerBattery, now.Add(-3*time.Minute)
		st.Job, st.JobSince, st.WaitSince = notify.JobDone, now.Add(-time.Minute), now.Add(-2*time.Minute)
		st.UnreachableSince = now.Add(-90 * time.Second)
		st.LastEvent, st.LastEventAt = notify.OnBatt, now.Add(-3*time.Minute)
		st.Acked, st.Reason = now.Add(-61*time.Second), "the master raised sdf"
	})
	set("", func(st *State) {
		st.Power, st.LastEvent, st.LastEventAt = notify.PowerOnline, notify.Event("COMMOK"), now.Add(-time.Hour)
	})
	marker := "boot=" + store.Boot + "\ntime=" + now.Add(-time.Minute).Format(time.RFC3339Nano) + "\nstate=started\n"
	if err := os.WriteFile(filepath.Join(cfg.StateDir, "shutdown.started"), []byte(marker), 0o644); err != nil {
		t.Fatal(err)
	}

	r, err := CollectStatus(context.Background(), cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	r.Time, r.Host = now, "web1"
	var js, text bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	r.WriteText(&text)
	golden.Check(t, "testdata/status/local.json", dir, js.Bytes())
	golden.Check(t, "testdata/status/local.txt", dir, text.Bytes())

	var back StatusReport
	dec := json.NewDecoder(&js)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, &back); diff != "" {
		t.Errorf("the JSON does not decode to the report (-report +decoded):\n%s", diff)
	}
}
