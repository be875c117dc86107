// Package sftpstore implements [flags.Store] over SFTP, the way a slave sees
// the master's flag directory, and dials the one SSH connection it runs on.
package sftpstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"github.com/pkg/sftp"

	"github.com/nutslave/nutslave/flags"
)

// Store is a [flags.Store] for one directory on an SFTP server.
type Store struct {
	c   *sftp.Client
	dir string
}

var _ flags.Store = (*Store)(nil)

// New returns a store for dir (a path as the SFTP server sees it) over c.
// Closing the store does not close c.
func New(c *sftp.Client, dir string) *Store { return &Store{c: c, dir: dir} }

func (s *Store) path(name flags.Name) string { return path.Join(s.dir, string(name)) }

// Set writes body to a dot-named temporary file and renames it over name
// with posix-rename@openssh.com. Without that extension it returns
// [flags.ErrNoAtomicReplace] rather than remove-then-rename.
func (s *Store) Set(ctx context.Context, name flags.Name, body []byte) error {
	if err := name.Valid(); err != nil {
		return err
	}
	if len(body) > flags.MaxBody {
		return fmt.Errorf("set flag %s: %w", name, flags.ErrTooLarge)
	}
	if _, ok := s.c.HasExtension("posix-rename@openssh.com"); !ok {
		return fmt.Errorf("set flag %s: %w", name, flags.ErrNoAtomicReplace)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp := path.Join(s.dir, fmt.Sprintf(".%s.%d.%d.tmp", name, os.Getpid(), time.Now().UnixNano()))
	f, err := s.c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("set flag %s: %w", name, err)
	}
	fail := func(err error) error {
		f.Close()
		s.c.Remove(tmp)
		return fmt.Errorf("set flag %s: %w", name, err)
	}
	if _, err := f.Write(body); err != nil {
		return fail(err)
	}
	// fsync@openssh.com where the server has it; a plain close otherwise.
	if _, ok := s.c.HasExtension("fsync@openssh.com"); ok {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		s.c.Remove(tmp)
		return fmt.Errorf("set flag %s: %w", name, err)
	}
	if err := s.c.PosixRename(tmp, s.path(name)); err != nil {
		s.c.Remove(tmp)
		return fmt.Errorf("set flag %s: %w", name, err)
	}
	return nil
}

// Get reads a flag's body, refusing symlinks and bodies over MaxBody.
func (s *Store) Get(ctx context.Context, name flags.Name) ([]byte, error) {
	if _, err := s.Stat(ctx, name); err != nil {
		return nil, fmt.Errorf("get flag %s: %w", name, errors.Unwrap(err))
	}
	f, err := s.c.Open(s.path(name))
	if err != nil {
		return nil, fmt.Errorf("get flag %s: %w", name, err)
	}
	defer f.Close()
	buf := make([]byte, flags.MaxBody+1)
	n := 0
	for n < len(buf) {
		m, err := f.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("get flag %s: %w", name, err)
		}
	}
	if n > flags.MaxBody {
		return buf[:flags.MaxBody], fmt.Errorf("get flag %s: %w", name, flags.ErrTooLarge)
	}
	return buf[:n], nil
}

// Stat describes a flag with LSTAT, so a symlink is reported, not followed.
func (s *Store) Stat(ctx context.Context, name flags.Name) (flags.Info, error) {
	if err := name.Valid(); err != nil {
		return flags.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return flags.Info{}, fmt.Errorf("stat flag %s: %w", name, err)
	}
	fi, err := s.c.Lstat(s.path(name))
	if err != nil {
		return flags.Info{}, fmt.Errorf("stat flag %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return flags.Info{}, fmt.Errorf("stat flag %s: %w", name, flags.ErrNotRegular)
	}
	return info(name, fi), nil
}

func info(name flags.Name, fi fs.FileInfo) flags.Info {
	in := flags.Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		in.UID, in.HasOwner = st.UID, true
	}
	return in
}

// Clear removes a flag; an absent flag is fine.
func (s *Store) Clear(ctx context.Context, name flags.Name) error {
	if err := name.Valid(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("clear flag %s: %w", name, err)
	}
	if err := s.c.Remove(s.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clear flag %s: %w", name, err)
	}
	return nil
}

// List reads the directory in one READDIR exchange and returns its valid,
// regular flag files.
func (s *Store) List(ctx context.Context) ([]flags.Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fis, err := s.c.ReadDirContext(ctx, s.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.dir, err)
	}
	var infos []flags.Info
	for _, fi := range fis {
		n := fi.Name()
		name := flags.Name(n)
		if n == "" || n[0] == '.' || name.Valid() != nil || !fi.Mode().IsRegular() {
			continue
		}
		infos = append(infos, info(name, fi))
	}
	flags.SortInfos(infos)
	return infos, nil
}

// DirMark describes the directory itself in one LSTAT exchange: its
// modification time (whole seconds, as SFTP version 3 reports it), size
// and mode. Creating, removing or renaming an entry changes it; rewriting
// a file in place does not.
func (s *Store) DirMark(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	fi, err := s.c.Lstat(s.dir)
	if err != nil {
		return "", fmt.Errorf("stat %s: %w", s.dir, err)
	}
	return fmt.Sprintf("%d/%d/%v", fi.ModTime().Unix(), fi.Size(), fi.Mode()), nil
}

// Close does nothing: the client belongs to the caller.
func (s *Store) Close() error { return nil }
