package sftpstore

import (
	"os"
	"testing"

	"github.com/nutslave/nutslave/internal/lab/labtest"
)

// TestMain fails the package when a process its tests started outlives them.
func TestMain(m *testing.M) { os.Exit(labtest.Main(m)) }
