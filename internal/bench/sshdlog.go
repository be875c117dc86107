package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// LogCounts counts what sshd (LogLevel VERBOSE) logged about connections.
type LogCounts struct {
	// Connections: "Connection from …" (TCP connections sshd handed to a
	// child, after MaxStartups let them through).
	Connections int
	// Accepted: "Accepted publickey for …" (logins).
	Accepted int
	// Dropped: "drop connection #N … past MaxStartups".
	Dropped int
	// ThrottleBegin and ThrottleEnd: "beginning MaxStartups throttling" and
	// "exited MaxStartups throttling".
	ThrottleBegin, ThrottleEnd int
}

// Add returns the sum of c and d.
func (c LogCounts) Add(d LogCounts) LogCounts {
	return LogCounts{
		Connections:   c.Connections + d.Connections,
		Accepted:      c.Accepted + d.Accepted,
		Dropped:       c.Dropped + d.Dropped,
		ThrottleBegin: c.ThrottleBegin + d.ThrottleBegin,
		ThrottleEnd:   c.ThrottleEnd + d.ThrottleEnd,
	}
}

// CountLog counts sshd log lines read from r.
func CountLog(r io.Reader) (LogCounts, error) {
	var c LogCounts
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "Connection from "):
			c.Connections++
		case strings.Contains(line, "Accepted publickey for "):
			c.Accepted++
		case strings.Contains(line, "drop connection #"):
			c.Dropped++
		case strings.Contains(line, "beginning MaxStartups throttling"):
			c.ThrottleBegin++
		case strings.Contains(line, "exited MaxStartups throttling"):
			c.ThrottleEnd++
		}
	}
	return c, sc.Err()
}

// A LogMark is a position in sshd's log.
type LogMark struct {
	path string
	off  int64
}

// MarkLog remembers the current end of the log at path.
func MarkLog(path string) (LogMark, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return LogMark{}, fmt.Errorf("sshd log: %w", err)
	}
	return LogMark{path: path, off: fi.Size()}, nil
}

// Since counts the lines written after the mark.
func (m LogMark) Since() (LogCounts, error) {
	f, err := os.Open(m.path)
	if err != nil {
		return LogCounts{}, fmt.Errorf("sshd log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(m.off, io.SeekStart); err != nil {
		return LogCounts{}, fmt.Errorf("sshd log: %w", err)
	}
	return CountLog(f)
}
