// Package dist builds kyso's release artifacts — the .deb and .rpm (with
// nfpm), the .msi (with wixl) and the Authenticode-signed kyso.exe — and
// their SHA256SUMS. `make dist` runs it through cmd/kysodist; its tests
// build everything once into a temporary folder and install the .deb.
//
// The packages' sources are in package packaging; the autostart entries
// come from package installer, the one template `kyso service install`
// writes too. docs/deployment.md ("Packages") is the user's side of this.
package dist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NFPM is the nfpm command the build runs, pinned: newer versions need
// modules the module proxy here refuses. `go run` builds it once into Go's
// cache and leaves go.mod alone.
const NFPM = "github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2"

// Options are what Build needs besides the source tree.
type Options struct {
	// Repo is the module's root folder (where go.mod is).
	Repo string
	// Out receives the artifacts and SHA256SUMS; it is created if needed.
	// Artifacts of other versions already there are left alone.
	Out string
	// Describe is git describe's output to version the build with; ""
	// runs git describe in Repo.
	Describe string
	// Signer signs kyso.exe and the .msi. Nil signs with a throwaway test
	// certificate made for this build, whose CA is written to Out as
	// TestCAName so that the signatures can be checked.
	Signer *Signer
	// ModTime is given to every file in the packages; zero takes
	// SOURCE_DATE_EPOCH, else the time of Repo's last commit, so that
	// rebuilding a commit gives the same file times.
	ModTime time.Time
	// Maintainer and Homepage go into the package metadata; empty ones
	// take DefaultMaintainer and DefaultHomepage.
	Maintainer, Homepage string
	// License is the packages' license field; empty leaves it out.
	License string
	// Log receives one line per step; nil discards them.
	Log io.Writer
}

// Package metadata defaults.
const (
	DefaultMaintainer = "kyso developers <kyso@kyso.vn>"
	DefaultHomepage   = "https://github.com/kyso-vn/kyso"
)

// TestCAName is the file, in Out, of the throwaway CA a build without a
// Signer signs with. It is not listed in SHA256SUMS: it is not a release
// artifact.
const TestCAName = "test-signing-ca.pem"

// SumsName is the checksum file, in `sha256sum -c` format.
const SumsName = "SHA256SUMS"

// Result names what Build made, as paths in Options.Out.
type Result struct {
	Version Version
	// Deb, RPM and MSI are the packages; Exe is the signed kyso.exe that
	// the .msi carries, also published on its own.
	Deb, RPM, MSI, Exe string
	// Sums is SHA256SUMS, over the four artifacts.
	Sums string
	// TestCA is the throwaway CA's certificate when no Signer was given.
	TestCA string
	// GlibcVersion is the least glibc the Linux binary needs ("2.34").
	GlibcVersion string
	// Steps says how long each step took, in order.
	Steps []Step
}

// Step is one timed part of the build.
type Step struct {
	Name     string
	Duration time.Duration
}

// Artifacts lists the artifacts in the order SHA256SUMS has them.
func (r *Result) Artifacts() []string { return []string{r.Deb, r.RPM, r.MSI, r.Exe} }

// builder carries one build's state between its steps.
type builder struct {
	opt     Options
	ver     Version
	work    string // temporary: binaries, staging tree, rendered configs
	res     *Result
	logf    func(format string, args ...any)
	modTime time.Time
}

// Build makes the .deb, the .rpm, the signed kyso.exe and the signed .msi
// in opt.Out, and SHA256SUMS over them. It needs go, the mingw-w64 C
// compiler, wixl and osslsigncode (the error names the Debian package of
// a missing one).
func Build(ctx context.Context, opt Options) (*Result, error) {
	if opt.Repo == "" || opt.Out == "" {
		return nil, errors.New("dist: Options.Repo and Options.Out are required")
	}
	// The tools run in other folders (nfpm in the work folder).
	var err error
	if opt.Repo, err = filepath.Abs(opt.Repo); err != nil {
		return nil, err
	}
	if opt.Out, err = filepath.Abs(opt.Out); err != nil {
		return nil, err
	}
	if opt.Maintainer == "" {
		opt.Maintainer = DefaultMaintainer
	}
	if opt.Homepage == "" {
		opt.Homepage = DefaultHomepage
	}
	b := &builder{opt: opt, res: &Result{}}
	w := opt.Log
	if w == nil {
		w = io.Discard
	}
	b.logf = func(format string, args ...any) { fmt.Fprintf(w, "kysodist: "+format+"\n", args...) }
	for _, t := range []struct{ cmd, pkg string }{
		{"go", "golang"},
		{"x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"},
		{"wixl", "wixl"},
		{"osslsigncode", "osslsigncode"},
	} {
		if _, err := exec.LookPath(t.cmd); err != nil {
			return nil, fmt.Errorf("dist: %s is needed (Debian package %s; scripts/install-deps.sh installs it): %w", t.cmd, t.pkg, err)
		}
	}
	if opt.Describe == "" {
		b.ver, err = Describe(ctx, opt.Repo)
	} else {
		b.ver, err = ParseDescribe(opt.Describe)
	}
	if err != nil {
		return nil, err
	}
	if _, err := b.ver.MSI(); err != nil {
		return nil, err
	}
	b.res.Version = b.ver
	if b.modTime, err = modTime(ctx, opt); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, err
	}
	if opt.Signer != nil {
		// A test CA from an earlier build would vouch for nothing here.
		if err := os.Remove(filepath.Join(opt.Out, TestCAName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if b.work, err = os.MkdirTemp("", "kysodist-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.work)

	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"linux binary", b.linuxBinary},
		{"stage", b.stage},
		{"deb", func(ctx context.Context) error { return b.nfpm(ctx, "deb") }},
		{"rpm", func(ctx context.Context) error { return b.nfpm(ctx, "rpm") }},
		{"windows binary", b.windowsBinary},
		{"sign exe", b.signExe},
		{"msi", b.msi},
		{"sums", b.sums},
	}
	for _, s := range steps {
		b.logf("%s…", s.name)
		start := time.Now()
		if err := s.run(ctx); err != nil {
			return nil, err
		}
		b.res.Steps = append(b.res.Steps, Step{s.name, time.Since(start)})
	}
	return b.res, nil
}

// modTime is Options.ModTime, else SOURCE_DATE_EPOCH, else the last
// commit's time, else the start of 2026 (a tree without git).
func modTime(ctx context.Context, opt Options) (time.Time, error) {
	if !opt.ModTime.IsZero() {
		return opt.ModTime.UTC(), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("dist: SOURCE_DATE_EPOCH=%q is not a number of seconds", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--format=%ct")
	cmd.Dir = opt.Repo
	if out, err := cmd.Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return time.Unix(n, 0).UTC(), nil
		}
	}
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), nil
}

