// Package flagstest is the conformance suite every [flags.Store] passes.
//
// A backend's test calls [Run] with a function that opens a fresh, empty
// store and returns it with the local path of the directory it serves, so
// the suite can plant files, symlinks and directories next to the flags:
//
//	func TestConformance(t *testing.T) {
//		flagstest.Run(t, func(t *testing.T) (flags.Store, string) {
//			dir := t.TempDir()
//			d, err := flags.OpenDir(dir)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return d, dir
//		})
//	}
package flagstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nutslave/nutslave/flags"
)

// Opener returns a new store over an empty directory, and that directory's
// path on the local file system. The suite closes the store.
type Opener func(t *testing.T) (st flags.Store, dir string)

// Run runs the conformance suite against the stores open returns.
func Run(t *testing.T, open Opener) {
	t.Helper()
	for _, tc := range []struct {
		name string
		f    func(*testing.T, flags.Store, string)
	}{
		{"SetGet", testSetGet},
		{"SetReplaces", testSetReplaces},
		{"AtomicReplace", testAtomicReplace},
		{"GetAbsent", testGetAbsent},
		{"ClearIdempotent", testClear},
		{"InvalidNames", testInvalidNames},
		{"List", testList},
		{"SymlinkNotFollowed", testSymlink},
		{"DirectoryAtName", testDirectoryAtName},
		{"MaxBody", testMaxBody},
		{"FailedSetLeavesNoTemp", testFailedSet},
		{"ReadOnlyDirLeavesNoTemp", testReadOnlyDir},
		{"Owner", testOwner},
		{"ContextCancelled", testCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := open(t)
			t.Cleanup(func() { st.Close() })
			tc.f(t, st, dir)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustSet(t *testing.T, st flags.Store, name flags.Name, body []byte) {
	t.Helper()
	if err := st.Set(ctx(t), name, body); err != nil {
		t.Fatalf("Set(%s): %v", name, err)
	}
}

func write(t *testing.T, path string, body []byte) {
	t.Helper()
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dotFiles lists the dot-files of dir, where temp files would be.
func dotFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var dots []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			dots = append(dots, e.Name())
		}
	}
	return dots
}

func noTemp(t *testing.T, dir string) {
	t.Helper()
	if dots := dotFiles(t, dir); len(dots) > 0 {
		t.Errorf("temporary files left in %s: %q", dir, dots)
	}
}

func testSetGet(t *testing.T, st flags.Store, dir string) {
	bodies := map[flags.Name][]byte{
		flags.SDF:              flags.Stamp(time.Unix(1700000000, 0).UTC(), "master", flags.Field{Key: "reason", Value: "LB"}),
		flags.Onl:              {},
		flags.Ack("slave-1"):   []byte("time=2024-01-01T00:00:00Z\nhost=slave-1\n"),
		flags.AnonAck:          []byte("binary \x00\xff ok"),
		flags.Seen("db.local"): bytes.Repeat([]byte("x"), flags.MaxBody),
	}
	for name, body := range bodies {
		mustSet(t, st, name, body)
		got, err := st.Get(ctx(t), name)
		if err != nil {
			t.Errorf("Get(%s): %v", name, err)
			continue
		}
		if !bytes.Equal(got, body) {
			t.Errorf("Get(%s) = %q, want %q", name, got, body)
		}
		onDisk, err := os.ReadFile(filepath.Join(dir, string(name)))
		if err != nil || !bytes.Equal(onDisk, body) {
			t.Errorf("file %s = %q, %v; want %q", name, onDisk, err, body)
		}
		info, err := st.Stat(ctx(t), name)
		if err != nil {
			t.Errorf("Stat(%s): %v", name, err)
			continue
		}
		if info.Name != name || info.Size != int64(len(body)) {
			t.Errorf("Stat(%s) = name %q size %d, want %q, %d", name, info.Name, info.Size, name, len(body))
		}
		if d := time.Since(info.ModTime); d < -time.Minute || d > time.Minute {
			t.Errorf("Stat(%s).ModTime = %v, want about now", name, info.ModTime)
		}
	}
	noTemp(t, dir)
}

func testSetReplaces(t *testing.T, st flags.Store, dir string) {
	mustSet(t, st, flags.BattSDF, []byte("a long first body\n"))
	mustSet(t, st, flags.BattSDF, []byte("short\n"))
	got, err := st.Get(ctx(t), flags.BattSDF)
	if err != nil || string(got) != "short\n" {
		t.Errorf("Get after replace = %q, %v; want %q", got, err, "short\n")
	}
	mustSet(t, st, flags.BattSDF, nil)
	got, err = st.Get(ctx(t), flags.BattSDF)
	if err != nil || len(got) != 0 {
		t.Errorf("Get after replace with empty body = %q, %v; want empty", got, err)
	}
	noTemp(t, dir)
}

// testAtomicReplace replaces a flag many times while readers read it: every
// read sees one whole body, never a partial, empty or missing file.
func testAtomicReplace(t *testing.T, st flags.Store, dir string) {
	a := bytes.Repeat([]byte("a"), 1000)
	b := bytes.Repeat([]byte("bb\n"), 1300)
	mustSet(t, st, flags.SDF, a)
	const writes, readers = 150, 3
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan string, readers*4)
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				got, err := st.Get(context.Background(), flags.SDF)
				if err != nil {
					errs <- "Get during replacement: " + err.Error()
					return
				}
				if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
					errs <- fmt.Sprintf("Get during replacement returned %d bytes starting %q, want one whole body of %d or %d bytes", len(got), got[:min(len(got), 20)], len(a), len(b))
					return
				}
			}
		}()
	}
	for i := range writes {
		body := a
		if i%2 == 0 {
			body = b
		}
		if err := st.Set(context.Background(), flags.SDF, body); err != nil {
			t.Errorf("Set #%d: %v", i, err)
			break
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	noTemp(t, dir)
}

func testGetAbsent(t *testing.T, st flags.Store, _ string) {
	if _, err := st.Get(ctx(t), flags.SDF); !flags.IsNotExist(err) {
		t.Errorf("Get(absent) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := st.Stat(ctx(t), flags.SDF); !flags.IsNotExist(err) {
		t.Errorf("Stat(absent) error = %v, want fs.ErrNotExist", err)
	}
}

func testClear(t *testing.T, st flags.Store, dir string) {
	if err := st.Clear(ctx(t), flags.SDF); err != nil {
		t.Errorf("Clear(absent) = %v, want nil", err)
	}
	mustSet(t, st, flags.SDF, []byte("x"))
	for i := range 2 {
		if err := st.Clear(ctx(t), flags.SDF); err != nil {
			t.Errorf("Clear #%d = %v, want nil", i+1, err)
		}
	}
	if _, err := st.Get(ctx(t), flags.SDF); !flags.IsNotExist(err) {
		t.Errorf("Get after Clear: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sdf")); !os.IsNotExist(err) {
		t.Errorf("file still there after Clear: %v", err)
	}
}

func testInvalidNames(t *testing.T, st flags.Store, dir string) {
	outside := filepath.Join(filepath.Dir(dir), "victim")
	for _, n := range []flags.Name{"", "../victim", "sdfok/x", ".sdf", "sdfok.", "sdfok..hidden", "unknown", "sdf\x00"} {
		if err := st.Set(ctx(t), n, []byte("x")); !errors.Is(err, flags.ErrInvalidName) {
			t.Errorf("Set(%q) = %v, want ErrInvalidName", n, err)
		}
		if _, err := st.Get(ctx(t), n); !errors.Is(err, flags.ErrInvalidName) {
			t.Errorf("Get(%q) = %v, want ErrInvalidName", n, err)
		}
		if _, err := st.Stat(ctx(t), n); !errors.Is(err, flags.ErrInvalidName) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidName", n, err)
		}
		if err := st.Clear(ctx(t), n); !errors.Is(err, flags.ErrInvalidName) {
			t.Errorf("Clear(%q) = %v, want ErrInvalidName", n, err)
		}
	}
	if _, err := os.Lstat(outside); err == nil {
		t.Errorf("a write escaped the directory: %s exists", outside)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("invalid names left files: %v", ents)
	}
}

func testList(t *testing.T, st flags.Store, dir string) {
	if infos, err := st.List(ctx(t)); err != nil || len(infos) != 0 {
		t.Fatalf("List(empty) = %v, %v; want nothing", infos, err)
	}
	mustSet(t, st, flags.SDF, []byte("sdf\n"))
	mustSet(t, st, flags.Ack("b"), []byte("bb"))
	write(t, filepath.Join(dir, "sdfok.a"), nil)
	write(t, filepath.Join(dir, "battsdf"), []byte("planted"))
	// Everything below must be skipped.
	write(t, filepath.Join(dir, ".sdf.1.2.tmp"), []byte("temp"))
	write(t, filepath.Join(dir, ".hidden"), nil)
	write(t, filepath.Join(dir, "README"), nil)
	write(t, filepath.Join(dir, "sdfok."), nil)
	write(t, filepath.Join(dir, "sdfok.bad name"), nil)
	if err := os.Mkdir(filepath.Join(dir, "seen.dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sdf", filepath.Join(dir, "onl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent", filepath.Join(dir, "drill")); err != nil {
		t.Fatal(err)
	}
	infos, err := st.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range infos {
		got = append(got, string(in.Name))
		if want, err := os.Lstat(filepath.Join(dir, string(in.Name))); err == nil && in.Size != want.Size() {
			t.Errorf("List: %s size %d, want %d", in.Name, in.Size, want.Size())
		}
	}
	want := []string{"battsdf", "sdf", "sdfok.a", "sdfok.b"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("List = %q, want %q", got, want)
	}
}

func testSymlink(t *testing.T, st flags.Store, dir string) {
	target := filepath.Join(t.TempDir(), "secret")
	write(t, target, []byte("not a flag"))
	link := filepath.Join(dir, "sdf")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if body, err := st.Get(ctx(t), flags.SDF); !errors.Is(err, flags.ErrNotRegular) {
		t.Errorf("Get(symlink) = %q, %v; want ErrNotRegular", body, err)
	}
	if _, err := st.Stat(ctx(t), flags.SDF); !errors.Is(err, flags.ErrNotRegular) {
		t.Errorf("Stat(symlink) = %v, want ErrNotRegular", err)
	}
	// Set replaces the link itself; it never writes through it.
	mustSet(t, st, flags.SDF, []byte("real"))
	if got, _ := os.ReadFile(target); string(got) != "not a flag" {
		t.Errorf("Set wrote through the symlink: target now %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("after Set, %s is %v (%v), want a regular file", link, fi.Mode(), err)
	}
	// Clear removes a link, never its target.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := st.Clear(ctx(t), flags.SDF); err != nil {
		t.Errorf("Clear(symlink) = %v", err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("Clear removed the symlink's target: %v", err)
	}
	noTemp(t, dir)
}

func testDirectoryAtName(t *testing.T, st flags.Store, dir string) {
	if err := os.Mkdir(filepath.Join(dir, "sdf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx(t), flags.SDF); !errors.Is(err, flags.ErrNotRegular) {
		t.Errorf("Get(directory) = %v, want ErrNotRegular", err)
	}
	if _, err := st.Stat(ctx(t), flags.SDF); !errors.Is(err, flags.ErrNotRegular) {
		t.Errorf("Stat(directory) = %v, want ErrNotRegular", err)
	}
}

func testMaxBody(t *testing.T, st flags.Store, dir string) {
	big := bytes.Repeat([]byte("0123456789abcdef"), flags.MaxBody/16+1)
	if err := st.Set(ctx(t), flags.SDF, big); !errors.Is(err, flags.ErrTooLarge) {
		t.Errorf("Set(%d bytes) = %v, want ErrTooLarge", len(big), err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sdf")); !os.IsNotExist(err) {
		t.Errorf("refused Set created the flag: %v", err)
	}
	noTemp(t, dir)

	write(t, filepath.Join(dir, "sdfok.big"), big)
	got, err := st.Get(ctx(t), flags.Ack("big"))
	if !errors.Is(err, flags.ErrTooLarge) {
		t.Errorf("Get(%d-byte file) error = %v, want ErrTooLarge", len(big), err)
	}
	if !bytes.Equal(got, big[:flags.MaxBody]) {
		t.Errorf("Get(%d-byte file) returned %d bytes, want the first %d", len(big), len(got), flags.MaxBody)
	}
}

// testFailedSet makes the final rename fail (a directory sits at the
// flag's name) and checks that the temporary file is gone.
func testFailedSet(t *testing.T, st flags.Store, dir string) {
	if err := os.Mkdir(filepath.Join(dir, "sdf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx(t), flags.SDF, []byte("x")); err == nil {
		t.Error("Set over a directory succeeded")
	}
	noTemp(t, dir)
}

func testReadOnlyDir(t *testing.T, st flags.Store, dir string) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: a read-only directory does not stop root's writes")
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if err := st.Set(ctx(t), flags.SDF, []byte("x")); err == nil {
		t.Error("Set in a read-only directory succeeded")
	}
	noTemp(t, dir)
}

func testOwner(t *testing.T, st flags.Store, dir string) {
	mustSet(t, st, flags.SDF, []byte("x"))
	write(t, filepath.Join(dir, "onl"), nil)
	chowned := os.Geteuid() == 0
	if chowned {
		if err := os.Lchown(filepath.Join(dir, "onl"), 4242, 4242); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := st.List(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("List = %v, want onl and sdf", infos)
	}
	for _, in := range infos {
		statted, err := st.Stat(ctx(t), in.Name)
		if err != nil {
			t.Fatal(err)
		}
		if statted.HasOwner != in.HasOwner || statted.UID != in.UID {
			t.Errorf("%s: Stat owner (%d, %v) differs from List owner (%d, %v)", in.Name, statted.UID, statted.HasOwner, in.UID, in.HasOwner)
		}
		if !in.HasOwner {
			if in.UID != 0 {
				t.Errorf("%s: UID %d without HasOwner, want 0", in.Name, in.UID)
			}
			continue
		}
		fi, err := os.Lstat(filepath.Join(dir, string(in.Name)))
		if err != nil {
			t.Fatal(err)
		}
		if want := fi.Sys().(*syscall.Stat_t).Uid; in.UID != want {
			t.Errorf("%s: UID = %d, want %d", in.Name, in.UID, want)
		}
	}
	if !chowned {
		t.Log("not root: owner checked only for files of the test's own uid")
	}
}

func testCancelled(t *testing.T, st flags.Store, dir string) {
	write(t, filepath.Join(dir, "onl"), []byte("x"))
	c, cancel := context.WithCancel(context.Background())
	cancel()
	if err := st.Set(c, flags.SDF, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Set(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "sdf")); !os.IsNotExist(err) {
		t.Errorf("cancelled Set created the flag: %v", err)
	}
	if _, err := st.Get(c, flags.Onl); !errors.Is(err, context.Canceled) {
		t.Errorf("Get(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := st.Stat(c, flags.Onl); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := st.List(c); !errors.Is(err, context.Canceled) {
		t.Errorf("List(cancelled) = %v, want context.Canceled", err)
	}
	if err := st.Clear(c, flags.Onl); !errors.Is(err, context.Canceled) {
		t.Errorf("Clear(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "onl")); err != nil {
		t.Errorf("cancelled Clear removed the flag: %v", err)
	}
	noTemp(t, dir)
}
