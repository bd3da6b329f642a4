package token

import (
	"os"
	"path/filepath"
)

// Discover returns the PKCS#11 modules present on this machine: the
// configured paths first (even when missing, so that a wrong configured path
// is reported rather than silently ignored), then every known Vietnamese and
// common module name found in the standard folders of this operating system.
// Each path appears once.
func Discover(configured []string) []string {
	return discoverIn(configured, defaultModuleDirs(), defaultModuleNames())
}

func discoverIn(configured, dirs, names []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		key := p
		if r, err := filepath.EvalSymlinks(p); err == nil {
			key = r
		}
		if seen[key] {
			return
		}
		seen[key] = true
		out = append(out, p)
	}
	for _, p := range configured {
		add(p)
	}
	for _, d := range dirs {
		for _, n := range names {
			p := filepath.Join(d, n)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				add(p)
			}
		}
	}
	return out
}
