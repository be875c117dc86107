package flagger

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nutslave/nutslave/internal/eventlog"
	"github.com/nutslave/nutslave/internal/golden"
	"github.com/nutslave/nutslave/internal/master"
)

// statusNow is the fixed "now" of the status scenarios.
var statusNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// scenario is one master as the status sees it: its configuration, the
// UPS file, the state, and the files in FLAGDIR and ACKDIR with their
// ages at statusNow.
type scenario struct {
	name   string
	slaves []string
	stages string
	ups    string
	state  master.State
	flags  []file
	acks   []file
}

type file struct {
	name string
	age  time.Duration
	body string
}

var scenarios = []scenario{
	{
		// sdf 40s ago: web1 acknowledged, web2 went first on its own stage,
		// db1's acknowledgement is from an earlier outage and its last
		// heartbeat is stale with problems, nas was never seen, "extra"
		// acknowledged without being listed, "spare" is only a heartbeat.
		name:   "outage",
		slaves: []string{"web1", "db1"},
		stages: "web2:70 nas:300s",
		ups:    "ups.status: OB DISCHRG\nbattery.charge: 35\nbattery.runtime: 420\n",
		state: master.State{
			Power: master.PowerOnBattery, PowerSince: statusNow.Add(-5 * time.Minute), LowCount: 2,
			LastReading: statusNow.Add(-2 * time.Second), Phase: master.PhaseCommitted,
			Reason: "charge 35% below STDWCHARGE 40% for 2 consecutive readings", SDFAt: statusNow.Add(-40 * time.Second),
			Stages: map[string]master.StageState{"web2": {SDFAt: statusNow.Add(-3 * time.Minute), Reason: "stage web2: charge 69% below 70%"}},
		},
		flags: []file{{name: "battsdf", age: 40 * time.Second}, {name: "sdf", age: 40 * time.Second},
			{name: "battsdf.web2", age: 3 * time.Minute}, {name: "sdf.web2", age: 3 * time.Minute}},
		acks: []file{
			{name: "sdfok.web1", age: 30 * time.Second},
			{name: "sdfok.web2", age: 170 * time.Second},
			{name: "sdfok.db1", age: 2 * time.Hour},
			{name: "sdfok.extra", age: 20 * time.Second},
			{name: "seen.web1", age: 45 * time.Second, body: "time=2026-03-01T11:59:15Z\nhost=web1\nversion=1.4.0\nresult=ok\n"},
			{name: "seen.db1", age: 10 * time.Minute, body: "time=2026-03-01T11:50:00Z\nhost=db1\nversion=1.3.2\nresult=problem\nproblems=error: IDENTITY /etc/nut/upsslave.key does not exist; warning: upsslave.conf is world-readable\n"},
			{name: "seen.spare", age: time.Minute, body: "time=2026-03-01T11:59:00Z\nhost=spare\nversion=1.4.0\nresult=ok\n"},
		},
	},
	{
		// On line, a drill 5s old: web1 answered it after 1.5s, db1's
		// answer is to another drill.
		name:   "drill",
		slaves: []string{"web1", "db1"},
		ups:    "ups.status: OL CHRG\nbattery.charge: 100\nbattery.runtime: 3600\n",
		state:  master.State{Power: master.PowerOnLine, PowerSince: statusNow.Add(-48 * time.Hour), LastReading: statusNow.Add(-2 * time.Second)},
		flags: []file{{name: "onl", age: 48 * time.Hour},
			{name: "drill", age: 5 * time.Second, body: "id=drill-1772366395.000000000\nreason=shutdown drill\n"}},
		acks: []file{
			{name: "drillok.web1", age: 3500 * time.Millisecond, body: "drill=drill-1772366395.000000000\n"},
			{name: "drillok.db1", age: 4 * time.Second, body: "drill=drill-1700000000.000000000\n"},
			{name: "seen.web1", age: 20 * time.Second, body: "time=2026-03-01T11:59:40Z\nversion=1.4.0\nresult=ok\n"},
			{name: "seen.db1", age: 30 * time.Second, body: "time=2026-03-01T11:59:30Z\nversion=1.4.0\nresult=ok\n"},
		},
	},
	{
		// SLAVES and STAGES empty, no reading: a plain sdfok and one named
		// acknowledgement both count.
		name: "anyone",
		state: master.State{Power: master.PowerOnBattery, PowerSince: statusNow.Add(-10 * time.Minute), Phase: master.PhaseCommitted,
			NoReadingSince: statusNow.Add(-time.Minute), Reason: "no reading for DEADTIME while on battery", SDFAt: statusNow.Add(-20 * time.Second)},
		flags: []file{{name: "battsdf", age: 20 * time.Second}, {name: "sdf", age: 20 * time.Second}},
		acks:  []file{{name: "sdfok", age: 10 * time.Second}, {name: "sdfok.web9", age: 5 * time.Second}},
	},
}

