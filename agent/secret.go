package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// DefaultSecretPath is the per-user client secret,
// os.UserConfigDir()/kyso/client-secret, or "" when the OS names no
// configuration folder.
func DefaultSecretPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "kyso", "client-secret")
}

// secretBytes is the client secret's strength: 256 random bits.
const secretBytes = 32

// LoadOrCreateSecret returns the per-user client secret that local
// non-browser clients (the CLI, scripts) present instead of an Origin:
// 64 hex digits in a file only the user can read. The first call creates
// it (file 0600, folder 0700); two processes racing to create it end up
// with the same secret.
//
// On Unix a file that group or others may read or write is refused with
// an error telling the user to fix its permissions: such a secret may
// already be known to another account, so using it silently would hand
// that account the user's signing approvals, and replacing it silently
// would hide the problem.
func LoadOrCreateSecret(path string) (string, error) {
	if path == "" {
		return "", errors.New("agent: client secret: no path (the OS names no configuration folder)")
	}
	s, err := readSecret(path)
	if !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("agent: client secret: %w", err)
	}
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("agent: client secret: %w", err)
	}
	s = hex.EncodeToString(b)
	if err := createExclusive(path, []byte(s+"\n")); err != nil {
		if errors.Is(err, os.ErrExist) {
			// Another process created it first: use theirs.
			return readSecret(path)
		}
		return "", fmt.Errorf("agent: client secret: %w", err)
	}
	return s, nil
}

func readSecret(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("agent: client secret: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("agent: client secret %s is not a regular file", path)
	}
	// Windows has no Unix mode bits: the file lives in the user's own
	// profile folder, protected by its ACL.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("agent: client secret %s is accessible to other users (mode %04o); fix it with: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("agent: client secret: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if b, err := hex.DecodeString(s); err != nil || len(b) != secretBytes {
		return "", fmt.Errorf("agent: client secret %s is malformed (want %d hex digits); delete it to create a new one", path, 2*secretBytes)
	}
	return strings.ToLower(s), nil
}

// createExclusive publishes data at path only if nothing is there yet,
// and only complete: it is written to a temporary file first and then
// hard-linked into place, which fails if path exists. Where hard links
// are unsupported it falls back to an O_EXCL create.
func createExclusive(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	err = os.Link(name, path)
	if err == nil || errors.Is(err, os.ErrExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
