package e2e

import (
	"bytes"
	"os"
	"sync"
	"time"
)

// tailer notes when each line of some log files appeared, by reading them
// every few milliseconds. upsslave stamps its lines in whole seconds; the
// time a line was first seen orders the timeline within that second.
type tailer struct {
	mu    sync.Mutex
	files map[string]*tailed
	stop  chan struct{}
	done  chan struct{}
}

type tailed struct {
	off     int64
	partial []byte
	seen    []time.Time // seen[i]: when line i appeared
}

// tailEvery is how often the tailer reads the files.
const tailEvery = 20 * time.Millisecond

func startTailer(paths ...string) *tailer {
	t := &tailer{files: map[string]*tailed{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, p := range paths {
		t.files[p] = &tailed{}
	}
	go func() {
		defer close(t.done)
		for {
			t.readAll()
			select {
			case <-t.stop:
				t.readAll()
				return
			case <-time.After(tailEvery):
			}
		}
	}()
	return t
}

func (t *tailer) readAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, f := range t.files {
		fh, err := os.Open(p)
		if err != nil {
			continue
		}
		fh.Seek(f.off, 0)
		buf := make([]byte, 64<<10)
		now := time.Now()
		for {
			n, err := fh.Read(buf)
			if n > 0 {
				f.off += int64(n)
				data := append(f.partial, buf[:n]...)
				for {
					i := bytes.IndexByte(data, '\n')
					if i < 0 {
						break
					}
					f.seen = append(f.seen, now)
					data = data[i+1:]
				}
				f.partial = append([]byte(nil), data...)
			}
			if err != nil || n == 0 {
				break
			}
		}
		fh.Close()
	}
}

// seenAt returns when line i of path appeared, if the tailer saw it.
func (t *tailer) seenAt(path string, i int) (time.Time, bool) {
	if t == nil {
		return time.Time{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.files[path]
	if f == nil || i >= len(f.seen) {
		return time.Time{}, false
	}
	return f.seen[i], true
}

// close stops the tailer after a last read. Idempotent.
func (t *tailer) close() {
	if t == nil {
		return
	}
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	<-t.done
}
