package conf

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Entry
	}{
		{"empty", "", nil},
		{"comments and blanks", "# comment\n\n   # indented\n\t\nPOLL=1s\n", []Entry{{"POLL", "1s", 5}}},
		{"spaces around =", "  POLL =  250ms  \n", []Entry{{"POLL", "250ms", 1}}},
		{"export", "export NAME=web1\n", []Entry{{"NAME", "web1", 1}}},
		{"empty value", "LOGFILE=\n", []Entry{{"LOGFILE", "", 1}}},
		{"double quotes", `SHUTDOWNCMD="/sbin/shutdown -h +0"`, []Entry{{"SHUTDOWNCMD", "/sbin/shutdown -h +0", 1}}},
		{"single quotes", `SHUTDOWNCMD='/bin/echo $HOME "x"'`, []Entry{{"SHUTDOWNCMD", `/bin/echo $HOME "x"`, 1}}},
		{"hash inside quotes", `REASON="a # b"`, []Entry{{"REASON", "a # b", 1}}},
		{"comment after quotes", `NAME="web 1"   # the web box`, []Entry{{"NAME", "web 1", 1}}},
		{"inline comment", "POLL=2m # two minutes\nDEADTIME=60\t# tab\n", []Entry{{"POLL", "2m", 1}, {"DEADTIME", "60", 2}}},
		{"hash without space is data", "MASTER=nut@host#1\n", []Entry{{"MASTER", "nut@host#1", 1}}},
		{"equals in value", "SOURCE=nut://ups@h:3493?a=b\n", []Entry{{"SOURCE", "nut://ups@h:3493?a=b", 1}}},
		{"CRLF", "A=1\r\nB=2\r\n", []Entry{{"A", "1", 1}, {"B", "2", 2}}},
		{"digits and underscore", "_X=1\nSTDW_CHARGE2=50\n", []Entry{{"_X", "1", 1}, {"STDW_CHARGE2", "50", 2}}},
		{"no final newline", "A=1", []Entry{{"A", "1", 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse("test.conf", strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		sentinel error
		line     int
		msg      string // substring of the full message
	}{
		{"no equals", "A=1\nPOLL 1s\n", ErrSyntax, 2, "x.conf:2: malformed line: want KEY=VALUE"},
		{"lower-case key", "poll=1s\n", ErrSyntax, 1, "x.conf:1: "},
		{"key starts with digit", "1A=1\n", ErrSyntax, 1, "x.conf:1: "},
		{"empty key", "=1\n", ErrSyntax, 1, "x.conf:1: "},
		{"key with dash", "STDW-CHARGE=1\n", ErrSyntax, 1, "x.conf:1: "},
		{"unterminated double", "\n\nA=\"abc\n", ErrSyntax, 3, `x.conf:3: A: malformed line: unterminated " quote`},
		{"unterminated single", "A='abc\n", ErrSyntax, 1, "unterminated ' quote"},
		{"text after quote", `A="a"b`, ErrSyntax, 1, "unexpected text after closing quote"},
		{"unquoted dollar", "SHUTDOWNCMD=echo $HOME\n", ErrSyntax, 1, "quote the value"},
		{"unquoted backslash", `A=a\b`, ErrSyntax, 1, "shell characters"},
		{"unquoted backtick", "A=`id`", ErrSyntax, 1, "shell characters"},
		{"duplicate", "# c\nPOLL=1s\nNAME=a\nPOLL=2s\n", ErrDuplicateKey, 4, "x.conf:4: POLL: key set more than once (first on line 2)"},
		{"duplicate via export", "A=1\nexport A=2\n", ErrDuplicateKey, 2, "first on line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.conf", strings.NewReader(tc.in))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse(%q) error = %v, want *Error", tc.in, err)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("Parse(%q) error = %v, want %v", tc.in, err, tc.sentinel)
			}
			if ce.Line != tc.line || ce.Path != "x.conf" {
				t.Errorf("Parse(%q) error at %s:%d, want x.conf:%d", tc.in, ce.Path, ce.Line, tc.line)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tc.in, err, tc.msg)
			}
		})
	}
}

