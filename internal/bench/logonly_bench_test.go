package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkLogOnlyEvent runs the built upsslave once per op as upsmon's
// NOTIFYCMD for REPLBATT (log only, no master contact) and reports its
// peak RSS. It needs no root; nsbench slave measures the same with the
// lab's sshd for the record.
func BenchmarkLogOnlyEvent(b *testing.B) {
	if _, err := exec.LookPath("go"); err != nil {
		b.Skipf("no go tool to build upsslave: %v", err)
	}
	dir := b.TempDir()
	upsslave, _, err := Build(context.Background(), "../..", dir)
	if err != nil {
		b.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o750); err != nil {
		b.Fatal(err)
	}
	conf := filepath.Join(dir, "upsslave.conf")
	body := "MASTER=nutslave@127.0.0.1:9\nNAME=bench\nSTATEDIR=" + state + "\nLOGFILE=" + filepath.Join(dir, "log") + "\nSHUTDOWNCMD=/bin/false\n"
	if err := os.WriteFile(conf, []byte(body), 0o640); err != nil {
		b.Fatal(err)
	}
	var peak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, err := startCmd(&exec.Cmd{
			Path: upsslave,
			Args: []string{upsslave, "UPS ups@master battery needs to be replaced"},
			Env:  []string{"NOTIFYTYPE=REPLBATT", "UPSNAME=ups@master", "UPSSLAVE_CONF=" + conf},
		}, "")
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Wait(10 * time.Second); err != nil || p.ExitCode() != 0 {
			b.Fatalf("upsslave REPLBATT: exit %d, %v", p.ExitCode(), err)
		}
		_, rss := p.Usage()
		peak = max(peak, rss)
	}
	b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
}
