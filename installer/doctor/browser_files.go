//go:build !windows

package doctor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
)

// browserLayout is where one browser keeps its managed policies and its
// program on Linux.
type browserLayout struct {
	browser, name, family string
	// dirs hold Chromium-family managed policy files (*.json); files are
	// Firefox policies.json files.
	dirs, files []string
	programs    []string
}

var linuxBrowsers = []browserLayout{
	{browser: "chrome", name: "Google Chrome", family: "chromium",
		dirs:     []string{"/etc/opt/chrome/policies/managed"},
		programs: []string{"/opt/google/chrome/chrome", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"}},
	{browser: "chromium", name: "Chromium", family: "chromium",
		dirs:     []string{"/etc/chromium/policies/managed", "/etc/chromium-browser/policies/managed"},
		programs: []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/lib/chromium/chromium", "/snap/bin/chromium"}},
	{browser: "edge", name: "Microsoft Edge", family: "chromium",
		dirs:     []string{"/etc/opt/edge/policies/managed"},
		programs: []string{"/opt/microsoft/msedge/msedge", "/usr/bin/microsoft-edge", "/usr/bin/microsoft-edge-stable"}},
	{browser: "brave", name: "Brave", family: "chromium",
		dirs:     []string{"/etc/brave/policies/managed"},
		programs: []string{"/opt/brave.com/brave/brave", "/usr/bin/brave-browser"}},
	{browser: "firefox", name: "Firefox", family: "firefox",
		files: []string{"/etc/firefox/policies/policies.json", "/usr/lib/firefox/distribution/policies.json",
			"/usr/lib64/firefox/distribution/policies.json", "/opt/firefox/distribution/policies.json"},
		programs: []string{"/usr/bin/firefox", "/usr/lib/firefox/firefox", "/usr/lib64/firefox/firefox", "/opt/firefox/firefox", "/snap/bin/firefox"}},
}

// defaultBrowserPolicies reads the managed policy files of the browsers
// under root (the file system's root normally, a staging folder in tests).
func defaultBrowserPolicies(root string) ([]BrowserPolicy, error) {
	var out []BrowserPolicy
	for _, b := range linuxBrowsers {
		bp := BrowserPolicy{Browser: b.browser, Name: b.name, Family: b.family}
		for _, p := range b.programs {
			if _, err := os.Stat(filepath.Join(root, p)); err == nil {
				bp.Installed = true
				break
			}
		}
		for _, dir := range b.dirs {
			// Chromium reads every *.json file of the folder, in no
			// promised order; lists from several files are merged here.
			names, err := filepath.Glob(filepath.Join(root, dir, "*.json"))
			if err != nil {
				return nil, err
			}
			sort.Strings(names)
			for _, n := range names {
				data, err := os.ReadFile(n)
				if err != nil {
					bp.Errors = append(bp.Errors, err.Error())
					continue
				}
				bp.addChromiumJSON(n, data)
			}
		}
		for _, f := range b.files {
			p := filepath.Join(root, f)
			data, err := os.ReadFile(p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				continue
			case err != nil:
				bp.Errors = append(bp.Errors, err.Error())
				continue
			}
			bp.addFirefoxJSON(p, data)
		}
		out = append(out, bp)
	}
	return out, nil
}

// addChromiumJSON merges one managed policy file (a JSON object of
// policies) into bp.
func (bp *BrowserPolicy) addChromiumJSON(source string, data []byte) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		bp.Errors = append(bp.Errors, fmt.Sprintf("%s: %v", source, err))
		return
	}
	bp.Sources = append(bp.Sources, source)
	for name, raw := range doc {
		var dst *[]string
		switch {
		case slices.Contains(chromiumAllowPolicies, name):
			dst = &bp.Allowed
		case slices.Contains(chromiumBlockPolicies, name):
			dst = &bp.Blocked
		default:
			continue
		}
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			bp.Errors = append(bp.Errors, fmt.Sprintf("%s: %s: %v", source, name, err))
			continue
		}
		*dst = append(*dst, list...)
	}
}
