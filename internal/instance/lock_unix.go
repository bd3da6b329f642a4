//go:build unix

package instance

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock on f without waiting, returning
// ErrRunning if another open file description holds it. flock locks belong
// to the open file description, not the process, so a second open of the
// same file conflicts even within one process, and the kernel drops the lock
// when the last descriptor closes, however the process ends.
func lockFile(f *os.File) error {
	return flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
}

// unlockFile releases the lock taken by lockFile.
func unlockFile(f *os.File) error {
	return flock(f, syscall.LOCK_UN)
}

func flock(f *os.File, how int) error {
	// SyscallConn rather than Fd: Fd would switch the file to blocking mode
	// for the rest of its life.
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	cerr := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if ferr != syscall.EINTR {
				return
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	if errors.Is(ferr, syscall.EWOULDBLOCK) {
		return ErrRunning
	}
	if ferr != nil {
		return fmt.Errorf("flock: %w", ferr)
	}
	return nil
}

// checkDir refuses a folder another user could have put a socket in: one
// that is not a real folder, belongs to someone else, or is writable by
// group or others. Otherwise that user could answer a later launch in our
// name, or stand in for the running instance.
func checkDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("instance: check %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("instance: check %s: cannot read owner", dir)
	}
	return dirProblem(dir, fi.Mode(), int(st.Uid), os.Geteuid())
}

// dirProblem is checkDir's decision, apart from the stat call so it can be
// tested for owners the test cannot create.
func dirProblem(dir string, mode fs.FileMode, uid, euid int) error {
	switch {
	case mode&fs.ModeSymlink != 0:
		return fmt.Errorf("instance: %s is a symbolic link, not a folder; refusing to use it", dir)
	case !mode.IsDir():
		return fmt.Errorf("instance: %s is not a folder", dir)
	case uid != euid:
		return fmt.Errorf("instance: %s belongs to user id %d, not to us (%d); refusing to use it", dir, uid, euid)
	case mode.Perm()&0o022 != 0:
		return fmt.Errorf("instance: %s is writable by group or others (mode %#o); refusing to use it (chmod 700 it)", dir, mode.Perm())
	}
	return nil
}

// restrictSocket makes the socket at path connectable by its owner only.
func restrictSocket(path string) error {
	return os.Chmod(path, 0o600)
}
