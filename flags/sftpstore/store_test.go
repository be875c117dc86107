package sftpstore_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/flags/flagstest"
	"github.com/nutslave/nutslave/flags/sftpstore"
	"github.com/nutslave/nutslave/internal/sshtest"
)

// pipeClient serves SFTP in-process with pkg/sftp's server over two pipes,
// without SSH.
func pipeClient(t *testing.T) *sftp.Client {
	t.Helper()
	c2sR, c2sW := io.Pipe()
	s2cR, s2cW := io.Pipe()
	srv, err := sftp.NewServer(struct {
		io.Reader
		io.WriteCloser
	}{c2sR, s2cW})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { srv.Serve(); close(served) }()
	c, err := sftp.NewClientPipe(s2cR, c2sW)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Unblock both readers first: closing the client waits for its
		// receive loop.
		c2sW.Close()
		s2cR.Close()
		c.Close()
		srv.Close()
		<-served
	})
	return c
}

// sftpServerPaths are where distributions install OpenSSH's sftp-server.
var sftpServerPaths = []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server", "/usr/lib/ssh/sftp-server", "/usr/libexec/openssh/sftp-server"}

// opensshClient runs OpenSSH's real sftp-server binary over pipes.
func opensshClient(t *testing.T) *sftp.Client {
	t.Helper()
	var bin string
	for _, p := range sftpServerPaths {
		if _, err := os.Stat(p); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skipf("OpenSSH sftp-server not found in %v (Debian: apt-get install openssh-sftp-server)", sftpServerPaths)
	}
	cmd := exec.Command(bin, "-e", "-l", "QUIET")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("could not start %s: %v", bin, err)
	}
	c, err := sftp.NewClientPipe(out, in)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("sftp-server: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		in.Close()
		cmd.Wait()
	})
	return c
}

func TestConformanceInProcess(t *testing.T) {
	flagstest.Run(t, func(t *testing.T) (flags.Store, string) {
		dir := t.TempDir()
		return sftpstore.New(pipeClient(t), dir), dir
	})
}

func TestConformanceOpenSSH(t *testing.T) {
	opensshClient(t) // skip the whole suite early when absent
	flagstest.Run(t, func(t *testing.T) (flags.Store, string) {
		dir := t.TempDir()
		return sftpstore.New(opensshClient(t), dir), dir
	})
}

// startMaster starts the in-process SSH master and returns a Config that
// reaches it.
func startMaster(t *testing.T, opts sshtest.Options) (*sshtest.Server, sftpstore.Config) {
	t.Helper()
	s, err := sshtest.Start(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	signer, err := sftpstore.LoadSigner(s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return s, sftpstore.Config{
		Addr:             s.Addr,
		User:             s.User,
		Signer:           signer,
		KnownHosts:       s.KnownHosts,
		DialTimeout:      5 * time.Second,
		HandshakeTimeout: 5 * time.Second,
	}
}

func dial(t *testing.T, cfg sftpstore.Config) *sftpstore.Conn {
	t.Helper()
	c, err := sftpstore.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformanceSSH(t *testing.T) {
	_, cfg := startMaster(t, sshtest.Options{})
	c := dial(t, cfg)
	flagstest.Run(t, func(t *testing.T) (flags.Store, string) {
		dir := t.TempDir()
		return sftpstore.New(c.SFTP, dir), dir
	})
}

func TestNoPosixRename(t *testing.T) {
	_, cfg := startMaster(t, sshtest.Options{NoPosixRename: true})
	c := dial(t, cfg)
	dir := t.TempDir()
	st := sftpstore.New(c.SFTP, dir)
	if err := os.WriteFile(filepath.Join(dir, "sdfok.a"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := st.Set(context.Background(), flags.Ack("a"), []byte("new"))
	if !errors.Is(err, flags.ErrNoAtomicReplace) {
		t.Fatalf("Set without posix-rename = %v, want ErrNoAtomicReplace", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "sdfok.a")); string(got) != "old" {
		t.Errorf("flag changed to %q without an atomic rename", got)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %v, want just sdfok.a", ents)
	}
	// Reading still works.
	if got, err := st.Get(context.Background(), flags.Ack("a")); err != nil || string(got) != "old" {
		t.Errorf("Get = %q, %v; want old", got, err)
	}
}

// TestGetConnectionLost drops the connection at the READ request: Get must
// fail, not return an empty or partial body as if it were the flag.
func TestGetConnectionLost(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sdf"), []byte("time=now\nreason=LB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Get sends LSTAT, OPEN, then READ: serve two requests, drop at the third.
	_, cfg := startMaster(t, sshtest.Options{DropAfter: 2})
	c := dial(t, cfg)
	st := sftpstore.New(c.SFTP, dir)
	body, err := st.Get(context.Background(), flags.SDF)
	if err == nil {
		t.Fatalf("Get over a dropped connection = %q, nil; want an error", body)
	}
}

// TestDirMark checks, against both SFTP servers, that the directory's mark
// changes whenever a flag is created, replaced or removed: the waiting
// slave reads the directory again only then (or while the mark is young).
func TestDirMark(t *testing.T) {
	for name, client := range map[string]func(*testing.T) *sftp.Client{"in-process": pipeClient, "openssh": opensshClient} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			st := sftpstore.New(client(t), dir)
			ctx := context.Background()
			// Directory times are whole seconds over SFTP: age the
			// directory before each step so that every change shows.
			age := func() {
				t.Helper()
				old := time.Now().Add(-time.Hour)
				if err := os.Chtimes(dir, old, old); err != nil {
					t.Fatal(err)
				}
			}
			mark := func() string {
				t.Helper()
				m, err := st.DirMark(ctx)
				if err != nil {
					t.Fatalf("DirMark: %v", err)
				}
				return m
			}
			steps := []struct {
				what string
				do   func() error
			}{
				{"set sdf", func() error { return st.Set(ctx, flags.SDF, []byte("x")) }},
				{"replace sdf", func() error { return st.Set(ctx, flags.SDF, []byte("y")) }},
				{"clear sdf", func() error { return st.Clear(ctx, flags.SDF) }},
			}
			for _, step := range steps {
				age()
				before := mark()
				if again := mark(); again != before {
					t.Fatalf("mark changed with no change: %q then %q", before, again)
				}
				if err := step.do(); err != nil {
					t.Fatalf("%s: %v", step.what, err)
				}
				if after := mark(); after == before {
					t.Errorf("%s left the directory's mark at %q", step.what, after)
				}
			}
			if _, err := sftpstore.New(client(t), filepath.Join(dir, "missing")).DirMark(ctx); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("DirMark of a missing directory: %v, want fs.ErrNotExist", err)
			}
		})
	}
}
