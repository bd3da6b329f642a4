package agent

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateSecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kyso", "client-secret")

	s, err := LoadOrCreateSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
		t.Errorf("secret %q is not 64 lowercase hex digits", s)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("secret mode %v, want 0600", fi.Mode().Perm())
		}
		di, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o700 {
			t.Errorf("folder mode %v, want 0700", di.Mode().Perm())
		}
	}
	again, err := LoadOrCreateSecret(path)
	if err != nil || again != s {
		t.Errorf("second load = %q, %v; want the same secret", again, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d files, want only the secret (no temporary left)", len(entries))
	}
}

func TestLoadOrCreateSecretRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "client-secret")
	const n = 8
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := LoadOrCreateSecret(path)
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		})
	}
	wg.Wait()
	for i := range got {
		if got[i] != got[0] {
			t.Fatalf("racing creators got different secrets: %q", got)
		}
	}
}

func TestLoadOrCreateSecretRefuses(t *testing.T) {
	good := strings.Repeat("0f", 32) + "\n"
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
		unix    bool
	}{
		{"group readable", good, 0o640, "chmod 600", true},
		{"world readable", good, 0o604, "chmod 600", true},
		{"malformed", "not hex\n", 0o600, "malformed", false},
		{"short", strings.Repeat("0f", 16), 0o600, "malformed", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.unix && runtime.GOOS == "windows" {
				// Windows has no mode bits to check; the case does
				// not exist there.
				return
			}
			path := filepath.Join(t.TempDir(), "client-secret")
			if err := os.WriteFile(path, []byte(c.content), c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			s, err := LoadOrCreateSecret(path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadOrCreateSecret = %q, %v; want an error mentioning %q", s, err, c.want)
			}
			// The file is left as it was, for the user to fix.
			data, _ := os.ReadFile(path)
			if string(data) != c.content {
				t.Error("the refused file was changed")
			}
		})
	}

	path := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(path, []byte(strings.ToUpper(good)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := LoadOrCreateSecret(path); err != nil || s != strings.TrimSpace(good) {
		t.Errorf("upper-case secret = %q, %v", s, err)
	}
	if _, err := LoadOrCreateSecret(""); err == nil {
		t.Error("empty path accepted")
	}
	if DefaultSecretPath() == "" && os.Getenv("HOME") != "" {
		t.Error("DefaultSecretPath is empty")
	}
}
