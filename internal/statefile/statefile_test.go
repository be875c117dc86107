package statefile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.state")
	type state struct{ Boot, Job string }
	var got state
	if found, err := Load(path, &got); found || err != nil {
		t.Fatalf("missing file: found %v, err %v", found, err)
	}
	if err := Save(path, state{"b1", "watching"}); err != nil {
		t.Fatal(err)
	}
	if found, err := Load(path, &got); !found || err != nil || got != (state{"b1", "watching"}) {
		t.Fatalf("Load = %+v, %v, %v", got, found, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
	os.WriteFile(path, []byte("{not json"), 0o640)
	if found, err := Load(path, &got); found || err != nil {
		t.Errorf("garbage: found %v, err %v; want a fresh start", found, err)
	}
}