// goBuild builds ./cmd/kyso for GOOS with cgo (PKCS#11 needs it), the
// version stamped in, without local paths or debug symbols.
func (b *builder) goBuild(ctx context.Context, goos, cc, out string) error {
	// A position-independent executable, as Debian's hardening asks (and
	// Go's default on Windows).
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildmode=pie",
		"-ldflags", "-s -w -X main.version="+b.ver.String(),
		"-o", out, "./cmd/kyso")
	cmd.Dir = b.opt.Repo
	cmd.Env = append(cleanEnv(), "CGO_ENABLED=1", "GOOS="+goos, "GOARCH=amd64", "CC="+cc)
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dist: go build for %s: %w\n%s", goos, err, o)
	}
	return nil
}

// cleanEnv is this process's environment without the variables that
// would change what a child go command builds for.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOOS", "GOARCH", "CC", "CGO_ENABLED", "GOFLAGS":
			return true
		}
		return false
	})
}

func (b *builder) linuxBinary(ctx context.Context) error {
	out := filepath.Join(b.work, "stage", "kyso")
	if err := b.goBuild(ctx, "linux", "gcc", out); err != nil {
		return err
	}
	v, err := glibcNeeded(out)
	if err != nil {
		return err
	}
	b.res.GlibcVersion = v
	return nil
}

func (b *builder) windowsBinary(ctx context.Context) error {
	return b.goBuild(ctx, "windows", "x86_64-w64-mingw32-gcc", filepath.Join(b.work, "kyso.exe"))
}

// signer is Options.Signer, or a test signer made on first use with its
// CA copied to Out.
func (b *builder) signer() (Signer, error) {
	if b.opt.Signer != nil {
		s := *b.opt.Signer
		s.Description, s.URL = "kyso", b.opt.Homepage
		return s, nil
	}
	dir := filepath.Join(b.work, "test-signer")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Signer{}, err
	}
	ts, err := NewTestSigner(dir)
	if err != nil {
		return Signer{}, fmt.Errorf("dist: throwaway signing certificate: %w", err)
	}
	ca, err := os.ReadFile(ts.CAFile)
	if err != nil {
		return Signer{}, err
	}
	b.res.TestCA = filepath.Join(b.opt.Out, TestCAName)
	if err := os.WriteFile(b.res.TestCA, ca, 0o644); err != nil {
		return Signer{}, err
	}
	b.logf("no SIGN_PKCS12 or SIGN_PKCS11_MODULE: signed with a throwaway test certificate (CA in %s), not for release", b.res.TestCA)
	b.opt.Signer = &ts.Signer
	s := ts.Signer
	s.Description, s.URL = "kyso", b.opt.Homepage
	return s, nil
}

func (b *builder) signExe(ctx context.Context) error {
	s, err := b.signer()
	if err != nil {
		return err
	}
	// Signed in the work folder, where wixl (which only takes relative
	// paths) picks it up, then copied out.
	signed := filepath.Join(b.work, signedExe)
	if err := os.MkdirAll(filepath.Dir(signed), 0o755); err != nil {
		return err
	}
	if err := s.Sign(ctx, filepath.Join(b.work, "kyso.exe"), signed); err != nil {
		return err
	}
	data, err := os.ReadFile(signed)
	if err != nil {
		return err
	}
	b.res.Exe = filepath.Join(b.opt.Out, "kyso-"+b.ver.Package()+"-windows-amd64.exe")
	return os.WriteFile(b.res.Exe, data, 0o644)
}

// signedExe is the signed kyso.exe in the work folder, relative to it.
const signedExe = "signed/kyso.exe"

// sums writes SHA256SUMS over the artifacts, by base name, as sha256sum
// does, so that `sha256sum -c SHA256SUMS` checks them in Out.
func (b *builder) sums(context.Context) error {
	var sb strings.Builder
	for _, p := range b.res.Artifacts() {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&sb, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), filepath.Base(p))
	}
	b.res.Sums = filepath.Join(b.opt.Out, SumsName)
	return os.WriteFile(b.res.Sums, []byte(sb.String()), 0o644)
}
