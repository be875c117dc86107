package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nutslave/nutslave/internal/command"
)

// TestExitCodes covers the exit-code table of upsslave(8) in-process;
// testscript can only tell failure from success.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	os.MkdirAll(filepath.Join(dir, "state"), 0o755)
	good := write("good.conf", "MASTER=nutslave@127.0.0.1:1\nNAME=s1\nSTATEDIR="+dir+"/state\nLOGFILE=none\n", 0o640)
	bad := write("bad.conf", "MASTER=nutslave@127.0.0.1\nPOLL=fast\n", 0o640)
	key := write("open.key", "not a key", 0o644)
	write("upsslave.known_hosts", "", 0o644)
	openKey := write("openkey.conf", "MASTER=nutslave@127.0.0.1:1\nNAME=s1\nIDENTITY="+key+"\nSTATEDIR="+dir+"/state\nLOGFILE=none\n", 0o640)

	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{"no NOTIFYTYPE, no command", []string{"upsslave"}, nil, command.ExitUsage, "no NOTIFYTYPE"},
		{"unknown flag", []string{"upsslave", "--bogus"}, nil, command.ExitUsage, "flag provided but not defined"},
		{"simulate without event", []string{"upsslave", "--config", good, "simulate"}, nil, command.ExitUsage, "simulate needs one EVENT"},
		{"drop-in without any config", []string{"upsslave", "UPS x on battery"}, map[string]string{"NOTIFYTYPE": "ONBATT", confEnv: filepath.Join(dir, "missing.conf")}, command.ExitNotConfigured, "not configured"},
		{"drop-in with a bad config names file and line", []string{"upsslave", "msg"}, map[string]string{"NOTIFYTYPE": "ONBATT", confEnv: bad}, command.ExitNotConfigured, "bad.conf:2: POLL: bad value"},
		{"check with a bad config", []string{"upsslave", "--config", bad, "check"}, nil, command.ExitNotConfigured, "bad.conf:2"},
		{"unknown event is fine", []string{"upsslave", "a new kind of event"}, map[string]string{"NOTIFYTYPE": "NEW_THING", confEnv: good}, command.ExitOK, ""},
		{"log-only event is fine", []string{"upsslave", "--config", good, "UPS x battery needs to be replaced"}, map[string]string{"NOTIFYTYPE": "REPLBATT"}, command.ExitOK, ""},
		{"world-readable key is a permission problem", []string{"upsslave", "--config", openKey, "check"}, nil, command.ExitPermission, "readable by others"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, getenv, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			if tt.stderr != "" && !strings.Contains(stderr.String()+stdout.String(), tt.stderr) {
				t.Errorf("output does not mention %q:\nstdout: %s\nstderr: %s", tt.stderr, stdout.String(), stderr.String())
			}
			if tt.code != command.ExitOK && !strings.HasPrefix(stderr.String(), "upsslave: error: ") {
				t.Errorf("stderr = %q, want an upsslave: error: line", stderr.String())
			}
		})
	}
}
