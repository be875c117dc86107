// Package golden compares what a test made with a golden file, for the
// tests of the status reports; go test -update rewrites the files.
package golden

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Check compares got, with dir replaced by $DIR, with the file at path;
// -update rewrites the file.
func Check(t testing.TB, path, dir string, got []byte) {
	t.Helper()
	got = bytes.ReplaceAll(got, []byte(dir), []byte("$DIR"))
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}
