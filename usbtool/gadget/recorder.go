package gadget

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Recorder writes one line per command an emulated device receives, for a
// test to read back: "<RFC 3339 time with ms> <command>". A nil Recorder
// records nothing.
type Recorder struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewRecorder returns a Recorder writing to w.
func NewRecorder(w io.Writer) *Recorder { return &Recorder{w: w, now: time.Now} }

// Record writes one line; write errors are ignored, since a recording
// must never stop the device from answering.
func (r *Recorder) Record(format string, args ...any) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.w, "%s %s\n", r.now().UTC().Format("2006-01-02T15:04:05.000Z"), fmt.Sprintf(format, args...))
}
