package flags_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/flags/flagstest"
)

func openDir(t *testing.T) (flags.Store, string) {
	dir := t.TempDir()
	d, err := flags.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d, dir
}

func TestDirConformance(t *testing.T) { flagstest.Run(t, openDir) }

func TestOpenDirRefusesSymlink(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "flags")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if d, err := flags.OpenDir(link); !errors.Is(err, flags.ErrNotRegular) {
		if d != nil {
			d.Close()
		}
		t.Errorf("OpenDir(symlink) = %v, want ErrNotRegular", err)
	}
	file := filepath.Join(real, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := flags.OpenDir(file); !errors.Is(err, flags.ErrNotRegular) {
		t.Errorf("OpenDir(regular file) = %v, want ErrNotRegular", err)
	}
	if _, err := flags.OpenDir(filepath.Join(real, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenDir(missing) = %v, want fs.ErrNotExist", err)
	}
}

// TestDirSwappedForSymlink renames the opened directory away and puts a
// symlink to another directory at its path: the store keeps using the
// directory it opened.
func TestDirSwappedForSymlink(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "flags")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := flags.OpenDir(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Path() != path {
		t.Errorf("Path() = %q, want %q", d.Path(), path)
	}
	moved := filepath.Join(base, "moved")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	evil := t.TempDir()
	if err := os.WriteFile(filepath.Join(evil, "sdf"), []byte("evil"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(evil, path); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Set(ctx, flags.Onl, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(moved, "onl")); err != nil {
		t.Errorf("Set did not write into the opened directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(evil, "onl")); err == nil {
		t.Error("Set followed the symlink swapped in at the directory's path")
	}
	if _, err := d.Get(ctx, flags.SDF); !flags.IsNotExist(err) {
		t.Errorf("Get(sdf) = %v, want fs.ErrNotExist (the symlinked directory's sdf must not be seen)", err)
	}
	infos, err := d.List(ctx)
	if err != nil || len(infos) != 1 || infos[0].Name != flags.Onl {
		t.Errorf("List = %v, %v; want just onl", infos, err)
	}
}

func TestDirMode(t *testing.T) {
	dir := t.TempDir()
	d, err := flags.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Mode = 0o664
	if err := d.Set(context.Background(), flags.SDF, nil); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "sdf"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o664 {
		t.Errorf("mode = %04o, want 0664 whatever the umask", fi.Mode().Perm())
	}
}
