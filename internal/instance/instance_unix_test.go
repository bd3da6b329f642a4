//go:build unix

package instance

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnsafeDirIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode os.FileMode
	}{
		{"world-writable", 0o777},
		{"world-writable with sticky bit, like /tmp", 0o777 | os.ModeSticky},
		{"group-writable", 0o770},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testDir(t)
			// A live instance in the folder before it was loosened: Signal
			// must refuse to talk to whatever answers there now.
			inst, _ := mustAcquire(t, dir, Info{})
			if err := os.Chmod(dir, tt.mode); err != nil {
				t.Fatal(err)
			}
			if _, err := Signal(signalCtx(t), dir, Request{Command: CommandShow}); err == nil || !strings.Contains(err.Error(), "writable") {
				t.Errorf("Signal: err = %v, want a writable-folder refusal", err)
			}
			if err := inst.Close(); err != nil {
				t.Fatal(err)
			}
			if inst, err := Acquire(dir, func(Request) Info { return Info{} }); err == nil || !strings.Contains(err.Error(), "writable") {
				if inst != nil {
					inst.Close()
				}
				t.Errorf("Acquire: err = %v, want a writable-folder refusal", err)
			}
		})
	}
}

// TestDirProblem covers the folder check's decisions, including owners a
// test running as an ordinary user cannot create.
func TestDirProblem(t *testing.T) {
	t.Parallel()
	const me, other = 1000, 1001
	tests := []struct {
		name string
		mode fs.FileMode
		uid  int
		want string // substring of the error; "" for no error
	}{
		{"private folder", fs.ModeDir | 0o700, me, ""},
		{"readable by others", fs.ModeDir | 0o755, me, ""},
		{"someone else's folder", fs.ModeDir | 0o700, other, "belongs to user id 1001"},
		{"root's folder", fs.ModeDir | 0o700, 0, "belongs to user id 0"},
		{"group-writable", fs.ModeDir | 0o770, me, "writable by group or others"},
		{"world-writable", fs.ModeDir | 0o707, me, "writable by group or others"},
		{"symbolic link", fs.ModeSymlink | 0o777, me, "symbolic link"},
		{"regular file", 0o600, me, "not a folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := dirProblem("/run/user/1000/kyso", tt.mode, tt.uid, me)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSymlinkedDirIsRefused(t *testing.T) {
	t.Parallel()
	target := testDir(t)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if inst, err := Acquire(link, func(Request) Info { return Info{} }); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		if inst != nil {
			inst.Close()
		}
		t.Fatalf("Acquire(symlink): err = %v, want a symbolic-link refusal", err)
	}
}

func TestAcquireCreatesPrivateDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "run", "kyso")
	mustAcquire(t, dir, Info{})
	for _, p := range []string{dir, filepath.Join(dir, lockName), filepath.Join(dir, socketName)} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %#o, want no group or other access", p, perm)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	// No t.Parallel: t.Setenv changes the whole process's environment.
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	userCache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, runtimeDir, want string
	}{
		{"runtime dir set", "/run/user/1000", "/run/user/1000/kyso"},
		{"runtime dir unset", "", filepath.Join(userCache, "kyso")},
		{"relative runtime dir is ignored", "run/user", filepath.Join(userCache, "kyso")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("XDG_RUNTIME_DIR", tt.runtimeDir)
			got, err := DefaultDir()
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("DefaultDir() = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(cache, "kyso")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DefaultDir created its folder (Stat err = %v); only Acquire should", err)
	}
}
