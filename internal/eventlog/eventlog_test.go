package eventlog

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLineFormat: the line people and the tests grep, whatever slog level
// or value kind a caller uses.
func TestLineFormat(t *testing.T) {
	var out strings.Builder
	at := time.Date(2026, 12, 5, 10, 0, 0, 250e6, time.UTC)
	l := Open(Options{Tag: "upsslave", Stderr: &out, Now: func() time.Time { return at }})
	l.Info("on battery: waiting", "ups", "ups@master", "msg", "UPS ups@master on battery", "empty", "")
	l.Warn("master not answering; retrying", "err", errors.New("dial tcp: refused"), "after", 1500*time.Millisecond)
	l.Error("cannot read ACKDIR", "n", 3, "ok", true)
	l.Crit("shutting down", "reason", "master raised sdf")
	l.At(slog.LevelWarn+1, "between warning and error")
	l.Slog().With("slave", "web2").Warn("through slog", "k", "v w")
	pid := os.Getpid()
	want := fmt.Sprintf(`2026-12-05T10:00:00.250Z upsslave[%[1]d]: info: on battery: waiting ups=ups@master msg="UPS ups@master on battery" empty=""
2026-12-05T10:00:00.250Z upsslave[%[1]d]: warning: master not answering; retrying err="dial tcp: refused" after=1.5s
2026-12-05T10:00:00.250Z upsslave[%[1]d]: error: cannot read ACKDIR n=3 ok=true
2026-12-05T10:00:00.250Z upsslave[%[1]d]: critical: shutting down reason="master raised sdf"
2026-12-05T10:00:00.250Z upsslave[%[1]d]: warning: between warning and error
2026-12-05T10:00:00.250Z upsslave[%[1]d]: warning: through slog k="v w" slave=web2
`, pid)
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}

func TestDiscard(t *testing.T) {
	l := Discard()
	l.Crit("nothing", "k", "v") // must not panic or write
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}
