package command

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckChain(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		upsmon string // upsmon.conf; "-" for none
		next   []string
		want   []string // lines the check prints, in part
		errors int
	}{
		{"ours", "MONITOR ups@m 1 u p secondary\nNOTIFYCMD /usr/sbin/upsslave\n", nil,
			[]string{"ok: " + dir + "/upsmon.conf:2: NOTIFYCMD runs upsslave"}, 0},
		{"ours, quoted", "NOTIFYCMD \"/usr/sbin/upsslave\"\n", nil,
			[]string{"NOTIFYCMD runs upsslave"}, 0},
		{"someone else's is kept by NOTIFYCMD_NEXT", "MONITOR ups@m 1 u p secondary\nNOTIFYCMD /usr/sbin/upssched\n", nil,
			[]string{`warning: ` + dir + `/upsmon.conf:2: NOTIFYCMD is "/usr/sbin/upssched", not upsslave`,
				`set NOTIFYCMD_NEXT="/usr/sbin/upssched" in /etc/nut/upsslave.conf and NOTIFYCMD /usr/sbin/upsslave in`}, 0},
		{"none while upsmon monitors", "MONITOR ups@m 1 u p secondary\n", nil,
			[]string{"has no NOTIFYCMD: upsmon's events do not reach upsslave; add: NOTIFYCMD /usr/sbin/upsslave"}, 0},
		{"none, upsmon unused", "# nothing\n", nil, nil, 0},
		{"chain runs", "-", []string{"/bin/sh"}, []string{"ok: NOTIFYCMD_NEXT /bin/sh gets every event too"}, 0},
		{"chain missing", "-", []string{"/nonexistent/upssched"},
			[]string{`error: NOTIFYCMD_NEXT "/nonexistent/upssched" cannot run`}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"UPSMON_CONF": filepath.Join(dir, "upsmon.conf")}
			if tc.upsmon == "-" {
				env["UPSMON_CONF"] = filepath.Join(dir, "none.conf")
			} else if err := os.WriteFile(env["UPSMON_CONF"], []byte(tc.upsmon), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			k := &Checker{W: &out}
			k.Chain("upsslave", Chain{Argv: tc.next}, "/etc/nut/upsslave.conf", UpsmonConf("", func(k string) string { return env[k] }))
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("check printed:\n%s\nwant a line with %q", out.String(), w)
				}
			}
			if tc.want == nil && tc.upsmon != "-" && out.Len() > 0 {
				t.Errorf("check printed %q, want nothing", out.String())
			}
			if k.Errors != tc.errors {
				t.Errorf("errors = %d, want %d", k.Errors, tc.errors)
			}
		})
	}
}
