// Package eventlog writes nutslave's one-line-per-decision log to syslog
// (facility daemon, which journald also receives), to a log file, and to
// stderr when someone is watching it. upsmon may point stderr at
// /dev/null, so stderr is never the only destination.
package eventlog

import (
	"fmt"
	"io"
	"log/syslog"
	"os"
	"strings"
	"sync"
	"time"
)

// TimeFormat is RFC 3339 with milliseconds, so lines of one second keep
// their order when several logs are merged.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Level orders log lines by severity.
type Level int

const (
	Debug Level = iota
	Info
	Warning
	Error
	Critical
)

func (l Level) String() string {
	return [...]string{"debug", "info", "warning", "error", "critical"}[l]
}

// Logger writes each line to every destination it has.
type Logger struct {
	tag    string
	mu     sync.Mutex
	file   *os.File
	sys    *syslog.Writer
	stderr io.Writer
	now    func() time.Time
	// FileErr is the error from opening the log file, if any; the logger
	// still works without it.
	FileErr error
}

// Options choose the destinations.
type Options struct {
	Tag    string    // syslog tag and line prefix, e.g. "upsslave"
	File   string    // LOGFILE; "" for none
	Syslog bool      // send to syslog/journald
	Stderr io.Writer // nil for none
	Now    func() time.Time
}

// Open returns a logger. A log file or syslog that cannot be opened is not
// fatal: the failure is reported in FileErr and lines go elsewhere.
func Open(o Options) *Logger {
	l := &Logger{tag: o.Tag, stderr: o.Stderr, now: o.Now}
	if l.now == nil {
		l.now = time.Now
	}
	if o.File != "" {
		f, err := os.OpenFile(o.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		l.file, l.FileErr = f, err
	}
	if o.Syslog {
		if w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, o.Tag); err == nil {
			l.sys = w
		}
	}
	return l
}

// Discard is a logger that writes nowhere.
func Discard() *Logger { return &Logger{now: time.Now} }

// Log writes one line: an RFC 3339 timestamp, the tag and pid, the level,
// the message and key=value pairs.
func (l *Logger) Log(lvl Level, msg string, kv ...any) {
	if l == nil {
		return
	}
	body := format(lvl, msg, kv)
	l.mu.Lock()
	defer l.mu.Unlock()
	line := fmt.Sprintf("%s %s[%d]: %s\n", l.now().Format(TimeFormat), l.tag, os.Getpid(), body)
	if l.file != nil {
		l.file.WriteString(line)
	}
	if l.stderr != nil {
		io.WriteString(l.stderr, line)
	}
	if l.sys != nil {
		switch lvl {
		case Debug:
			l.sys.Debug(body)
		case Info:
			l.sys.Info(body)
		case Warning:
			l.sys.Warning(body)
		case Error:
			l.sys.Err(body)
		case Critical:
			l.sys.Crit(body)
		}
	}
}

func format(lvl Level, msg string, kv []any) string {
	var b strings.Builder
	b.WriteString(lvl.String())
	b.WriteString(": ")
	b.WriteString(msg)
	for i := 0; i+1 < len(kv); i += 2 {
		v := fmt.Sprint(kv[i+1])
		if v == "" || strings.ContainsAny(v, " \t\"=") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, " %v=%s", kv[i], v)
	}
	return b.String()
}

// Info logs at [Info].
func (l *Logger) Info(msg string, kv ...any) { l.Log(Info, msg, kv...) }

// Warn logs at [Warning].
func (l *Logger) Warn(msg string, kv ...any) { l.Log(Warning, msg, kv...) }

// Error logs at [Error].
func (l *Logger) Error(msg string, kv ...any) { l.Log(Error, msg, kv...) }

// Crit logs at [Critical].
func (l *Logger) Crit(msg string, kv ...any) { l.Log(Critical, msg, kv...) }

// Close closes the file and syslog connection.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
	if l.sys != nil {
		l.sys.Close()
		l.sys = nil
	}
	return nil
}
