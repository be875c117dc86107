package flags_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/nutslave/nutslave/flags"
)

func TestValidSlaveName(t *testing.T) {
	for _, ok := range []string{"a", "web1", "db.example.org", "host_2", "x-y", "-lead", strings.Repeat("n", 64)} {
		if err := flags.ValidSlaveName(ok); err != nil {
			t.Errorf("ValidSlaveName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".hidden", "..", "a/b", "../x", "a b", "tab\tx", "é", "a\nb", "a\x00", strings.Repeat("n", 65)} {
		err := flags.ValidSlaveName(bad)
		if !errors.Is(err, flags.ErrInvalidName) {
			t.Errorf("ValidSlaveName(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}

func TestNameValid(t *testing.T) {
	for _, ok := range []flags.Name{flags.Onl, flags.BattSDF, flags.SDF, flags.Drill, flags.AnonAck,
		"sdfok.web1", "seen.web1", "drillok.web1", flags.Ack("a.b"), flags.Seen("x"), flags.DrillAck("y"),
		"sdf.web1", "battsdf.db1", flags.StagedSDF("a"), flags.StagedBattSDF("b")} {
		if err := ok.Valid(); err != nil {
			t.Errorf("Name(%q).Valid() = %v, want nil", ok, err)
		}
	}
	for _, bad := range []flags.Name{"", "SDF", "sdf.", "battsdf.", "sdf..x", "sdf./x", ".sdf", ".sdf.1.2.tmp", "sdfok.", "seen.", "drillok.", "seen", "drillok",
		"sdfok..x", "sdfok./x", "sdfok.a/b", "../sdf", "/sdf", "sdf/", "sdfok.a b", "onl\n", "battsdf ", "lock",
		flags.Name("sdfok." + strings.Repeat("n", 65))} {
		if err := bad.Valid(); !errors.Is(err, flags.ErrInvalidName) {
			t.Errorf("Name(%q).Valid() = %v, want ErrInvalidName", bad, err)
		}
	}
}

func TestStagedSlave(t *testing.T) {
	for _, tc := range []struct {
		in      flags.Name
		slave   string
		verdict flags.Name
		ok      bool
	}{
		{"sdf.web1", "web1", flags.SDF, true},
		{"battsdf.db1", "db1", flags.BattSDF, true},
		{"sdf", "", "", false},
		{"sdfok.web1", "", "", false},
		{"sdf..hidden", "", "", false},
	} {
		slave, verdict, ok := flags.StagedSlave(tc.in)
		if slave != tc.slave || verdict != tc.verdict || ok != tc.ok {
			t.Errorf("StagedSlave(%q) = %q, %q, %v; want %q, %q, %v", tc.in, slave, verdict, ok, tc.slave, tc.verdict, tc.ok)
		}
	}
}

func TestSlaveOf(t *testing.T) {
	for _, tc := range []struct {
		fn     func(flags.Name) (string, bool)
		fnName string
		in     flags.Name
		slave  string
		ok     bool
	}{
		{flags.AckSlave, "AckSlave", "sdfok.web1", "web1", true},
		{flags.AckSlave, "AckSlave", "sdfok", "", true}, // anonymous seed-style ack
		{flags.AckSlave, "AckSlave", "sdfok.", "", false},
		{flags.AckSlave, "AckSlave", "sdfok..x", "", false},
		{flags.AckSlave, "AckSlave", "sdf", "", false},
		{flags.AckSlave, "AckSlave", "seen.web1", "", false},
		{flags.AckSlave, "AckSlave", "sdfokweb1", "", false},
		{flags.SeenSlave, "SeenSlave", "seen.web1", "web1", true},
		{flags.SeenSlave, "SeenSlave", "seen", "", false},
		{flags.SeenSlave, "SeenSlave", "sdfok.web1", "", false},
		{flags.DrillSlave, "DrillSlave", "drillok.web1", "web1", true},
		{flags.DrillSlave, "DrillSlave", "drillok", "", false},
		{flags.DrillSlave, "DrillSlave", "drill", "", false},
	} {
		slave, ok := tc.fn(tc.in)
		if slave != tc.slave || ok != tc.ok {
			t.Errorf("%s(%q) = %q, %v; want %q, %v", tc.fnName, tc.in, slave, ok, tc.slave, tc.ok)
		}
	}
	for _, s := range []string{"web1", "a.b-c_d"} {
		if got, ok := flags.AckSlave(flags.Ack(s)); !ok || got != s {
			t.Errorf("AckSlave(Ack(%q)) = %q, %v", s, got, ok)
		}
		if got, ok := flags.SeenSlave(flags.Seen(s)); !ok || got != s {
			t.Errorf("SeenSlave(Seen(%q)) = %q, %v", s, got, ok)
		}
		if got, ok := flags.DrillSlave(flags.DrillAck(s)); !ok || got != s {
			t.Errorf("DrillSlave(DrillAck(%q)) = %q, %v", s, got, ok)
		}
	}
}

func TestSortInfos(t *testing.T) {
	infos := []flags.Info{{Name: "sdfok.b"}, {Name: "onl"}, {Name: "sdfok.a"}, {Name: "battsdf"}}
	flags.SortInfos(infos)
	var got []flags.Name
	for _, in := range infos {
		got = append(got, in.Name)
	}
	if diff := cmp.Diff([]flags.Name{"battsdf", "onl", "sdfok.a", "sdfok.b"}, got); diff != "" {
		t.Errorf("SortInfos (-want +got):\n%s", diff)
	}
}

func TestStampFormat(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	got := string(flags.Stamp(now, "master", flags.Field{Key: "reason", Value: "charge 12 < 50\nrm -rf"}, flags.Field{Key: "ups", Value: "ups@localhost"}))
	want := "time=2024-05-06T07:08:09Z\nhost=master\nreason=charge 12 < 50 rm -rf\nups=ups@localhost\n"
	if got != want {
		t.Errorf("Stamp = %q, want %q", got, want)
	}
	if got := flags.Format(flags.Field{Key: "x", Value: strings.Repeat("y", 2*flags.MaxBody)}); len(got) != flags.MaxBody {
		t.Errorf("Format of a huge field = %d bytes, want it cut to MaxBody (%d)", len(got), flags.MaxBody)
	}
	if got := flags.Format(); len(got) != 0 {
		t.Errorf("Format() = %q, want empty", got)
	}
}

func TestParseBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		fields map[string]string
		bad    int
	}{
		{"empty (touch)", "", map[string]string{}, 0},
		{"stamp", "time=2024-05-06T07:08:09Z\nhost=master\n", map[string]string{"time": "2024-05-06T07:08:09Z", "host": "master"}, 0},
		{"junk lines counted", "host=a\nnot a field\nHOST=b\n=x\nreason=a=b\n", map[string]string{"host": "a", "reason": "a=b"}, 3},
		{"CRLF and blanks", "host=a\r\n\r\n  \nups=u@h\r\n", map[string]string{"host": "a", "ups": "u@h"}, 0},
		{"later wins", "host=a\nhost=b\n", map[string]string{"host": "b"}, 0},
		{"long key", strings.Repeat("k", 33) + "=v\n", map[string]string{}, 1},
		{"dotted key", "battery.charge=12\n", map[string]string{"battery.charge": "12"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields, bad := flags.Parse([]byte(tc.in))
			if diff := cmp.Diff(tc.fields, fields); diff != "" || bad != tc.bad {
				t.Errorf("Parse(%q): bad = %d, want %d; fields (-want +got):\n%s", tc.in, bad, tc.bad, diff)
			}
		})
	}
	// Bodies over MaxBody are cut: a field past the limit is not seen.
	body := strings.Repeat("#\n", flags.MaxBody) + "host=late\n"
	if fields, _ := flags.Parse([]byte(body)); fields["host"] != "" {
		t.Errorf("Parse read a field past MaxBody")
	}
}

func TestSummary(t *testing.T) {
	got := flags.Summary([]byte("reason=LB\nhost=master\njunk\n"))
	if want := `host="master" reason="LB" unparsed_lines=1`; got != want {
		t.Errorf("Summary = %q, want %q", got, want)
	}
	if got := flags.Summary(nil); got != "" {
		t.Errorf("Summary(empty) = %q, want empty", got)
	}
}

// cleanField reports whether a key and value survive Format then Parse
// unchanged: a key Parse accepts, and a value without control characters,
// invalid UTF-8 or trailing white space.
func cleanField(k, v string) bool {
	if k == "" || len(k) > 32 || len(k)+len(v)+2 > flags.MaxBody || !utf8.ValidString(v) {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	for _, c := range v {
		if c < 0x20 {
			return false
		}
	}
	return strings.TrimRightFunc(v, unicode.IsSpace) == v
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("time=2024-05-06T07:08:09Z\nhost=master\n"), "reason", "charge 12 < 50")
	f.Add([]byte(""), "host", "")
	f.Add([]byte("=\n==\nk=v=w\n\x00\xff"), "k", "a=b")
	f.Add([]byte("a\r\nb=c\r\n"), "ups", "ups@localhost:3493")
	f.Fuzz(func(t *testing.T, body []byte, k, v string) {
		fields, bad := flags.Parse(body)
		if bad < 0 || len(fields)+bad > strings.Count(string(body), "\n")+1 {
			t.Fatalf("Parse(%q) = %d fields, %d bad: more than its lines", body, len(fields), bad)
		}
		for key := range fields {
			if !cleanField(key, "") {
				t.Fatalf("Parse(%q) kept key %q", body, key)
			}
		}
		_ = flags.Summary(body)

		formatted := flags.Format(flags.Field{Key: k, Value: v})
		if len(formatted) > flags.MaxBody {
			t.Fatalf("Format made %d bytes, over MaxBody", len(formatted))
		}
		// Keys are the caller's constants; only values come from outside.
		if !cleanField(k, "") {
			return
		}
		if strings.Count(string(formatted), "\n") > 1 {
			t.Fatalf("Format(%q, %q) = %q: a value spans lines", k, v, formatted)
		}
		if !cleanField(k, v) {
			return
		}
		got, bad := flags.Parse(formatted)
		if bad != 0 || len(got) != 1 || got[k] != v {
			t.Fatalf("Parse(Format(%q=%q)) = %q, bad %d", k, v, got, bad)
		}
	})
}
