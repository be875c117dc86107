package bench

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		p    float64
		want float64
	}{
		{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}, {0, 1},
	}
	for _, tt := range tests {
		if got := Percentile(sorted, tt.p); got != tt.want {
			t.Errorf("Percentile(1..10, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := Percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("Percentile(nil) = %v, want NaN", got)
	}
}

func TestSummarize(t *testing.T) {
	in := []float64{5, 1, 4, 2, 3}
	s := Summarize(in)
	if s.N != 5 || s.Min != 1 || s.Max != 5 || s.P50 != 3 || s.Mean != 3 {
		t.Errorf("Summarize = %+v", s)
	}
	if in[0] != 5 {
		t.Errorf("Summarize sorted its input: %v", in)
	}
	if e := Summarize(nil); e.N != 0 || !math.IsNaN(e.P50) || !math.IsNaN(e.Max) {
		t.Errorf("Summarize(nil) = %+v", e)
	}
}

func TestParseStat(t *testing.T) {
	// A name with spaces and a ')' must not shift the fields.
	line := "1234 (sshd: a) b) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 100 0 0"
	pt, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := ProcTimes{PPid: 77, Self: 3 * time.Second, Children: 100 * time.Millisecond}
	if pt != want {
		t.Errorf("parseStat = %+v, want %+v", pt, want)
	}
	for _, bad := range []string{"", "1 (x S 1", "1 (x) S 1 2 3"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func TestReadProcSelf(t *testing.T) {
	pt, err := ReadProc(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if pt.PPid != os.Getppid() {
		t.Errorf("PPid = %d, want %d", pt.PPid, os.Getppid())
	}
	if _, err := TreeCPU(os.Getpid()); err != nil {
		t.Errorf("TreeCPU(self): %v", err)
	}
	if _, err := ReadProc(-1); err == nil {
		t.Error("ReadProc(-1): no error")
	}
}

func TestParseVmRSS(t *testing.T) {
	kib, err := parseVmRSS(strings.NewReader("Name:\tx\nVmPeak:\t  9 kB\nVmRSS:\t    7260 kB\n"))
	if err != nil || kib != 7260 {
		t.Errorf("parseVmRSS = %d, %v; want 7260", kib, err)
	}
	if _, err := parseVmRSS(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Error("parseVmRSS without VmRSS: no error")
	}
}

func TestCountLog(t *testing.T) {
	log := `Server listening on 127.0.0.1 port 40713.
Connection from 127.0.0.1 port 50000 on 127.0.0.1 port 40713 rdomain ""
Accepted publickey for nutslave from 127.0.0.1 port 50000 ssh2: ED25519 SHA256:x
error: beginning MaxStartups throttling
drop connection #10 from [127.0.0.1]:50010 on [127.0.0.1]:40713 past MaxStartups
drop connection #11 from [127.0.0.1]:50011 on [127.0.0.1]:40713 past MaxStartups
exited MaxStartups throttling after 00:00:02, 2 connections dropped
Connection from 127.0.0.1 port 50012 on 127.0.0.1 port 40713 rdomain ""
`
	got, err := CountLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	want := LogCounts{Connections: 2, Accepted: 1, Dropped: 2, ThrottleBegin: 1, ThrottleEnd: 1}
	if got != want {
		t.Errorf("CountLog = %+v, want %+v", got, want)
	}
	if sum := got.Add(got); sum.Dropped != 4 || sum.Connections != 4 {
		t.Errorf("Add = %+v", sum)
	}
}

func TestLogMark(t *testing.T) {
	path := t.TempDir() + "/sshd.log"
	if err := os.WriteFile(path, []byte("Connection from 127.0.0.1 port 1 on x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := MarkLog(path)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("Accepted publickey for nutslave from 127.0.0.1\n")
	f.Close()
	got, err := m.Since()
	if err != nil {
		t.Fatal(err)
	}
	if got != (LogCounts{Accepted: 1}) {
		t.Errorf("Since = %+v, want one login and no connection", got)
	}
}

// page is a made-up seed page with the same shape as the real one: prose,
// and a numbered listing of a bash NOTIFYCMD.
const page = `Some prose.
   1 : #!/bin/sh
   2 : not this one

/etc/ups/upsslave

   1 : #!/bin/bash
   2 : UPSLOG="/etc/ups/upslog"
   3 : ONL="/etc/ups/onl"
   4 : BATTSDF="/etc/ups/battsdf"
   5 : SDF="/etc/ups/sdf"
   6 : SDFOK="/etc/ups/sdfok"
   7 : SDFOKEND="/etc/ups/sdfokend"
   8 : MASTERONL="/home/bssh/onl"
   9 : MASTERBATTSDF="/home/bssh/battsdf"
  10 : MASTERSDF="/home/bssh/sdf"
  11 : MASTERSDFOK="/home/bssh/sdfok"
  12 : MASTERUSER="bssh@192.168.2.5"
  13 : scp $MASTERUSER:$MASTERONL $ONL
  14 : scp $MASTERUSER:$MASTERBATTSDF $BATTSDF
  15 :         scp $MASTERUSER:$MASTERSDF $SDF
  16 : scp $MASTERUSER:$MASTERSDF $SDF
  17 : scp $SDFOK $MASTERUSER:$MASTERSDFOK
  18 :         shutdown -h +0

After the listing.
`

func TestExtractAndAdaptSeed(t *testing.T) {
	script, err := ExtractSeedScript(page)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(script, "#!/bin/bash\nUPSLOG=") || !strings.HasSuffix(script, "shutdown -h +0\n") || strings.Contains(script, "After") {
		t.Fatalf("ExtractSeedScript =\n%s", script)
	}
	out, err := AdaptSeed(script, SeedTarget{
		WorkDir: "/w/", User: "nutslave", Host: "127.0.0.1", Port: "2222",
		Identity: "/k", KnownHosts: "/kh", FlagDir: "/flags", AckDir: "/flags/acks",
		Shutdown: "'/rec' '/w/rec'",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`UPSLOG="/w/upslog"`, `MASTERONL="/flags/onl"`, `MASTERSDFOK="/flags/acks/sdfok"`,
		`MASTERUSER="nutslave@127.0.0.1"`,
		"        scp -P 2222 -i /k -o UserKnownHostsFile=/kh ",
		"        '/rec' '/w/rec'\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("adapted script lacks %q:\n%s", want, out)
		}
	}
	for _, gone := range []string{"/etc/ups/", "/home/bssh", "192.168", "shutdown -h"} {
		if strings.Contains(out, gone) {
			t.Errorf("adapted script still has %q", gone)
		}
	}
	if n := strings.Count(out, "BatchMode=yes"); n != 5 {
		t.Errorf("%d scp calls adapted, want 5", n)
	}
}

func TestAdaptSeedRefusesPartialMatch(t *testing.T) {
	if _, err := AdaptSeed("#!/bin/bash\necho hi\n", SeedTarget{}); err == nil {
		t.Error("AdaptSeed of an unrelated script: no error")
	}
	if _, err := ExtractSeedScript("no listing here"); err == nil {
		t.Error("ExtractSeedScript without a listing: no error")
	}
}

func TestRealSeedAdapts(t *testing.T) {
	b, err := os.ReadFile("../../../shared/seed/000_333b699870223773.txt")
	if err != nil {
		t.Skipf("seed page not beside the checkout: %v", err)
	}
	script, err := ExtractSeedScript(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AdaptSeed(script, SeedTarget{WorkDir: "/w", FlagDir: "/flags", AckDir: "/flags/acks", Shutdown: "true"}); err != nil {
		t.Fatal(err)
	}
}

func TestRecordedCountsCompleteLines(t *testing.T) {
	s := &Slave{Dir: t.TempDir()}
	if got, err := s.Recorded(); err != nil || len(got) != 0 {
		t.Fatalf("Recorded without a file = %v, %v", got, err)
	}
	// A recorder that created the file but has not written yet, then one
	// line complete and one in progress.
	for _, tt := range []struct {
		body string
		want int
	}{{"", 0}, {"1795654547508349197 24469 \n17956", 1}, {"1 2 \n3 4 \n", 2}} {
		if err := os.WriteFile(s.RecordFile(), []byte(tt.body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := s.Recorded()
		if err != nil || len(got) != tt.want {
			t.Errorf("Recorded(%q) = %v, %v; want %d times", tt.body, got, err, tt.want)
		}
	}
	os.WriteFile(s.RecordFile(), []byte("garbage\n"), 0o644)
	if _, err := s.Recorded(); err == nil {
		t.Error("Recorded(garbage): no error")
	}
}
