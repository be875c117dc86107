package e2e_test

import (
	"testing"

	"github.com/nutslave/nutslave/internal/lab"
)

// newHostKey replaces the ed25519 host key at path with a fresh one.
func newHostKey(t *testing.T, path string) {
	t.Helper()
	if _, err := lab.WriteKey(path, "nutslave e2e replaced host key"); err != nil {
		t.Fatal(err)
	}
}
