package nut

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		name, line string
		want       []string
		wantErr    bool
	}{
		{name: "empty", line: "", want: nil},
		{name: "blanks", line: "  \t ", want: nil},
		{name: "bare", line: "OK", want: []string{"OK"}},
		{name: "var", line: `VAR ups ups.status "OB LB"`, want: []string{"VAR", "ups", "ups.status", "OB LB"}},
		{name: "empty quoted", line: `VAR ups ups.alarm ""`, want: []string{"VAR", "ups", "ups.alarm", ""}},
		{name: "escaped quote", line: `VAR u d "say \"hi\""`, want: []string{"VAR", "u", "d", `say "hi"`}},
		{name: "escaped backslash", line: `VAR u d "C:\\x"`, want: []string{"VAR", "u", "d", `C:\x`}},
		{name: "escape outside quotes", line: `a\ b c`, want: []string{"a b", "c"}},
		{name: "quote inside token", line: `ab"c d"e f`, want: []string{"abc de", "f"}},
		{name: "tabs and runs", line: "A\t\tB   C", want: []string{"A", "B", "C"}},
		{name: "utf8", line: `UPS ups "Büro – Keller"`, want: []string{"UPS", "ups", "Büro – Keller"}},
		{name: "hash is literal", line: `VAR u d "#1" #2`, want: []string{"VAR", "u", "d", "#1", "#2"}},
		{name: "unterminated", line: `VAR u d "open`, wantErr: true},
		{name: "trailing backslash", line: `VAR u d \`, wantErr: true},
		{name: "backslash in open quote", line: `"abc\"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLine(tt.line)
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("ParseLine(%q) error = %v, want ErrProtocol", tt.line, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLine(%q): %v", tt.line, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseLine(%q) mismatch (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "two words", `a"b`, `a\b`, `\`, `"`, "tab\there", "Ünïcode"} {
		got, err := ParseLine(Quote(s))
		if err != nil || len(got) != 1 || got[0] != s {
			t.Errorf("ParseLine(Quote(%q)) = %q, %v; want [%q]", s, got, err, s)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`VAR ups ups.status "OB LB"`, `BEGIN LIST VAR ups`, `ERR DATA-STALE`,
		`UPS ups "desc \"q\" \\"`, `a\ b`, `"unterminated`, `x\`, `""`, "\t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		toks, err := ParseLine(line)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("ParseLine(%q) error %v does not wrap ErrProtocol", line, err)
			}
			return
		}
		// Re-encoding the tokens must give back the same tokens.
		quoted := make([]string, len(toks))
		for i, tok := range toks {
			quoted[i] = Quote(tok)
		}
		again, err := ParseLine(strings.Join(quoted, " "))
		if err != nil {
			t.Fatalf("ParseLine(re-quoted %q): %v", toks, err)
		}
		if !cmp.Equal(toks, again, cmpEmptyNil) {
			t.Fatalf("round trip of %q: got %q, want %q", line, again, toks)
		}
	})
}

var cmpEmptyNil = cmp.Comparer(func(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
})
