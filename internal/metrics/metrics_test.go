package metrics

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	var s Set
	s.Gauge("nutslave_a", "A gauge.", 1)
	s.Gauge("nutslave_b_ratio", "Per slave.", 0.5, "slave", "web1")
	s.Gauge("nutslave_b_ratio", "ignored: the first help stays", 0.25, "slave", `we"b\2`)
	var b bytes.Buffer
	if err := s.Encode(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP nutslave_a A gauge.
# TYPE nutslave_a gauge
nutslave_a 1
# HELP nutslave_b_ratio Per slave.
# TYPE nutslave_b_ratio gauge
nutslave_b_ratio{slave="web1"} 0.5
nutslave_b_ratio{slave="we\"b\\2"} 0.25
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestBadNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels []string
	}{
		{"nutslave-bad", nil},
		{"nutslave_ok", []string{"slave"}},
		{"nutslave_ok", []string{"bad-label", "x"}},
	} {
		var s Set
		s.Gauge(tc.name, "help", 1, tc.labels...)
		if err := s.Encode(&bytes.Buffer{}); !errors.Is(err, ErrBadName) {
			t.Errorf("%s %q: err %v, want ErrBadName", tc.name, tc.labels, err)
		}
	}
}

// TestWriteFile: mode 0644, replaced whole, no temporary file left behind,
// also when the write fails.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nutslave.prom")
	for _, v := range []float64{1, 2} {
		var s Set
		s.Gauge("nutslave_v", "V.", v)
		if err := s.WriteFile(path); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(b), "nutslave_v 2\n") {
		t.Errorf("content:\n%s", b)
	}
	// A directory in the way: the rename fails.
	blocked := filepath.Join(dir, "blocked.prom")
	if err := os.Mkdir(blocked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(blocked, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var s Set
	s.Gauge("nutslave_v", "V.", 3)
	if err := s.WriteFile(blocked); err == nil || !strings.Contains(err.Error(), "write "+blocked) {
		t.Errorf("err %v, want one naming %s", err, blocked)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