func TestParseSizeLimit(t *testing.T) {
	// Exactly MaxFileSize is fine.
	pad := strings.Repeat("#", MaxFileSize-len("A=1\n")-1) + "\n"
	if _, err := Parse("big.conf", strings.NewReader("A=1\n"+pad)); err != nil {
		t.Errorf("Parse(%d bytes): %v, want success", MaxFileSize, err)
	}
	for _, tc := range []struct{ name, in string }{
		{"many comment lines", strings.Repeat("# just a comment line\n", MaxFileSize/10)},
		// The cut falls inside a key: the error must still be the size.
		{"many keys", func() string {
			var b strings.Builder
			for i := 0; b.Len() <= MaxFileSize; i++ {
				fmt.Fprintf(&b, "KEY_NUMBER_%07d=1\n", i)
			}
			return b.String()
		}()},
		{"one long line", "A=" + strings.Repeat("x", MaxFileSize+10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("big.conf", strings.NewReader(tc.in))
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("Parse(%d bytes) = %v, want ErrTooLarge", len(tc.in), err)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Path: "/etc/nut/upsslave.conf", Line: 3, Key: "POLL", Err: ErrBadValue}, "/etc/nut/upsslave.conf:3: POLL: bad value"},
		{&Error{Path: "u.conf", Key: "MASTER", Err: ErrMissing}, "u.conf: MASTER: required key missing"},
		{&Error{Path: "u.conf", Line: 1, Err: ErrSyntax}, "u.conf:1: malformed line"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if !errors.Is(tc.err, tc.err.Err) {
			t.Errorf("%v does not unwrap to its sentinel", tc.err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"60", 60 * time.Second},
		{"0", 0},
		{"60s", 60 * time.Second},
		{"250ms", 250 * time.Millisecond},
		{"2m", 2 * time.Minute},
		{"1h", time.Hour},
		{"1m30s", 90 * time.Second},
	} {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "-1s", "-5", "1x", "abc", "60 s", "1.5", "99999999999", "s"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		} else if in != "" && !strings.Contains(err.Error(), "e.g.") {
			t.Errorf("ParseDuration(%q) error %q gives no example", in, err)
		}
	}
}

func TestParseBool(t *testing.T) {
	for in, want := range map[string]bool{
		"yes": true, "YES": true, "true": true, "On": true, "1": true,
		"no": false, "false": false, "off": false, "0": false, "": false, "No": false,
	} {
		got, err := ParseBool(in)
		if err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"maybe", "2", "y", "t", " yes"} {
		if _, err := ParseBool(in); err == nil {
			t.Errorf("ParseBool(%q) succeeded, want an error", in)
		}
	}
}

func TestApply(t *testing.T) {
	var poll time.Duration
	var name string
	keys := map[string]Setter{
		"POLL":       func(v string) (err error) { poll, err = ParseDuration(v); return err },
		"NAME":       func(v string) error { name = v; return nil },
		"STDWCHARGE": func(string) error { return nil },
		"SDFWAIT":    func(string) error { return nil },
	}
	entries, err := Parse("u.conf", strings.NewReader("NAME=web1\nPOLL=250ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply("u.conf", entries, keys); err != nil {
		t.Fatal(err)
	}
	if poll != 250*time.Millisecond || name != "web1" {
		t.Errorf("Apply set POLL=%v NAME=%q, want 250ms web1", poll, name)
	}

	for _, tc := range []struct {
		name, in string
		sentinel error
		msg      string
	}{
		{"typo", "NAME=a\n\nSTDWCHARG=50\n", ErrUnknownKey, "u.conf:3: STDWCHARG: unknown key (did you mean STDWCHARGE?)"},
		{"typo in case of one letter", "POL=1s\n", ErrUnknownKey, "(did you mean POLL?)"},
		{"nothing close", "FROBNICATE=1\n", ErrUnknownKey, "u.conf:1: FROBNICATE: unknown key"},
		{"bad value", "NAME=a\nPOLL=soon\n", ErrBadValue, `u.conf:2: POLL: bad value: "soon" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := Parse("u.conf", strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			err = Apply("u.conf", entries, keys)
			if !errors.Is(err, tc.sentinel) {
				t.Fatalf("Apply(%q) = %v, want %v", tc.in, err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Apply(%q) = %q, want it to contain %q", tc.in, err, tc.msg)
			}
			if tc.name == "nothing close" && strings.Contains(err.Error(), "did you mean") {
				t.Errorf("Apply(%q) = %q, suggests an unrelated key", tc.in, err)
			}
		})
	}
}

func TestSuggestTieIsDeterministic(t *testing.T) {
	keys := map[string]Setter{"AB": nil, "AC": nil, "AD": nil}
	for range 20 {
		if got := suggest("AX", keys); got != " (did you mean AB?)" {
			t.Fatalf("suggest(AX) = %q, want the first of the equally close keys, AB", got)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"A", "", 1}, {"", "AB", 2}, {"POLL", "POLL", 0},
		{"STDWCHARG", "STDWCHARGE", 1}, {"KITTEN", "SITTING", 3}, {"SDFWAIT", "SDFWIAT", 2},
	} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "A=1\n", "# c\nPOLL=250ms # x\n", `SHUTDOWNCMD="/sbin/shutdown -h +0"`, "A='b'\nA=2\n",
		"export X=1", "a=b", "A=\"x", "A=$B", "A=1\r\nB=2", "=\n", "A=x #y\tz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		entries, err := Parse("f.conf", strings.NewReader(in))
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Path != "f.conf" {
				t.Fatalf("Parse error %v is not a *Error naming the file", err)
			}
			if ce.Line <= 0 && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Parse error %v carries no line", err)
			}
			return
		}
		seen := map[string]bool{}
		last := 0
		for _, e := range entries {
			if !validKey(e.Key) || seen[e.Key] {
				t.Fatalf("entry %+v: invalid or duplicate key", e)
			}
			seen[e.Key] = true
			if e.Line <= last {
				t.Fatalf("entry %+v: line numbers not increasing", e)
			}
			last = e.Line
			if strings.ContainsAny(e.Value, "\n") {
				t.Fatalf("entry %+v: value spans lines", e)
			}
		}
	})
}

func TestLines(t *testing.T) {
	var got []string
	data := []byte("# comment\r\n\nA=1\r\n  \t\n  # indented comment\nB = 2  \nlast without newline")
	err := Lines(data, func(n int, line string) error {
		got = append(got, fmt.Sprintf("%d:%s", n, line))
		return nil
	})
	want := []string{"3:A=1", "6:B = 2", "7:last without newline"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Lines = %q, %v; want %q", got, err, want)
	}
	stop := errors.New("stop")
	calls := 0
	if err := Lines(data, func(int, string) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("an error from fn: got %v after %d calls, want it after 1", err, calls)
	}
}
