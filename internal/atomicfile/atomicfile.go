// Package atomicfile writes files so that readers see either the old file or
// the complete new one, never a partial write: the bytes go to a temporary
// file in the same folder, which is renamed over the target on Commit and
// removed on Abort. kyso's rule that a failed or cancelled operation leaves
// no half-written output rests on it.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File is an output file being written. Write to it like an *os.File, then
// call Commit to publish it or Abort to discard it; calling Abort after
// Commit does nothing, so `defer f.Abort()` is the usual pattern.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts writing path. The temporary file gets mode perm before any
// byte is written, so a secret is never readable by others even briefly.
func Create(path string, perm os.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("atomicfile: create temporary file for %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("atomicfile: chmod %s: %w", f.Name(), err)
	}
	return &File{File: f, path: path}, nil
}

// Commit flushes the file to disk and renames it over the target path.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: commit after commit or abort")
	}
	f.done = true
	tmp := f.Name()
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("atomicfile: rename to %s: %w", f.path, err)
	}
	// Make the rename itself durable; not every platform can sync a folder.
	if d, err := os.Open(filepath.Dir(f.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Abort discards the temporary file. It is a no-op after Commit or Abort.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	f.Close()
	if err := os.Remove(f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("atomicfile: remove %s: %w", f.Name(), err)
	}
	return nil
}

// WriteFile writes data to path atomically with mode perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", f.Name(), err)
	}
	return f.Commit()
}
