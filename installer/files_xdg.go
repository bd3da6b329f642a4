//go:build unix && !darwin

package installer

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/kyso-vn/kyso/internal/atomicfile"
)

// What the user autostart (autostart_xdg.go) and the system service
// (system_linux.go) do with their files: both write a unit and the link that
// enables it, and read them back the same way.

// installEntries writes es in order, each atomically, creating missing
// folders with dirMode, and returns their paths. It is all or nothing: if
// one entry cannot be written, those already written are put back as they
// were (removed, or their earlier content restored) along with the folders
// created for them, and the error joins the write error with any failure to
// put something back (a *FileError with Op "restore").
func installEntries(es []entry, dirMode fs.FileMode) ([]string, error) {
	var done []saved
	for _, e := range es {
		s, err := put(e, dirMode)
		if err != nil {
			errs := []error{err}
			for i := len(done) - 1; i >= 0; i-- {
				if rerr := done[i].restore(); rerr != nil {
					errs = append(errs, rerr)
				}
			}
			return nil, errors.Join(errs...)
		}
		done = append(done, s)
	}
	paths := make([]string, len(es))
	for i, e := range es {
		paths[i] = e.path
	}
	return paths, nil
}

// uninstallEntries removes the link that enables a unit, then files (the
// unit and anything else Install wrote), and returns the paths it removed;
// files that are not there are fine. The link goes first so that no manager
// ever sees it dangling. A file it cannot remove stops it with a
// *FileError, and the paths removed until then are returned. Like
// `systemctl disable`, it drops the link's .wants folder once that is
// empty; one that still enables other units stays.
func uninstallEntries(link string, files ...string) ([]string, error) {
	var removed []string
	for _, p := range append([]string{link}, files...) {
		err := os.Remove(p)
		switch {
		case err == nil:
			removed = append(removed, p)
		case absent(err):
		default:
			return removed, &FileError{Op: "remove", Path: p, Err: err}
		}
	}
	os.Remove(filepath.Dir(link))
	return removed, nil
}

// entriesStatus reports, for each entry in order, whether it exists and is
// what Install writes: a regular file with the same content, or a symbolic
// link to the same target. A link to absUnit, the unit's absolute path as
// its manager sees it (the link `systemctl enable` writes), counts as
// current too.
func entriesStatus(es []entry, absUnit string) ([]FileStatus, error) {
	var files []FileStatus
	for _, e := range es {
		f := FileStatus{Path: e.path}
		fi, err := os.Lstat(e.path)
		switch {
		case absent(err):
			files = append(files, f)
			continue
		case err != nil:
			return nil, &FileError{Op: "read", Path: e.path, Err: err}
		}
		f.Present = true
		switch {
		case e.target != "" && fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(e.path)
			if err != nil {
				return nil, &FileError{Op: "read", Path: e.path, Err: err}
			}
			f.Current = filepath.Clean(t) == filepath.Clean(e.target) || filepath.Clean(t) == absUnit
		case e.target == "" && fi.Mode().IsRegular():
			b, err := os.ReadFile(e.path)
			if err != nil {
				return nil, &FileError{Op: "read", Path: e.path, Err: err}
			}
			f.Current = bytes.Equal(b, e.content)
		}
		files = append(files, f)
	}
	return files, nil
}

// absent reports an error that means "nothing there": the file does not
// exist, or one of the folders on its path is a file.
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// saved is what a path held before Install changed it, so that a later
// failure can put it back.
type saved struct {
	path    string
	existed bool
	content []byte
	mode    fs.FileMode
	target  string   // set when it was a symbolic link
	made    []string // folders created for it, outermost first
}

// put writes one entry atomically (a reader sees the old file or the new
// one, never a part) and returns what the path held before.
func put(e entry, dirMode fs.FileMode) (saved, error) {
	s := saved{path: e.path}
	fi, err := os.Lstat(e.path)
	switch {
	case err == nil:
		s.existed = true
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			s.target, err = os.Readlink(e.path)
		case fi.Mode().IsRegular():
			s.mode = fi.Mode().Perm()
			s.content, err = os.ReadFile(e.path)
		default:
			return s, &FileError{Op: "write", Path: e.path, Err: errors.New("something that is not a file is in the way")}
		}
		if err != nil {
			return s, &FileError{Op: "read", Path: e.path, Err: err}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return s, &FileError{Op: "write", Path: e.path, Err: err}
	}
	s.made, err = mkdirs(filepath.Dir(e.path), dirMode)
	if err == nil {
		if e.target != "" {
			err = replaceLink(e.path, e.target)
		} else {
			err = atomicfile.WriteFile(e.path, e.content, 0o644)
		}
	}
	if err != nil {
		removeDirs(s.made)
		return s, &FileError{Op: "write", Path: e.path, Err: err}
	}
	return s, nil
}

// restore puts back what put replaced and removes the folders it created.
func (s saved) restore() error {
	var err error
	switch {
	case !s.existed:
		err = os.Remove(s.path)
	case s.target != "":
		err = replaceLink(s.path, s.target)
	default:
		err = atomicfile.WriteFile(s.path, s.content, s.mode)
	}
	removeDirs(s.made)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &FileError{Op: "restore", Path: s.path, Err: err}
	}
	return nil
}

// replaceLink points path at target by renaming a fresh link over it, so
// that the old link (if any) is replaced in one step.
func replaceLink(path, target string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".link-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	if err := os.Remove(tmp); err != nil {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
