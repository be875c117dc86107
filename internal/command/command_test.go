package command

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/nutslave/nutslave/internal/conf"
)

func TestReportCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		hint string
	}{
		{nil, ExitOK, ""},
		{errors.New("boom"), ExitFailure, ""},
		{&UsageError{Msg: "bad", Hint: "try this"}, ExitUsage, "try this"},
		{fmt.Errorf("x: %w", ErrNotConfigured), ExitNotConfigured, ""},
		{&conf.Error{Path: "f", Line: 3, Err: conf.ErrUnknownKey}, ExitNotConfigured, ""},
		{fmt.Errorf("open: %w", fs.ErrPermission), ExitPermission, ""},
		{&Hinted{Err: fmt.Errorf("x: %w", fs.ErrPermission), Hint: "run as root"}, ExitPermission, "run as root"},
	} {
		var b bytes.Buffer
		if got := Report("prog", &b, tc.err, nil); got != tc.code {
			t.Errorf("Report(%v) = %d, want %d", tc.err, got, tc.code)
		}
		if tc.err != nil && !strings.HasPrefix(b.String(), "prog: error: ") {
			t.Errorf("Report(%v) printed %q", tc.err, b.String())
		}
		if tc.hint != "" && !strings.Contains(b.String(), "prog: hint: "+tc.hint) {
			t.Errorf("Report(%v) printed %q, want hint %q", tc.err, b.String(), tc.hint)
		}
	}
}

func TestNotifyArgs(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		conf, msg string
	}{
		{[]string{"upsslave", "UPS x on battery"}, "", "UPS x on battery"},
		{[]string{"upsslave", "--config", "/etc/x.conf", "UPS x on battery"}, "/etc/x.conf", "UPS x on battery"},
		{[]string{"upsslave", "--config=/etc/x.conf", "check"}, "/etc/x.conf", "check"},
		{[]string{"upsslave", "-c", "/c", "extra", "last"}, "/c", "last"},
		{[]string{"upsslave"}, "", ""},
	} {
		c, m := notifyArgs(tc.args)
		if c != tc.conf || m != tc.msg {
			t.Errorf("notifyArgs(%q) = %q, %q; want %q, %q", tc.args, c, m, tc.conf, tc.msg)
		}
	}
}

func TestMan(t *testing.T) {
	app := &cli.App{
		Name:        "prog",
		Usage:       "does things",
		UsageText:   "prog [--config FILE] COMMAND",
		Description: "First paragraph\nwraps.\n\n   KEY   an indented table\n.starts with a dot\n",
		Version:     "1.0",
		Flags:       []cli.Flag{&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "read `FILE`", EnvVars: []string{"PROG_CONF"}}},
		Commands: []*cli.Command{
			{Name: "check", Usage: "check it"},
			{Name: "man", Hidden: true},
		},
	}
	page := Man(app)
	for _, want := range []string{
		".TH PROG 8", ".SH NAME\nprog \\- does things", ".nf\n   KEY   an indented table\n", "\\&.starts with a dot",
		"\\fB\\-\\-config\\fR, \\fB\\-c\\fR \\fIFILE\\fR\nread FILE (environment: PROG_CONF)", ".SS check\n.PP\ncheck it",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("man page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, ".SS man") {
		t.Error("hidden command in the man page")
	}
}
