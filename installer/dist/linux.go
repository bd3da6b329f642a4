package dist

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/kyso-vn/kyso/installer"
	"github.com/kyso-vn/kyso/installer/packaging"
	"github.com/kyso-vn/kyso/tray"
)

// ExePath is where the packages install the Linux binary.
const ExePath = "/usr/bin/kyso"

// Docs are the files of the repository's docs/ folder the packages install
// in /usr/share/doc/kyso (the manual page points there for details).
func Docs() []string { return []string{"cli.md", "configuration.md"} }

// packagedHeader replaces the first line of the autostart entries, which
// says that `kyso service install` wrote them: in the packages it is the
// package that installs them and takes them away.
const packagedHeader = "# Part of the kyso package, for every user: uninstalling the package removes it."

// Autostart returns the systemd user unit, the XDG autostart entry and
// the target of the link that enables the unit, as installer.Autostart
// writes them for every user of a machine where kyso is ExePath, with
// their first (comment) line replaced by packagedHeader. The packages put
// the unit under /usr/lib/systemd/user instead of installer's
// /etc/systemd/user (see docs/deployment.md, "Packages").
func Autostart(root string) (unit, desktop []byte, linkTarget string, err error) {
	a := installer.Autostart{Exe: ExePath, Scope: installer.ScopeAllUsers, Root: root}
	entries, err := a.Entries()
	if err != nil {
		return nil, nil, "", err
	}
	links, err := a.Links()
	if err != nil {
		return nil, nil, "", err
	}
	for p, c := range entries {
		switch rel, _ := filepath.Rel(root, p); rel {
		case "etc/systemd/user/kyso.service":
			unit = c
		case "etc/xdg/autostart/kyso.desktop":
			desktop = c
		default:
			return nil, nil, "", fmt.Errorf("dist: installer writes %s, which the packages do not carry: update installer/dist", p)
		}
	}
	for p, t := range links {
		if rel, _ := filepath.Rel(root, p); rel != "etc/systemd/user/graphical-session.target.wants/kyso.service" {
			return nil, nil, "", fmt.Errorf("dist: installer links %s, which the packages do not carry: update installer/dist", p)
		}
		linkTarget = t
	}
	if unit == nil || desktop == nil || linkTarget == "" {
		return nil, nil, "", fmt.Errorf("dist: installer's entries %v and links %v lack the unit, its link or the XDG entry", entries, links)
	}
	if unit, err = replaceHeader(unit); err != nil {
		return nil, nil, "", err
	}
	if desktop, err = replaceHeader(desktop); err != nil {
		return nil, nil, "", err
	}
	return unit, desktop, linkTarget, nil
}

// replaceHeader swaps the entry's first line, which must be a comment.
func replaceHeader(b []byte) ([]byte, error) {
	first, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok || !bytes.HasPrefix(first, []byte("# ")) {
		return nil, fmt.Errorf("dist: an autostart entry no longer starts with a comment line: %q", first)
	}
	return append([]byte(packagedHeader+"\n"), rest...), nil
}

// stage fills work/stage with everything the .deb and .rpm carry besides
// the binary, which linuxBinary put there.
func (b *builder) stage(context.Context) error {
	st := filepath.Join(b.work, "stage")
	unit, desktop, _, err := Autostart(filepath.Join(b.work, "root"))
	if err != nil {
		return err
	}
	man, err := packaging.Files.ReadFile("kyso.1")
	if err != nil {
		return err
	}
	man = bytes.ReplaceAll(man, []byte("@VERSION@"), []byte(b.ver.String()))
	man = bytes.ReplaceAll(man, []byte("@DATE@"), []byte(b.modTime.Format("2006-01-02")))
	manGz, err := gzipBytes(man)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"kyso.service":           unit,
		"autostart-kyso.desktop": desktop,
		"kyso.1.gz":              manGz,
		"kyso.png":               tray.IconPNG(tray.IconReady),
	}
	for _, name := range []string{"kyso.desktop", "kyso.svg"} {
		if files[name], err = packaging.Files.ReadFile(name); err != nil {
			return err
		}
	}
	for _, d := range Docs() {
		if files["doc/"+d], err = os.ReadFile(filepath.Join(b.opt.Repo, "docs", d)); err != nil {
			return err
		}
	}
	for name, data := range files {
		if err := writeFile(filepath.Join(st, name), data, 0o644); err != nil {
			return err
		}
	}
	postrm, err := fs.ReadFile(packaging.Files, "scripts/deb-postrm")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(st, "scripts", "deb-postrm"), postrm, 0o755)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, mode)
}

// gzipBytes compresses at the best level with no name and no time in the
// header (gzip -9n), as Debian wants manual pages, so that rebuilding
// gives the same bytes.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// nfpmConfig is what nfpm.yaml.tmpl is rendered with.
type nfpmConfig struct {
	Version        Version
	Maintainer     string
	Homepage       string
	License        string
	ModTime        string
	GlibcVersion   string
	Stage          string
	UnitLinkTarget string
	Docs           []string
}

// nfpm renders the configuration and packs one format into Out.
func (b *builder) nfpm(ctx context.Context, format string) error {
	_, _, link, err := Autostart(filepath.Join(b.work, "root"))
	if err != nil {
		return err
	}
	tmpl, err := template.ParseFS(packaging.Files, "nfpm.yaml.tmpl")
	if err != nil {
		return err
	}
	var cfg bytes.Buffer
	err = tmpl.Execute(&cfg, nfpmConfig{
		Version:        b.ver,
		Maintainer:     b.opt.Maintainer,
		Homepage:       b.opt.Homepage,
		License:        b.opt.License,
		ModTime:        b.modTime.Format(time.RFC3339),
		GlibcVersion:   b.res.GlibcVersion,
		Stage:          filepath.Join(b.work, "stage"),
		UnitLinkTarget: link,
		Docs:           Docs(),
	})
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(b.work, "nfpm.yaml")
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o644); err != nil {
		return err
	}
	var target string
	switch format {
	case "deb":
		target = fmt.Sprintf("kyso_%s-1_amd64.deb", b.ver.Package())
		b.res.Deb = filepath.Join(b.opt.Out, target)
	case "rpm":
		target = fmt.Sprintf("kyso-%s-1.x86_64.rpm", b.ver.Package())
		b.res.RPM = filepath.Join(b.opt.Out, target)
	default:
		return fmt.Errorf("dist: unknown package format %q", format)
	}
	cmd := exec.CommandContext(ctx, "go", "run", NFPM, "package",
		"--config", cfgPath, "--packager", format, "--target", filepath.Join(b.opt.Out, target))
	// Outside the module, so that `go run pkg@version` resolves nfpm's
	// own dependencies and never this module's.
	cmd.Dir = b.work
	cmd.Env = cleanEnv()
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dist: nfpm %s: %w\n%s", format, err, strings.TrimSpace(string(o)))
	}
	return nil
}
