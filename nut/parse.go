package nut

import (
	"errors"
	"strings"
)

var (
	errUnterminatedQuote = errors.New("unterminated quote")
	errTrailingBackslash = errors.New("backslash at end of line")
)

// ParseLine splits one protocol line (without its line ending) into tokens.
//
// Tokens are separated by spaces or tabs. A double quote starts or ends a
// quoted section, in which spaces are literal; a backslash makes the next
// character literal, inside or outside quotes. `""` is an empty token. So
// `VAR ups ups.status "OB \"LB\""` yields VAR, ups, ups.status and OB "LB".
// Errors wrap ErrProtocol.
func ParseLine(line string) ([]string, error) {
	var (
		toks    []string
		cur     strings.Builder
		inTok   bool // cur holds a token, possibly empty ("")
		inQuote bool
		escaped bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case c == '\\':
			escaped, inTok = true, true
		case c == '"':
			inQuote, inTok = !inQuote, true
		case !inQuote && (c == ' ' || c == '\t'):
			if inTok {
				toks = append(toks, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteByte(c)
			inTok = true
		}
	}
	switch {
	case escaped:
		return nil, &lineError{line, errTrailingBackslash}
	case inQuote:
		return nil, &lineError{line, errUnterminatedQuote}
	}
	if inTok {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

// Quote returns s as one protocol token: in double quotes, with backslashes
// and double quotes escaped. ParseLine(Quote(s)) yields s. Quote does not make
// a line break safe; requests refuse those.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// lineError is a malformed line; it wraps ErrProtocol and the reason.
type lineError struct {
	line string
	err  error
}

func (e *lineError) Error() string {
	l := e.line
	if len(l) > 80 {
		l = l[:80] + "..."
	}
	return "nut: protocol error: " + e.err.Error() + " in reply " + quoteForLog(l)
}

func (e *lineError) Unwrap() []error { return []error{ErrProtocol, e.err} }

// quoteForLog quotes s with control characters escaped, for error messages.
func quoteForLog(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
