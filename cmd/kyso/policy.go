package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kyso-vn/kyso/installer"
)

var policySummary = [2]string{
	"tạo bộ chính sách cho quản trị viên: các trang được dùng tác tử, cho tác tử và trình duyệt",
	"make the IT policy kit: the sites allowed to use the agent, for the agent and the browsers",
}

// runPolicy is `kyso policy generate`: from one list of DMS origins, the
// files IT deploys (package installer, PolicyKit; docs/deployment.md).
//
// Exit codes: 0 written, 1 the kit could not be written (nothing was),
// 2 usage or an invalid list (nothing was written).
func runPolicy(c *cli, args []string) int {
	help := [2]string{
		"Bộ chính sách cho quản trị viên:\n" +
			"  generate   từ danh sách trang quản lý văn bản (mỗi dòng một nguồn), tạo chính sách của tác tử\n" +
			"             (Linux, Windows .reg, mẫu ADMX) và chính sách Local Network Access của Chrome, Edge, Firefox\n" +
			"'kyso policy generate --help' cho biết các tùy chọn.",
		"The IT policy kit:\n" +
			"  generate   from the list of document-management sites (one origin per line), make the agent's policy\n" +
			"             (Linux, Windows .reg, ADMX templates) and the Local Network Access policies of Chrome, Edge and Firefox\n" +
			"'kyso policy generate --help' shows its flags.",
	}
	if len(args) == 0 {
		c.usageError("policy", c.lang.T("policy.usage.missing"))
		return exitUsage
	}
	switch args[0] {
	case "generate":
		return c.policyGenerate(args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(c.stdout, "kyso policy generate [%s]\n\n%s\n", c.pick([2]string{"tùy chọn", "flags"}), c.pick(help))
		return exitOK
	}
	c.usageError("policy", c.lang.T("policy.usage.unknown", args[0]))
	return exitUsage
}

func (c *cli) policyGenerate(args []string) int {
	const name = "policy generate"
	fs := c.flagSet(name, [2]string{
		"Tạo bộ chính sách từ danh sách nguồn (origin) của các trang quản lý văn bản: mỗi dòng một nguồn\n" +
			"(https://qlvb.example.gov.vn, https://dms.example.vn:8443, https://*.example.gov.vn); dòng trống và dòng\n" +
			"bắt đầu bằng # được bỏ qua. Mọi tệp được ghi vào THƯ_MỤC cùng lúc; khi có lỗi không tệp nào được ghi.\n" +
			"README.txt trong THƯ_MỤC cho biết nơi đặt từng tệp.\n" +
			"Mã thoát: 0 đã ghi, 1 không ghi được, 2 sai cách dùng hoặc danh sách có dòng sai.",
		"Make the policy kit from the list of the document-management sites' origins, one per line\n" +
			"(https://qlvb.example.gov.vn, https://dms.example.vn:8443, https://*.example.gov.vn); blank lines and lines\n" +
			"starting with # are ignored. All files are written into DIR at once; on any error none is.\n" +
			"README.txt in DIR says where each file goes.\n" +
			"Exit status: 0 written, 1 could not write, 2 usage or an invalid line in a list.",
	}, c.pick([2]string{
		"--origins TỆP [--out THƯ_MỤC] [--hash-origins TỆP] [--no-user-approval] [--tsa URL]",
		"--origins FILE [--out DIR] [--hash-origins FILE] [--no-user-approval] [--tsa URL]",
	}))
	origins := fs.String("origins", "", c.pick([2]string{"tệp danh sách nguồn được dùng tác tử (bắt buộc)", "file listing the origins allowed to use the agent (required)"}))
	out := fs.String("out", "kyso-policy", c.pick([2]string{"thư mục ghi bộ chính sách", "folder to write the kit into"}))
	hashOrigins := fs.String("hash-origins", "", c.pick([2]string{"tệp danh sách nguồn được ký giá trị băm (signHash; nguồn chính xác, phải có trong --origins)", "file listing the origins allowed to sign digests (signHash; exact origins, each also in --origins)"}))
	noApproval := fs.Bool("no-user-approval", false, c.pick([2]string{"không cho người dùng tự cho phép trang khác: trang ngoài danh sách bị từ chối", "do not let users approve other sites: sites outside the list are refused"}))
	tsa := fs.String("tsa", "", c.pick([2]string{"máy chủ dấu thời gian (http:// hoặc https://)", "timestamp server (http:// or https://)"}))
	if code, done := c.parse(fs, name, args); done {
		return code
	}
	if *origins == "" {
		c.usageError(name, c.lang.T("policy.err.noOriginsFlag"))
		return exitUsage
	}
	kit := installer.PolicyKit{UserMayApprove: !*noApproval, TSA: *tsa}
	var err error
	if kit.Origins, err = c.readOriginList(*origins, false); err != nil {
		c.usageError(name, err.Error())
		return exitUsage
	}
	if *hashOrigins != "" {
		if kit.HashOrigins, err = c.readOriginList(*hashOrigins, true); err != nil {
			c.usageError(name, err.Error())
			return exitUsage
		}
	}
	// Every check first, so that a bad setting is a usage error and the
	// write below can only fail on the file system.
	if _, err := kit.Files(); err != nil {
		var he *installer.HashOriginError
		if errors.As(err, &he) {
			c.usageError(name, c.lang.T("policy.err.hashNotAllowed", *hashOrigins, he.Origin, *origins))
		} else {
			c.usageError(name, err.Error())
		}
		return exitUsage
	}
	written, err := kit.Write(*out)
	if err != nil {
		fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("policy.err.write", *out, err))
		return exitFailure
	}
	fmt.Fprintln(c.stdout, c.lang.T("policy.written", len(kit.Origins), *out))
	for _, p := range written {
		fmt.Fprintln(c.stdout, "  "+p)
	}
	fmt.Fprintln(c.stdout, c.lang.T("policy.written.next", filepath.Join(*out, installer.KitReadme)))
	return exitOK
}

// readOriginList reads an origin list file, with errors in the user's
// language naming the file and the line.
func (c *cli) readOriginList(path string, exact bool) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.New(c.lang.T("policy.err.read", path, err))
	}
	defer f.Close()
	list, err := installer.ReadOrigins(f, exact)
	var le *installer.LineError
	switch {
	case err == nil:
		return list, nil
	case errors.As(err, &le):
		return nil, errors.New(c.lang.T("policy.err.line", path, le.Line, le.Err))
	case errors.Is(err, installer.ErrNoOrigins):
		return nil, errors.New(c.lang.T("policy.err.empty", path))
	}
	return nil, errors.New(c.lang.T("policy.err.read", path, err))
}
