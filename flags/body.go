package flags

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Field is one key=value line of a flag body.
type Field struct{ Key, Value string }

// Format renders fields as key=value lines, in the given order. Keys are
// lower case words; values lose newlines so a body stays one field a line.
func Format(fields ...Field) []byte {
	var b bytes.Buffer
	for _, f := range fields {
		v := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r < 0x20 {
				return ' '
			}
			return r
		}, f.Value)
		fmt.Fprintf(&b, "%s=%s\n", f.Key, v)
	}
	if b.Len() > MaxBody {
		b.Truncate(MaxBody)
	}
	return b.Bytes()
}

// Stamp returns the fields every flag carries: time= (RFC 3339) and host=,
// followed by extra.
func Stamp(now time.Time, host string, extra ...Field) []byte {
	return Format(append([]Field{{"time", now.Format(time.RFC3339)}, {"host", host}}, extra...)...)
}

// Parse reads a flag body leniently: key=value lines are kept, anything
// else is skipped and counted in bad. Bodies are informational only; a
// flag's meaning is its presence.
func Parse(body []byte) (fields map[string]string, bad int) {
	fields = map[string]string{}
	if len(body) > MaxBody {
		body = body[:MaxBody]
	}
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !validField(k) {
			bad++
			continue
		}
		fields[k] = v
	}
	return fields, bad
}

func validField(k string) bool {
	if k == "" || len(k) > 32 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Summary renders a parsed body as one log-friendly line, keys sorted.
func Summary(body []byte) string {
	fields, bad := Parse(body)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys)+1)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, fields[k]))
	}
	if bad > 0 {
		parts = append(parts, fmt.Sprintf("unparsed_lines=%d", bad))
	}
	return strings.Join(parts, " ")
}
