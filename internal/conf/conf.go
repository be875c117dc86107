// Package conf parses nutslave's configuration files: NUT-style KEY=VALUE
// lines, as in nut.conf and the original upsslave script.
//
// The format is deliberately small and strict:
//
//	# a comment
//	MASTER=nutslave@192.168.2.5
//	POLL=250ms            # durations: 60, 60s, 250ms, 2m, 1h
//	SHUTDOWNCMD="/sbin/shutdown -h +0"
//
// Values may be quoted with double or single quotes; an unquoted '#' after
// white space starts a comment. Every error names the file and the line.
package conf

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// MaxFileSize caps how much of a configuration file is read.
const MaxFileSize = 64 << 10

// Sentinel errors carried by [*Error].
var (
	// ErrUnknownKey means a key the program does not know; usually a typo.
	ErrUnknownKey = errors.New("unknown key")
	// ErrDuplicateKey means a key was set twice in one file.
	ErrDuplicateKey = errors.New("key set more than once")
	// ErrSyntax means a line is not KEY=VALUE.
	ErrSyntax = errors.New("malformed line")
	// ErrMissing means a required key is absent.
	ErrMissing = errors.New("required key missing")
	// ErrBadValue means a value does not parse for its key.
	ErrBadValue = errors.New("bad value")
	// ErrTooLarge means the file exceeds [MaxFileSize].
	ErrTooLarge = errors.New("file too large")
)

// Entry is one KEY=VALUE assignment and where it was found.
type Entry struct {
	Key   string
	Value string
	Line  int
}

// Error describes a problem at a place in a configuration file.
type Error struct {
	Path string
	Line int // 0 when the problem is not on one line (a missing key)
	Key  string
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Parse reads KEY=VALUE lines from r. path is used in error messages only.
// Keys must be upper case letters, digits and underscores.
func Parse(path string, r io.Reader) ([]Entry, error) {
	// Read the whole file first, so an oversized file is reported as
	// such, not as a syntax error in the line the limit cuts.
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	if len(data) > MaxFileSize {
		return nil, &Error{Path: path, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxFileSize)}
	}
	var out []Entry
	seen := map[string]int{}
	err = Lines(data, func(n int, line string) error {
		key, rest, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		key = strings.TrimPrefix(key, "export ")
		if !ok || !validKey(key) {
			return &Error{Path: path, Line: n, Err: fmt.Errorf("%w: want KEY=VALUE, e.g. POLL=250ms", ErrSyntax)}
		}
		val, err := unquote(strings.TrimSpace(rest))
		if err != nil {
			return &Error{Path: path, Line: n, Key: key, Err: fmt.Errorf("%w: %v", ErrSyntax, err)}
		}
		if prev, dup := seen[key]; dup {
			return &Error{Path: path, Line: n, Key: key, Err: fmt.Errorf("%w (first on line %d)", ErrDuplicateKey, prev)}
		}
		seen[key] = n
		out = append(out, Entry{Key: key, Value: val, Line: n})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Lines calls fn with each line of data that is neither blank nor a
// comment ('#' first), with white space trimmed and its number counted
// from 1, and stops at the first error fn returns. Configuration files
// and upsc's output (SOURCE=file:) are read with it.
func Lines(data []byte, fn func(n int, line string) error) error {
	n := 0
	for l := range strings.Lines(string(data)) {
		n++
		line := strings.TrimSpace(l)
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	return nil
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i, c := range k {
		switch {
		case c >= 'A' && c <= 'Z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// unquote removes one level of shell-like quoting and a trailing comment.
func unquote(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	switch q := s[0]; q {
	case '"', '\'':
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return "", fmt.Errorf("unterminated %c quote", q)
		}
		val, tail := s[1:1+end], strings.TrimSpace(s[2+end:])
		if tail != "" && tail[0] != '#' {
			return "", fmt.Errorf("unexpected text after closing quote: %q", tail)
		}
		return val, nil
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = s[:i]
	} else if i := strings.Index(s, "\t#"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\"'`$\\") {
		return "", fmt.Errorf("quote the value: %q has shell characters", s)
	}
	return s, nil
}

// ParseDuration parses 60 (seconds), 60s, 250ms, 2m or 1h. Negative
// durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration, want e.g. 60s or 250ms")
	}
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration, want e.g. 60s, 250ms or 2m", s)
	}
	return d, nil
}

// ParseBool accepts yes/no, true/false, on/off and 1/0.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0", "":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", s)
}

// A Setter stores one key's value into a configuration struct.
type Setter func(value string) error

// Apply runs the setter for each entry. An entry whose key has no setter is
// an [ErrUnknownKey] error; a setter's error becomes an [ErrBadValue] error
// naming the line.
func Apply(path string, entries []Entry, keys map[string]Setter) error {
	for _, e := range entries {
		set, ok := keys[e.Key]
		if !ok {
			return &Error{Path: path, Line: e.Line, Key: e.Key, Err: fmt.Errorf("%w%s", ErrUnknownKey, suggest(e.Key, keys))}
		}
		if err := set(e.Value); err != nil {
			return &Error{Path: path, Line: e.Line, Key: e.Key, Err: fmt.Errorf("%w: %v", ErrBadValue, err)}
		}
	}
	return nil
}

// suggest names the known key closest to k, for typos like STDWCHARG.
func suggest(k string, keys map[string]Setter) string {
	best, bestDist := "", 3
	for cand := range keys {
		if d := distance(k, cand); d < bestDist || (d == bestDist && cand < best) {
			best, bestDist = cand, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// SplitCommand splits a command line into argv the way a shell would split
// words, without running a shell: white space separates words, single and
// double quotes group them, a backslash escapes the next character outside
// single quotes. No expansion of any kind happens.
func SplitCommand(s string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		quote rune
		esc   bool
	)
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			esc, inArg = true, true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inArg = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if esc || quote != 0 {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, errors.New("empty command")
	}
	return args, nil
}

// AbsPath is a [Setter] for an absolute path, cleaned.
func AbsPath(p *string) Setter {
	return func(v string) error {
		if !filepath.IsAbs(v) {
			return fmt.Errorf("%q is not an absolute path", v)
		}
		*p = filepath.Clean(v)
		return nil
	}
}

// Duration is a [Setter] for a duration ([ParseDuration]).
func Duration(p *time.Duration) Setter {
	return func(v string) (err error) { *p, err = ParseDuration(v); return err }
}

// Bool is a [Setter] for yes/no ([ParseBool]).
func Bool(p *bool) Setter {
	return func(v string) (err error) { *p, err = ParseBool(v); return err }
}

// Command is a [Setter] for a command line ([SplitCommand]).
func Command(p *[]string) Setter {
	return func(v string) (err error) { *p, err = SplitCommand(v); return err }
}

// OptionalDuration is a [Setter] for a duration that "" or 0 turns off.
func OptionalDuration(p *time.Duration) Setter {
	return func(v string) (err error) {
		if v == "" || v == "0" {
			*p = 0
			return nil
		}
		*p, err = ParseDuration(v)
		return err
	}
}

// OptionalPath is a [Setter] for an absolute path that "" or "none" turns
// off, such as LOGFILE.
func OptionalPath(p *string) Setter {
	return func(v string) error {
		if v == "" || v == "none" {
			*p = ""
			return nil
		}
		return AbsPath(p)(v)
	}
}

// UID is a [Setter] for a numeric user id, such as FLAGOWNER.
func UID(p *uint32) Setter {
	return func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a numeric uid, e.g. 0 for root", v)
		}
		*p = uint32(n)
		return nil
	}
}
