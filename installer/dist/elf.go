package dist

import (
	"debug/elf"
	"fmt"
	"strconv"
	"strings"
)

// glibcNeeded returns the newest GLIBC_x.y symbol version the executable
// at path asks of libc.so.6 ("2.34"): the least glibc it runs with, so
// the packages can depend on exactly that, as dpkg-shlibdeps and rpm's
// dependency generator would.
func glibcNeeded(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("dist: read %s: %w", path, err)
	}
	defer f.Close()
	needs, err := f.DynamicVersionNeeds()
	if err != nil {
		return "", fmt.Errorf("dist: symbol versions of %s: %w", path, err)
	}
	var best []int
	var bestName string
	for _, n := range needs {
		if n.Name != "libc.so.6" {
			continue
		}
		for _, d := range n.Needs {
			nums, ok := glibcNumbers(d.Dep)
			if ok && versionLess(best, nums) {
				best, bestName = nums, strings.TrimPrefix(d.Dep, "GLIBC_")
			}
		}
	}
	if best == nil {
		return "", fmt.Errorf("dist: %s needs no versioned libc.so.6 symbol: not a dynamically linked glibc program", path)
	}
	return bestName, nil
}

// glibcNumbers reads "GLIBC_2.3.2" as [2 3 2]; GLIBC_PRIVATE and other
// names are not versions.
func glibcNumbers(dep string) ([]int, bool) {
	s, ok := strings.CutPrefix(dep, "GLIBC_")
	if !ok {
		return nil, false
	}
	var nums []int
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, false
		}
		nums = append(nums, n)
	}
	return nums, true
}

// versionLess orders dotted versions numerically; nil is the least.
func versionLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}
