package installer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// Write writes the kit's files into dir and returns their paths, sorted.
// It is all or nothing: the files are written into a new folder next to
// dir, which is renamed to dir only when every file is complete, so a
// failure (bad entry, full disk, dir being a file) leaves no kit and no
// half-written file behind, and any earlier kit in dir untouched.
//
// dir may be missing (it is created, with missing parents), empty, or
// hold an earlier kit — only the kit's own files, as a re-run after the
// origin list changed finds it — which is replaced as a whole. Any other
// content is an error: the kit never deletes files it did not write.
func (k PolicyKit) Write(dir string) ([]string, error) {
	files, err := k.Files()
	if err != nil {
		return nil, err
	}
	// Absolute, so that "." or "kit/" name a folder with a parent to
	// build the new kit in; the paths returned keep the caller's form.
	named := dir
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("installer: policy kit: %w", err)
	}
	replace, err := checkKitDir(dir)
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(dir)
	created, err := mkdirs(parent, 0o755)
	ok := false
	defer func() {
		if !ok {
			removeDirs(created)
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("installer: policy kit: %w", err)
	}

	// The new kit is built next to dir, on the same file system, so that
	// the final step is one rename.
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("installer: policy kit: %w", err)
	}
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("installer: policy kit: %w", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := writeSynced(filepath.Join(tmp, filepath.FromSlash(name)), files[name]); err != nil {
			return nil, fmt.Errorf("installer: policy kit: %w", err)
		}
	}

	if replace {
		// An earlier kit (or an empty folder) steps aside, and comes back
		// if the new one cannot take its place.
		old, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".old-*")
		if err != nil {
			return nil, fmt.Errorf("installer: policy kit: %w", err)
		}
		if err := os.Remove(old); err != nil {
			return nil, fmt.Errorf("installer: policy kit: %w", err)
		}
		if err := os.Rename(dir, old); err != nil {
			return nil, fmt.Errorf("installer: policy kit: move the earlier kit aside: %w", err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			if rerr := os.Rename(old, dir); rerr != nil {
				return nil, fmt.Errorf("installer: policy kit: %w (and the earlier kit stays in %s: %v)", err, old, rerr)
			}
			return nil, fmt.Errorf("installer: policy kit: %w", err)
		}
		ok = true
		// The new kit is in place: failing to delete the old one (a
		// hidden sibling folder) does not make the write a failure.
		_ = os.RemoveAll(old)
	} else {
		if err := os.Rename(tmp, dir); err != nil {
			return nil, fmt.Errorf("installer: policy kit: %w", err)
		}
		ok = true
	}
	syncDir(parent)

	out := make([]string, len(names))
	for i, name := range names {
		out[i] = filepath.Join(named, filepath.FromSlash(name))
	}
	return out, nil
}

// checkKitDir reports whether dir exists and may be replaced (it is an
// empty folder or holds only kit files), and fails when it must not be.
func checkKitDir(dir string) (replace bool, err error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("installer: policy kit: %w", err)
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("installer: policy kit: %s exists and is not a folder", dir)
	}
	known := kitPaths()
	var foreign string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "." || slices.ContainsFunc(known, func(k string) bool { return len(k) > len(rel) && k[:len(rel)+1] == rel+"/" }) {
				return nil
			}
		} else if d.Type().IsRegular() && slices.Contains(known, rel) {
			return nil
		}
		foreign = path
		return filepath.SkipAll
	})
	if err != nil {
		return false, fmt.Errorf("installer: policy kit: %w", err)
	}
	if foreign != "" {
		return false, fmt.Errorf("installer: policy kit: %s already holds %s, which is not part of a policy kit; choose an empty or new folder", dir, foreign)
	}
	return true, nil
}

// writeSynced writes a kit file (not secret: 0644) and flushes it, so
// that the rename publishing the kit never publishes empty files after a
// crash.
func writeSynced(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename in dir durable where the platform can.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
