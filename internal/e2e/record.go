package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// recorderScript stands in for every shutdown command: it appends one line,
// "<RFC 3339 time with nanoseconds> <arguments after the file>", to the file
// named by its first argument, and shuts nothing down.
const recorderScript = `#!/bin/sh
# nutslave e2e: records a shutdown instead of doing one.
f=$1
shift
printf '%s %s\n' "$(date +%Y-%m-%dT%H:%M:%S.%N%:z)" "$*" >> "$f"
`

// writeRecorder writes the recorder script as dir/record-shutdown.
func writeRecorder(dir string) (string, error) {
	p := filepath.Join(dir, "record-shutdown")
	if err := os.WriteFile(p, []byte(recorderScript), 0o755); err != nil {
		return "", fmt.Errorf("write recorder: %w", err)
	}
	return p, nil
}

// A Record is one call of a recorded shutdown command.
type Record struct {
	Time time.Time
	Args string
}

// ReadRecords returns the calls recorded in path; a missing file has none.
func ReadRecords(path string) ([]Record, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ts, args, _ := strings.Cut(sc.Text(), " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return recs, fmt.Errorf("%s: bad record %q", path, sc.Text())
		}
		recs = append(recs, Record{Time: t, Args: args})
	}
	return recs, sc.Err()
}