// setUp lays out sc in a temporary directory and returns its engine, with
// its host and version fixed, and the directory.
func (sc scenario) setUp(t *testing.T) (*Flagger, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, "ups.txt")
	cfg.SSHUser = "nutslave-test-nonexistent"
	cfg.Slaves = sc.slaves
	cfg.StdwCharge = 40
	cfg.Version = "1.4.0-test"
	var err error
	if cfg.Stages, err = master.ParseStages(sc.stages); err != nil {
		t.Fatal(err)
	}
	makeDirs(t, cfg)
	if sc.ups != "" {
		writeAged(t, filepath.Join(dir, "ups.txt"), file{body: sc.ups})
	}
	for _, f := range sc.flags {
		writeAged(t, filepath.Join(cfg.FlagDir, f.name), f)
	}
	for _, f := range sc.acks {
		writeAged(t, filepath.Join(cfg.AckDir, f.name), f)
	}
	f, err := New(cfg, eventlog.Discard())
	if err != nil {
		t.Fatal(err)
	}
	f.host = "master1"
	st := sc.state
	st.Boot = f.boot
	if err := saveState(cfg, st); err != nil {
		t.Fatal(err)
	}
	return f, dir
}

func writeAged(t *testing.T, path string, f file) {
	t.Helper()
	if err := os.WriteFile(path, []byte(f.body), 0o644); err != nil {
		t.Fatal(err)
	}
	at := statusNow.Add(-f.age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// collectScenario builds the status of sc at statusNow, with the reading's
// time and duration fixed.
func collectScenario(t *testing.T, sc scenario) (*MasterStatus, string) {
	t.Helper()
	f, dir := sc.setUp(t)
	r := f.src.Read(context.Background())
	r.Time = statusNow.Add(-250 * time.Microsecond)
	s, err := f.collect(context.Background(), r, 250*time.Microsecond, statusNow)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// TestStatusGolden: the JSON, the text and the metrics of each scenario
// are the golden files: a changed field name, type, unit or roster rule
// shows up as a diff.
func TestStatusGolden(t *testing.T) {
	local := time.Local
	time.Local = time.UTC // the text shows local times
	defer func() { time.Local = local }()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			s, dir := collectScenario(t, sc)
			var js, text, prom bytes.Buffer
			if err := s.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			s.WriteText(&text)
			if err := s.Metrics().Encode(&prom); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "testdata/status/"+sc.name+".json", dir, js.Bytes())
			golden.Check(t, "testdata/status/"+sc.name+".txt", dir, text.Bytes())
			golden.Check(t, "testdata/status/"+sc.name+".prom", dir, prom.Bytes())
		})
	}
}

// TestStatusJSONRoundTrip: the JSON decodes back into the same status,
// so every field has a JSON name and a type that survives it.
func TestStatusJSONRoundTrip(t *testing.T) {
	for _, sc := range scenarios {
		s, _ := collectScenario(t, sc)
		var b bytes.Buffer
		if err := s.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		var back MasterStatus
		dec := json.NewDecoder(&b)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		if diff := cmp.Diff(s, &back); diff != "" {
			t.Errorf("%s: the JSON does not decode to the status (-status +decoded):\n%s", sc.name, diff)
		}
	}
}

// TestMetricsPromtool pipes each scenario's metrics through Prometheus's
// own linter, `promtool check metrics` (Debian package prometheus).
func TestMetricsPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; .ci/deps.sh installs it): " + err.Error())
	}
	for _, sc := range scenarios {
		s, dir := collectScenario(t, sc)
		path := filepath.Join(dir, "nutslave.prom")
		if err := s.Metrics().WriteFile(path); err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = in
		out, err := cmd.CombinedOutput()
		in.Close()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("%s: promtool check metrics: %v\n%s", sc.name, err, out)
		}
	}
}

// TestStatusTextKeepsHead: a FLAGDIR that cannot be used still shows the
// source, the reading and the state before the error.
func TestStatusTextKeepsHead(t *testing.T) {
	f, _ := scenarios[0].setUp(t)
	if err := os.Chmod(f.cfg.FlagDir, 0o777); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	err := Status(context.Background(), f.cfg, false, &b)
	if err == nil {
		t.Fatalf("a world-writable FLAGDIR was accepted:\n%s", b.String())
	}
	for _, want := range []string{"source:", "reading:  status=\"OB DISCHRG\"", "phase=committed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := Status(context.Background(), f.cfg, true, &b); err == nil || b.Len() > 0 {
		t.Errorf("--json with an unusable FLAGDIR: err %v, output %q; want an error and no output", err, b.String())
	}
}
