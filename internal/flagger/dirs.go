package flagger

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nutslave/nutslave/flags"
	"github.com/nutslave/nutslave/internal/command"
	"github.com/nutslave/nutslave/internal/conf"
	"github.com/nutslave/nutslave/internal/master"
	"github.com/nutslave/nutslave/internal/statefile"
)

// ErrUnsafeDir means a FLAGDIR or ACKDIR upsflags refuses to use.
var ErrUnsafeDir = errors.New("unsafe flag directory")

// checkDir refuses a directory that is a symlink, not a directory,
// world-writable, or owned by someone other than owner. A missing
// directory wraps fs.ErrNotExist.
func checkDir(key, path string, owner uint32) (fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", key, path, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fi, &command.Hinted{Err: fmt.Errorf("%w: %s %s is a symlink", ErrUnsafeDir, key, path),
			Hint: fmt.Sprintf("point %s at the real directory; upsflags never follows symlinks there", key)}
	case !fi.IsDir():
		return fi, fmt.Errorf("%w: %s %s is not a directory", ErrUnsafeDir, key, path)
	case fi.Mode().Perm()&0o002 != 0:
		return fi, &command.Hinted{Err: fmt.Errorf("%w: %s %s is world-writable (mode %04o)", ErrUnsafeDir, key, path, modeBits(fi)),
			Hint: fmt.Sprintf("chmod o-w %s", path)}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != owner {
		return fi, &command.Hinted{Err: fmt.Errorf("%w: %s %s is owned by uid %d, not FLAGOWNER %d", ErrUnsafeDir, key, path, st.Uid, owner),
			Hint: fmt.Sprintf("chown %d %s (or set FLAGOWNER)", owner, path)}
	}
	return fi, nil
}

func modeBits(fi fs.FileInfo) uint32 {
	m := uint32(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

// ErrNoDir means FLAGDIR or ACKDIR does not exist. Only `upsflags check`
// creates them: a mistyped path must stop run and watch, not be created
// where no slave looks.
var ErrNoDir = errors.New("does not exist")

// missingDir is the error for a FLAGDIR or ACKDIR that run and watch do
// not create: it names the key, the file and line, and the fix.
func missingDir(cfg *Config, key, path string) error {
	return &command.Hinted{
		Err: &conf.Error{Path: cfg.Path, Line: cfg.lines[key], Key: key, Err: fmt.Errorf("%s %w", path, ErrNoDir)},
		Hint: fmt.Sprintf("check %s in %s; if the path is right, run: upsflags check (it creates FLAGDIR and ACKDIR)",
			key, cfg.Path),
	}
}

// ensureDirs checks FLAGDIR and ACKDIR. With create (upsflags check) it
// first creates a missing FLAGDIR (FLAGOWNER, 0755) and ACKDIR
// (FLAGOWNER:SSHUSER's group, 1770); without, a missing one is ErrNoDir.
// It returns notes for people (what it created, a missing group).
func ensureDirs(cfg *Config, create bool) (notes []string, err error) {
	if _, err := os.Lstat(cfg.FlagDir); errors.Is(err, fs.ErrNotExist) {
		if !create {
			return notes, missingDir(cfg, "FLAGDIR", cfg.FlagDir)
		}
		if err := mkdir(cfg.FlagDir, 0o755, int(cfg.FlagOwner), -1); err != nil {
			return notes, fmt.Errorf("create FLAGDIR: %w", err)
		}
		notes = append(notes, fmt.Sprintf("created FLAGDIR %s (uid %d, 0755)", cfg.FlagDir, cfg.FlagOwner))
	}
	if _, err := checkDir("FLAGDIR", cfg.FlagDir, cfg.FlagOwner); err != nil {
		return notes, err
	}
	if cfg.AckDir == cfg.FlagDir {
		return notes, nil
	}
	if _, err := os.Lstat(cfg.AckDir); errors.Is(err, fs.ErrNotExist) {
		if !create {
			return notes, missingDir(cfg, "ACKDIR", cfg.AckDir)
		}
		gid, gerr := sshGroup(cfg.SSHUser)
		if err := mkdir(cfg.AckDir, 0o1770, int(cfg.FlagOwner), gid); err != nil {
			return notes, fmt.Errorf("create ACKDIR: %w", err)
		}
		if gerr != nil {
			notes = append(notes, fmt.Sprintf("created ACKDIR %s (1770) but %v: the slaves cannot write there until you chgrp it", cfg.AckDir, gerr))
		} else {
			notes = append(notes, fmt.Sprintf("created ACKDIR %s (uid %d, group %s, 1770)", cfg.AckDir, cfg.FlagOwner, cfg.SSHUser))
		}
	}
	if _, err := checkDir("ACKDIR", cfg.AckDir, cfg.FlagOwner); err != nil {
		return notes, err
	}
	return notes, nil
}

// sshGroup returns the gid of the group named like the slaves' account.
func sshGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return -1, fmt.Errorf("group %q does not exist", name)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return -1, fmt.Errorf("group %q: gid %q", name, g.Gid)
	}
	return gid, nil
}

func mkdir(path string, mode fs.FileMode, uid, gid int) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(path, mode.Perm()); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(path, uid, gid); err != nil {
			return err
		}
	}
	m := mode.Perm()
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return os.Chmod(path, m) // the umask narrowed Mkdir's mode
}

// openDirs checks and opens FLAGDIR and ACKDIR; it creates neither.
func openDirs(cfg *Config) (fd, ad *flags.Dir, notes []string, err error) {
	notes, err = ensureDirs(cfg, false)
	if err != nil {
		return nil, nil, notes, err
	}
	fd, err = flags.OpenDir(cfg.FlagDir)
	if err != nil {
		return nil, nil, notes, err
	}
	ad, err = flags.OpenDir(cfg.AckDir)
	if err != nil {
		fd.Close()
		return nil, nil, notes, err
	}
	return fd, ad, notes, nil
}

// bootTime reads the kernel's boot time from /proc/stat.
func bootTime() time.Time {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
}

// stateFile is where upsflags keeps its state.
func stateFile(cfg *Config) string { return filepath.Join(cfg.StateDir, "upsflags.state") }

// loadState reads the state; a missing, unreadable or earlier-boot file
// yields a fresh state.
func loadState(cfg *Config, boot string) (master.State, error) {
	var st master.State
	found, err := statefile.Load(stateFile(cfg), &st)
	if err != nil {
		return master.State{}, err
	}
	if !found || st.Boot != boot {
		return master.State{Boot: boot}, nil
	}
	return st, nil
}

// saveState writes the state atomically.
func saveState(cfg *Config, st master.State) error { return statefile.Save(stateFile(cfg), st) }

// syscallNoFollow refuses to open TRIGGER through a symlink.
const syscallNoFollow = unix.O_NOFOLLOW
