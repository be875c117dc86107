package flags

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Dir is a [Store] over a local directory: the master's FLAGDIR or ACKDIR.
// It holds the directory open, so a directory swapped for a symlink after
// opening is not followed, and it never follows symlinks inside it.
type Dir struct {
	path string
	dir  *os.File
	// Mode, when non-zero, is the permission given to new flag files.
	Mode fs.FileMode
}

var _ Store = (*Dir)(nil)

// OpenDir opens path as a flag directory. path itself must not be a
// symlink.
func OpenDir(path string) (*Dir, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("open flag dir %s: %w: a symlink or not a directory", path, ErrNotRegular)
		}
		return nil, fmt.Errorf("open flag dir %s: %w", path, &fs.PathError{Op: "open", Path: path, Err: err})
	}
	return &Dir{path: path, dir: os.NewFile(uintptr(fd), path), Mode: 0o644}, nil
}

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

func (d *Dir) fd() int { return int(d.dir.Fd()) }

func (d *Dir) pathErr(op string, name Name, err error) error {
	return &fs.PathError{Op: op, Path: d.path + "/" + string(name), Err: err}
}

// Set writes body atomically: temp file, fsync, rename, fsync directory.
func (d *Dir) Set(ctx context.Context, name Name, body []byte) error {
	if err := name.Valid(); err != nil {
		return err
	}
	if len(body) > MaxBody {
		return fmt.Errorf("set flag %s: %w", name, ErrTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp := tempName(name, os.Getpid(), time.Now())
	fd, err := unix.Openat(d.fd(), tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(d.Mode.Perm()))
	if err != nil {
		return fmt.Errorf("set flag %s: %w", name, d.pathErr("create", Name(tmp), err))
	}
	f := os.NewFile(uintptr(fd), tmp)
	cleanup := func(err error) error {
		f.Close()
		unix.Unlinkat(d.fd(), tmp, 0)
		return fmt.Errorf("set flag %s: %w", name, err)
	}
	if _, err := f.Write(body); err != nil {
		return cleanup(err)
	}
	// The umask may have narrowed the mode; readers on the other side
	// (the SFTP account) need it exactly.
	if err := f.Chmod(d.Mode.Perm()); err != nil {
		return cleanup(err)
	}
	if err := f.Sync(); err != nil {
		return cleanup(err)
	}
	if err := f.Close(); err != nil {
		unix.Unlinkat(d.fd(), tmp, 0)
		return fmt.Errorf("set flag %s: %w", name, err)
	}
	if err := unix.Renameat(d.fd(), tmp, d.fd(), string(name)); err != nil {
		unix.Unlinkat(d.fd(), tmp, 0)
		return fmt.Errorf("set flag %s: %w", name, d.pathErr("rename", name, err))
	}
	if err := d.dir.Sync(); err != nil {
		return fmt.Errorf("set flag %s: sync dir: %w", name, err)
	}
	return nil
}

// Get reads a flag's body without following symlinks.
func (d *Dir) Get(ctx context.Context, name Name) ([]byte, error) {
	if err := name.Valid(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get flag %s: %w", name, err)
	}
	fd, err := unix.Openat(d.fd(), string(name), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("get flag %s: %w", name, ErrNotRegular)
		}
		return nil, fmt.Errorf("get flag %s: %w", name, d.pathErr("open", name, err))
	}
	f := os.NewFile(uintptr(fd), string(name))
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("get flag %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("get flag %s: %w", name, ErrNotRegular)
	}
	return readLimited(name, f)
}

func readLimited(name Name, r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("get flag %s: %w", name, err)
	}
	if len(body) > MaxBody {
		return body[:MaxBody], fmt.Errorf("get flag %s: %w", name, ErrTooLarge)
	}
	return body, nil
}

// Stat describes a flag without following symlinks.
func (d *Dir) Stat(ctx context.Context, name Name) (Info, error) {
	if err := name.Valid(); err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("stat flag %s: %w", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd(), string(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Info{}, fmt.Errorf("stat flag %s: %w", name, d.pathErr("stat", name, err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return Info{}, fmt.Errorf("stat flag %s: %w", name, ErrNotRegular)
	}
	return infoFromStat(name, &st), nil
}

func infoFromStat(name Name, st *unix.Stat_t) Info {
	return Info{
		Name:     name,
		Size:     st.Size,
		ModTime:  time.Unix(st.Mtim.Unix()),
		UID:      st.Uid,
		HasOwner: true,
	}
}

// Clear removes a flag; an absent flag is fine.
func (d *Dir) Clear(ctx context.Context, name Name) error {
	if err := name.Valid(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("clear flag %s: %w", name, err)
	}
	err := unix.Unlinkat(d.fd(), string(name), 0)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("clear flag %s: %w", name, d.pathErr("remove", name, err))
	}
	return nil
}

// List returns the valid, regular flag files of the directory.
func (d *Dir) List(ctx context.Context) ([]Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", d.path, err)
	}
	// A fresh descriptor: reading a directory moves its offset.
	fd, err := unix.Openat(d.fd(), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.path, err)
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.path, err)
	}
	var infos []Info
	for _, n := range names {
		name := Name(n)
		if n == "" || n[0] == '.' || name.Valid() != nil {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(d.fd(), n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		infos = append(infos, infoFromStat(name, &st))
	}
	SortInfos(infos)
	return infos, nil
}

// Close closes the directory.
func (d *Dir) Close() error { return d.dir.Close() }
