package conf

import (
	"errors"
	"testing"
	"time"
)

func TestValidator(t *testing.T) {
	v := Validator{Path: "x.conf", Lines: map[string]int{"POLL": 3, "SDFWAIT": 5}}
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for no error
	}{
		{"poll in range", v.Poll(time.Second, time.Minute, 2*time.Second), ""},
		{"poll too short", v.Poll(time.Millisecond, time.Minute, time.Second), "x.conf:3: POLL: bad value: 1ms, want between 10ms and 1m"},
		{"poll too long", v.Poll(31*time.Second, 30*time.Second, time.Hour), "x.conf:3: POLL: bad value: 31s, want between 10ms and 30s"},
		{"deadtime below twice poll", v.Poll(time.Second, time.Minute, 1500*time.Millisecond), "x.conf: DEADTIME: bad value: 1.5s must be at least twice POLL (1s)"},
		{"positive", v.Positive("SDFWAIT", time.Second), ""},
		{"zero", v.Positive("SDFWAIT", 0), "x.conf:5: SDFWAIT: bad value: must be positive"},
	} {
		got := ""
		if tc.err != nil {
			got = tc.err.Error()
			if !errors.Is(tc.err, ErrBadValue) {
				t.Errorf("%s: %v is not ErrBadValue", tc.name, tc.err)
			}
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestShort(t *testing.T) {
	for d, want := range map[time.Duration]string{
		10 * time.Millisecond: "10ms", 30 * time.Second: "30s", time.Minute: "1m",
		90 * time.Second: "1m30s", 2 * time.Hour: "2h", time.Hour + time.Minute: "1h1m",
	} {
		if got := short(d); got != want {
			t.Errorf("short(%v) = %q, want %q", d, got, want)
		}
	}
}
