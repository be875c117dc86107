// Command testsum runs "go test -json ..." and prints what a person needs
// from it: one line per package, the whole output of every failing test,
// and at the end one line per skipped test with its reason, then the
// counts. With -skips FILE it also appends the skip lines to FILE.
//
// It is the reaper of every process the tests start: a process still
// alive when go test has ended (a daemon's child that outlived a test) is
// named, killed, and fails the run. It exits non-zero when go test or any
// test failed, or something was left running.
//
//	go run ./internal/testsum [-skips FILE] go test -race -json ./...
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/nutslave/nutslave/internal/lab"
)

// event is one line of go test -json (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// summary accumulates the stream.
type summary struct {
	out            io.Writer
	outputs        map[string][]string // by package + "\x00" + test
	passed, failed int
	skips          []skip
	failedPkgs     []string
}

type skip struct{ pkg, test, reason string }

func newSummary(out io.Writer) *summary {
	return &summary{out: out, outputs: map[string][]string{}}
}

// noise is test2json's framing, which the per-test results already say.
func noise(line string) bool {
	t := strings.TrimSpace(line)
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME", "--- PASS", "--- SKIP"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return t == "PASS" || t == ""
}

func (s *summary) add(e event) {
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "output", "build-output":
		if e.Test == "" {
			s.packageLine(e.Package, e.Output)
			return
		}
		s.outputs[key] = append(s.outputs[key], e.Output)
	case "pass":
		if e.Test != "" {
			s.passed++
		}
		delete(s.outputs, key)
	case "skip":
		if e.Test != "" {
			s.skips = append(s.skips, skip{e.Package, e.Test, reason(s.outputs[key])})
		}
		delete(s.outputs, key)
	case "fail":
		if e.Test == "" {
			s.failedPkgs = append(s.failedPkgs, e.Package)
			return
		}
		s.failed++
		for _, l := range s.outputs[key] {
			if !strings.HasPrefix(strings.TrimSpace(l), "=== ") {
				fmt.Fprint(s.out, l)
			}
		}
		delete(s.outputs, key)
	}
}

// packageLine prints a package's own output ("ok pkg 1.2s", "FAIL pkg",
// what TestMain prints), leaving out test2json's framing.
func (s *summary) packageLine(pkg, line string) {
	if noise(line) {
		return
	}
	fmt.Fprint(s.out, line)
}

// reason is a skipped test's own words: its output less the framing.
func reason(lines []string) string {
	var parts []string
	for _, l := range lines {
		if noise(l) {
			continue
		}
		t := strings.TrimSpace(l)
		// "file_test.go:12: why" → "why (file_test.go:12)"
		if loc, why, ok := strings.Cut(t, ": "); ok && strings.Contains(loc, ".go:") {
			t = why + " (" + loc + ")"
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " / ")
}

func (s *summary) finish(skipFile string) {
	sort.Slice(s.skips, func(i, j int) bool {
		if s.skips[i].pkg != s.skips[j].pkg {
			return s.skips[i].pkg < s.skips[j].pkg
		}
		return s.skips[i].test < s.skips[j].test
	})
	if len(s.skips) > 0 {
		fmt.Fprintf(s.out, "\nskipped tests (%d):\n", len(s.skips))
		var lines strings.Builder
		for _, k := range s.skips {
			fmt.Fprintf(&lines, "SKIP %s %s: %s\n", strings.TrimPrefix(k.pkg, "github.com/nutslave/nutslave/"), k.test, k.reason)
		}
		fmt.Fprint(s.out, lines.String())
		if skipFile != "" {
			if err := appendFile(skipFile, lines.String()); err != nil {
				fmt.Fprintln(os.Stderr, "testsum:", err)
			}
		}
	}
	if len(s.failedPkgs) > 0 {
		fmt.Fprintf(s.out, "\nfailed packages: %s\n", strings.Join(s.failedPkgs, " "))
	}
	fmt.Fprintf(s.out, "\ngo-test: %d passed, %d failed, %d skipped\n", s.passed, s.failed, len(s.skips))
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	return errors.Join(err, f.Close())
}

func main() {
	args := os.Args[1:]
	var skipFile string
	if len(args) > 1 && args[0] == "-skips" {
		skipFile, args = args[1], args[2:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: testsum [-skips FILE] go test -json [flags] [packages]")
		os.Exit(2)
	}
	if err := lab.AdoptOrphans(); err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(2)
	}
	s := newSummary(os.Stdout)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Println(sc.Text()) // not JSON: pass it on
			continue
		}
		s.add(e)
	}
	runErr := cmd.Wait()
	left := lab.Leftovers(5 * time.Second)
	s.finish(skipFile)
	for _, l := range left {
		fmt.Fprintln(os.Stderr, "testsum: left running by the tests (killed):", l)
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "testsum:", strings.Join(args, " ")+":", runErr)
	}
	if runErr != nil || s.failed > 0 || len(s.failedPkgs) > 0 || len(left) > 0 {
		os.Exit(1)
	}
}
