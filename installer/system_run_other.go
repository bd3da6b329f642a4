//go:build !windows

package installer

import (
	"context"
	"io"
)

// RunUnderServiceManager reports false outside Windows: systemd (or any
// other manager) starts `kyso serve` as a plain process and stops it with
// SIGTERM, which kyso serve handles itself.
func RunUnderServiceManager(string, func(log io.Writer) (serve func(context.Context) error, err error)) (bool, error) {
	return false, nil
}
