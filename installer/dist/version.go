package dist

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// FallbackDescribe is the version of a build outside a git checkout (a
// source tarball, a copy without .git), where git describe cannot answer.
const FallbackDescribe = "0.0.0-dev"

// Version is a build's version, read from `git describe --tags --always
// --dirty` and written in the form each package format accepts.
type Version struct {
	// Describe is what git describe printed (or FallbackDescribe).
	Describe string
	// Major, Minor and Patch are the tag's numbers (0.0.0 untagged).
	Major, Minor, Patch int
	// Pre is the tag's pre-release part ("rc1" of v1.2.0-rc1).
	Pre string
	// Commits is how many commits the build is past the tag.
	Commits int
	// Hash is the abbreviated commit of a build that is not exactly a tag.
	Hash string
	// Dirty says the working tree had uncommitted changes.
	Dirty bool
}

var (
	// tagged is describe's output on a tag or past one: v1.2.3,
	// v1.2.3-rc1, v1.2.3-4-gabc1234. The pre-release has no hyphen, so
	// that "-4-gabc1234" can only be the distance and the commit.
	tagged = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.]+))?(?:-(\d+)-g([0-9a-f]+))?$`)
	// untagged is --always's output in a repository without any tag.
	untagged = regexp.MustCompile(`^[0-9a-f]{4,64}$`)
)

// ParseDescribe reads git describe's output. Tags must be vX.Y.Z or
// vX.Y.Z-PRE (the v is optional); anything else is an error rather than a
// version the package formats would order wrongly.
func ParseDescribe(s string) (Version, error) {
	v := Version{Describe: s}
	rest, dirty := strings.CutSuffix(strings.TrimSpace(s), "-dirty")
	v.Dirty = dirty
	if untagged.MatchString(rest) {
		v.Hash = rest
		return v, nil
	}
	m := tagged.FindStringSubmatch(rest)
	if m == nil {
		return Version{}, fmt.Errorf("dist: version %q is not vX.Y.Z[-PRE][-N-gHASH][-dirty]: tag releases as vX.Y.Z", s)
	}
	nums := []*int{&v.Major, &v.Minor, &v.Patch}
	for i, p := range nums {
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return Version{}, fmt.Errorf("dist: version %q: %w", s, err)
		}
		*p = n
	}
	v.Pre = m[4]
	if m[5] != "" {
		v.Commits, _ = strconv.Atoi(m[5]) // \d+, so only an overflow fails, and 0 is fine then
		v.Hash = m[6]
	}
	return v, nil
}

// Describe runs `git describe --tags --always --dirty` in dir and parses
// it; outside a git checkout (no git, no .git) it is FallbackDescribe.
func Describe(ctx context.Context, dir string) (Version, error) {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ParseDescribe(FallbackDescribe)
	}
	return ParseDescribe(strings.TrimSpace(string(out)))
}

// String is the version `kyso version` prints: describe's output without
// the tag's leading v.
func (v Version) String() string {
	if v.Describe == "" {
		return FallbackDescribe
	}
	s := strings.TrimSpace(v.Describe)
	if len(s) > 1 && s[0] == 'v' && s[1] >= '0' && s[1] <= '9' {
		return s[1:]
	}
	return s
}

// Package is the upstream version of the .deb and the Version of the .rpm:
// X.Y.Z, then ~PRE (which both dpkg and rpm order before the release),
// then +N.gHASH for N commits past the tag and .dirty (which both order
// after it; +0.dirty on the tag itself). It has no hyphen: that separates the package revision in a
// .deb and is forbidden in an rpm Version.
func (v Version) Package() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "~" + v.Pre
	}
	var meta []string
	// A tagged build's metadata starts with its distance from the tag,
	// 0 for a dirty tree on the tag itself, so that it orders before the
	// next commit's: dpkg sorts "+dirty" after "+4".
	if v.Commits > 0 || (v.Dirty && v.Hash == "") {
		meta = append(meta, strconv.Itoa(v.Commits))
	}
	if v.Hash != "" {
		meta = append(meta, "g"+v.Hash)
	}
	if v.Dirty {
		meta = append(meta, "dirty")
	}
	if len(meta) > 0 {
		s += "+" + strings.Join(meta, ".")
	}
	return s
}

// MSI is the ProductVersion of the .msi: only the tag's X.Y.Z, the form
// Windows Installer compares (at most 255.255.65535); a pre-release or a
// build past the tag has its tag's version (the .msi upgrades across
// equal versions).
func (v Version) MSI() (string, error) {
	if v.Major > 255 || v.Minor > 255 || v.Patch > 65535 {
		return "", fmt.Errorf("dist: version %s does not fit an MSI ProductVersion (at most 255.255.65535)", v)
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch), nil
}
