package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kyso-vn/kyso/internal/devpki"
)

func runDemo(c *cli, args []string) int {
	fs := c.flagSet("demo", [2]string{
		"Tạo (hoặc dùng lại) token phát triển SoftHSM chứa chứng thư thử nghiệm của một cá nhân và một tổ chức,\nrồi liệt kê token. Không có SoftHSM thì tạo kho khóa PKCS#12. Chỉ dùng để phát triển và thử nghiệm.",
		"Create (or reuse) a SoftHSM development token holding test personal and organisation certificates,\nthen list it. Without SoftHSM, PKCS#12 key files are created instead. For development and trials only.",
	}, "[--dir THƯ_MỤC] [--pkcs12] [--json]")
	dir := fs.String("dir", defaultDevDir(), c.pick([2]string{"thư mục lưu token và PKI thử nghiệm", "folder for the development token and test PKI"}))
	force := fs.Bool("pkcs12", false, c.pick([2]string{"dùng kho khóa PKCS#12 kể cả khi có SoftHSM", "use PKCS#12 files even when SoftHSM is available"}))
	asJSON := fs.Bool("json", false, c.pick([2]string{"liệt kê dạng JSON", "list as JSON"}))
	if code, done := c.parse(fs, "demo", args); done {
		return code
	}
	d, err := devpki.SetupDemo(*dir, devpki.DemoOptions{ForcePKCS12: *force})
	if err != nil {
		fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
		return exitFailure
	}
	list := []string{}
	if *asJSON {
		list = append(list, "--json")
	}
	switch d.Mode {
	case devpki.ModeSoftHSM:
		// SetupDemo pointed SOFTHSM2_CONF at the development token before
		// this process loads SoftHSM.
		fmt.Fprintln(c.stderr, c.lang.T("demo.softhsm", d.TokenLabel, d.Dir, d.UserPIN))
		list = append(list, "--module", d.ModulePath)
	default:
		if d.FallbackReason != "" {
			fmt.Fprintln(c.stderr, c.lang.T("demo.pkcs12", d.FallbackReason, d.Dir, d.PKCS12Password))
		} else {
			fmt.Fprintln(c.stderr, c.lang.T("demo.pkcs12.forced", d.Dir, d.PKCS12Password))
		}
		passFile := filepath.Join(d.Dir, "pkcs12-password.txt")
		if err := os.WriteFile(passFile, []byte(d.PKCS12Password), 0o600); err != nil {
			fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
			return exitFailure
		}
		for _, f := range d.Files {
			list = append(list, "--p12", f)
		}
		list = append(list, "--p12-pass-file", passFile)
	}
	return runTokens(c, list)
}

// defaultDevDir is where the development token lives between runs.
func defaultDevDir() string {
	if d := os.Getenv("KYSO_DEV_DIR"); d != "" {
		return d
	}
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), "kyso-dev")
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "kyso", "dev")
}
