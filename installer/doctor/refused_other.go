//go:build !windows

package doctor

import (
	"errors"
	"syscall"
)

// refused reports whether a dial failed because nothing listens.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
