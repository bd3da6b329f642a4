package doctor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"golang.org/x/sys/windows/registry"
)

// windowsBrowser is where one browser keeps its policies in the registry
// and how its program is registered.
type windowsBrowser struct {
	browser, name, family string
	// key is the policy key under SOFTWARE\Policies, in HKLM and HKCU.
	key string
	// appPath is the program's name under ...\CurrentVersion\App Paths.
	appPath string
}

var windowsBrowsers = []windowsBrowser{
	{"chrome", "Google Chrome", "chromium", `SOFTWARE\Policies\Google\Chrome`, "chrome.exe"},
	{"chromium", "Chromium", "chromium", `SOFTWARE\Policies\Chromium`, ""},
	{"edge", "Microsoft Edge", "chromium", `SOFTWARE\Policies\Microsoft\Edge`, "msedge.exe"},
	{"brave", "Brave", "chromium", `SOFTWARE\Policies\BraveSoftware\Brave`, "brave.exe"},
	{"firefox", "Firefox", "firefox", `SOFTWARE\Policies\Mozilla\Firefox`, "firefox.exe"},
}

const appPaths = `SOFTWARE\Microsoft\Windows\CurrentVersion\App Paths\`

var hives = []struct {
	key  registry.Key
	name string
}{{registry.LOCAL_MACHINE, "HKLM"}, {registry.CURRENT_USER, "HKCU"}}

// defaultBrowserPolicies reads the browsers' policies from the registry
// (HKLM, where Group Policy writes them, then HKCU), and Firefox's
// policies.json next to its program. root is not used: the registry has
// no staging folder.
func defaultBrowserPolicies(string) ([]BrowserPolicy, error) {
	var out []BrowserPolicy
	for _, b := range windowsBrowsers {
		bp := BrowserPolicy{Browser: b.browser, Name: b.name, Family: b.family}
		exe := ""
		if b.appPath != "" {
			exe = programPath(b.appPath)
			bp.Installed = exe != ""
		}
		for _, h := range hives {
			if b.family == "firefox" {
				readFirefoxKey(&bp, h.key, h.name, b.key)
				continue
			}
			for _, name := range chromiumAllowPolicies {
				bp.Allowed = append(bp.Allowed, readList(&bp, h.key, h.name, b.key+`\`+name)...)
			}
			for _, name := range chromiumBlockPolicies {
				bp.Blocked = append(bp.Blocked, readList(&bp, h.key, h.name, b.key+`\`+name)...)
			}
		}
		if b.family == "firefox" && exe != "" {
			p := filepath.Join(filepath.Dir(exe), "distribution", "policies.json")
			if data, err := os.ReadFile(p); err == nil {
				bp.addFirefoxJSON(p, data)
			} else if !errors.Is(err, os.ErrNotExist) {
				bp.Errors = append(bp.Errors, err.Error())
			}
		}
		out = append(out, bp)
	}
	return out, nil
}

// programPath is the program an App Paths entry names, or "".
func programPath(name string) string {
	for _, h := range hives {
		k, err := registry.OpenKey(h.key, appPaths+name, registry.QUERY_VALUE)
		if err != nil {
			continue
		}
		v, _, err := k.GetStringValue("")
		k.Close()
		if err == nil && v != "" {
			return v
		}
	}
	return ""
}

// readList reads a list policy: a key whose values "1", "2", … are the
// entries. A missing key is an empty list.
func readList(bp *BrowserPolicy, hive registry.Key, hiveName, path string) []string {
	k, err := registry.OpenKey(hive, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	source := hiveName + `\` + path
	if err != nil {
		bp.Errors = append(bp.Errors, fmt.Sprintf("%s: %v", source, err))
		return nil
	}
	defer k.Close()
	names, err := k.ReadValueNames(0)
	if err != nil {
		bp.Errors = append(bp.Errors, fmt.Sprintf("%s: %v", source, err))
		return nil
	}
	// In the numeric order Group Policy writes them.
	sort.Slice(names, func(i, j int) bool {
		a, ea := strconv.Atoi(names[i])
		b, eb := strconv.Atoi(names[j])
		if ea != nil || eb != nil {
			return names[i] < names[j]
		}
		return a < b
	})
	var out []string
	for _, n := range names {
		v, _, err := k.GetStringValue(n)
		if err != nil {
			bp.Errors = append(bp.Errors, fmt.Sprintf(`%s\%s: %v`, source, n, err))
			continue
		}
		out = append(out, v)
	}
	bp.Sources = append(bp.Sources, source)
	return out
}

// readFirefoxKey reads Firefox's LocalNetworkAccess policy key: the
// Enabled value and the SkipDomains list.
func readFirefoxKey(bp *BrowserPolicy, hive registry.Key, hiveName, base string) {
	path := base + `\LocalNetworkAccess`
	k, err := registry.OpenKey(hive, path, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return
	}
	if err != nil {
		bp.Errors = append(bp.Errors, fmt.Sprintf(`%s\%s: %v`, hiveName, path, err))
		return
	}
	if v, _, err := k.GetIntegerValue("Enabled"); err == nil && v == 0 {
		bp.LNADisabled = true
	}
	k.Close()
	bp.Sources = append(bp.Sources, hiveName+`\`+path)
	bp.Allowed = append(bp.Allowed, readList(bp, hive, hiveName, path+`\SkipDomains`)...)
}
