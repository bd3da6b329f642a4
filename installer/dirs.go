package installer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// mkdirs is os.MkdirAll that returns the folders it created, outermost
// first, so that a failed install (or policy kit) can remove exactly those
// with removeDirs. On an error it returns the folders it created until
// then.
func mkdirs(dir string, perm fs.FileMode) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return nil, &fs.PathError{Op: "mkdir", Path: d, Err: syscall.ENOTDIR}
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], perm); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue // created meanwhile by someone else: not ours to remove
			}
			return made, err
		}
		made = append(made, missing[i])
	}
	return made, nil
}

// removeDirs removes folders innermost first; one that is not empty (some
// other file lives there now) stays.
func removeDirs(dirs []string) {
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i])
	}
}
