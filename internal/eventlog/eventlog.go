// Package eventlog writes nutslave's one-line-per-decision log through
// log/slog: a Handler formats each record as one line (an RFC 3339
// timestamp, the tag and pid, the level, the message and key=value pairs)
// and sends it to syslog (facility daemon, which journald also receives),
// to a log file, and to stderr when someone is watching it. upsmon may
// point stderr at /dev/null, so stderr is never the only destination.
package eventlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"strings"
	"sync"
	"time"
)

// TimeFormat is RFC 3339 with milliseconds, so lines of one second keep
// their order when several logs are merged.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// LevelCritical is above slog's levels: a decision that powers a machine
// off, or fails to. The levels written are debug, info, warning, error and
// critical.
const LevelCritical = slog.LevelError + 4

func levelName(l slog.Level) string {
	switch {
	case l >= LevelCritical:
		return "critical"
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warning"
	case l >= slog.LevelInfo:
		return "info"
	}
	return "debug"
}

// Options choose the destinations.
type Options struct {
	Tag    string    // syslog tag and line prefix, e.g. "upsslave"
	File   string    // LOGFILE; "" for none
	Syslog bool      // send to syslog/journald
	Stderr io.Writer // nil for none
	Now    func() time.Time
}

// Handler is the slog.Handler that writes the lines.
type Handler struct {
	d     *dests
	attrs []slog.Attr // from WithAttrs, written after the record's own
}

// dests are the destinations, shared by a handler and those derived from
// it.
type dests struct {
	tag    string
	mu     sync.Mutex
	file   *os.File
	sys    *syslog.Writer
	stderr io.Writer
	now    func() time.Time
}

// Enabled implements slog.Handler: every level is written.
func (h *Handler) Enabled(context.Context, slog.Level) bool { return h.d != nil }

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &Handler{d: h.d, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

// WithGroup implements slog.Handler; groups are not used by nutslave and
// are flattened.
func (h *Handler) WithGroup(string) slog.Handler { return h }

// Handle implements slog.Handler: one line to every destination.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	if h.d == nil {
		return nil
	}
	var b strings.Builder
	r.Attrs(func(a slog.Attr) bool { writeKV(&b, a.Key, a.Value.Resolve().Any()); return true })
	for _, a := range h.attrs {
		writeKV(&b, a.Key, a.Value.Resolve().Any())
	}
	h.d.write(r.Level, r.Message, b.String())
	return nil
}

// writeKV appends " key=value", quoting a value that is empty or holds
// white space, quotes or '='.
func writeKV(b *strings.Builder, key string, value any) {
	v := fmt.Sprint(value)
	if v == "" || strings.ContainsAny(v, " \t\"=") {
		v = fmt.Sprintf("%q", v)
	}
	fmt.Fprintf(b, " %s=%s", key, v)
}

// write sends one line: level, message and the formatted pairs.
func (d *dests) write(lvl slog.Level, msg, pairs string) {
	name := levelName(lvl)
	body := name + ": " + msg + pairs
	d.mu.Lock()
	defer d.mu.Unlock()
	line := fmt.Sprintf("%s %s[%d]: %s\n", d.now().Format(TimeFormat), d.tag, os.Getpid(), body)
	if d.file != nil {
		d.file.WriteString(line)
	}
	if d.stderr != nil {
		io.WriteString(d.stderr, line)
	}
	if d.sys != nil {
		switch name {
		case "debug":
			d.sys.Debug(body)
		case "info":
			d.sys.Info(body)
		case "warning":
			d.sys.Warning(body)
		case "error":
			d.sys.Err(body)
		default:
			d.sys.Crit(body)
		}
	}
}

// Logger writes lines through its Handler's destinations and format. Its
// methods format their key, value pairs directly, as Handle formats a
// record's: a slog.Logger would take the caller's program counter with
// runtime.Callers, and building records costs more besides; measured on
// upsslave's log-only event, which starts a process per upsmon event, the
// direct path keeps its start-up as it was before slog (BENCHMARKS.md).
// Slog returns a slog.Logger on the same handler, for code that wants one.
type Logger struct {
	h *Handler
	// FileErr is the error from opening the log file, if any; the logger
	// still works without it.
	FileErr error
}

// Open returns a logger. A log file or syslog that cannot be opened is not
// fatal: the failure is reported in FileErr and lines go elsewhere.
func Open(o Options) *Logger {
	d := &dests{tag: o.Tag, stderr: o.Stderr, now: o.Now}
	if d.now == nil {
		d.now = time.Now
	}
	l := &Logger{h: &Handler{d: d}}
	if o.File != "" {
		f, err := os.OpenFile(o.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		d.file, l.FileErr = f, err
	}
	if o.Syslog {
		if w, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, o.Tag); err == nil {
			d.sys = w
		}
	}
	return l
}

// Discard is a logger that writes nowhere.
func Discard() *Logger { return &Logger{h: &Handler{}} }

// Slog returns a slog.Logger writing through the same handler.
func (l *Logger) Slog() *slog.Logger { return slog.New(l.h) }

// At logs at lvl (the level a decision of notify or internal/master says).
// kv are key, value pairs, written as the Handler writes a record's.
func (l *Logger) At(lvl slog.Level, msg string, kv ...any) {
	if l == nil || l.h.d == nil {
		return
	}
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		writeKV(&b, fmt.Sprint(kv[i]), kv[i+1])
	}
	l.h.d.write(lvl, msg, b.String())
}

// Info logs at slog.LevelInfo.
func (l *Logger) Info(msg string, kv ...any) { l.At(slog.LevelInfo, msg, kv...) }

// Warn logs at slog.LevelWarn.
func (l *Logger) Warn(msg string, kv ...any) { l.At(slog.LevelWarn, msg, kv...) }

// Error logs at slog.LevelError.
func (l *Logger) Error(msg string, kv ...any) { l.At(slog.LevelError, msg, kv...) }

// Crit logs at LevelCritical.
func (l *Logger) Crit(msg string, kv ...any) { l.At(LevelCritical, msg, kv...) }

// Close closes the file and syslog connection.
func (l *Logger) Close() error {
	if l == nil || l.h.d == nil {
		return nil
	}
	d := l.h.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.file != nil {
		d.file.Close()
		d.file = nil
	}
	if d.sys != nil {
		d.sys.Close()
		d.sys = nil
	}
	return nil
}
