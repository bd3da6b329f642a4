//go:build windows

package instance

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive lock on the first byte of f without waiting,
// returning ErrRunning if another handle holds it. LockFileEx locks belong
// to the handle, so a second open conflicts even within one process, and
// Windows drops them when the process ends, however it ends.
func lockFile(f *os.File) error {
	err := withHandle(f, func(h windows.Handle) error {
		return windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
	})
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return ErrRunning
	}
	if err != nil {
		return fmt.Errorf("LockFileEx: %w", err)
	}
	return nil
}

// unlockFile releases the lock taken by lockFile. Closing the handle would
// release it too, but Windows documents that as happening "eventually", so
// Close unlocks explicitly before a successor tries.
func unlockFile(f *os.File) error {
	err := withHandle(f, func(h windows.Handle) error {
		return windows.UnlockFileEx(h, 0, 1, 0, new(windows.Overlapped))
	})
	if err != nil {
		return fmt.Errorf("UnlockFileEx: %w", err)
	}
	return nil
}

func withHandle(f *os.File, fn func(windows.Handle) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(windows.Handle(fd)) }); err != nil {
		return err
	}
	return ferr
}

// checkDir refuses anything but a real folder. Ownership is not checked
// here: the default folder lives under %LOCALAPPDATA%, whose inherited ACL
// already keeps other users out, and Windows ACLs do not reduce to the
// owner-and-mode test used on unix.
func checkDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("instance: check %s: %w", dir, err)
	}
	if fi.Mode()&os.ModeSymlink != 0 || fi.Mode()&os.ModeIrregular != 0 {
		return fmt.Errorf("instance: %s is a link, not a folder; refusing to use it", dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("instance: %s is not a folder", dir)
	}
	return nil
}

// restrictSocket does nothing on Windows: the socket file inherits the
// folder's per-user ACL, and chmod there only toggles the read-only bit.
func restrictSocket(string) error { return nil }
