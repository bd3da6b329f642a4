//go:build !linux && !freebsd && !openbsd && !netbsd && !windows && !darwin

package tray

import (
	"context"
	"fmt"
	"runtime"
)

// run fails: there is no tray implementation for this system.
func (t *Tray) run(ctx context.Context, cfg Config) error {
	return fmt.Errorf("tray: no tray on %s", runtime.GOOS)
}
