package doctor

import (
	"errors"

	"golang.org/x/sys/windows"
)

// refused reports whether a dial failed because nothing listens. Windows
// reports WSAECONNREFUSED, which syscall.ECONNREFUSED (an errno invented
// for portability) does not match.
func refused(err error) bool { return errors.Is(err, windows.WSAECONNREFUSED) }
