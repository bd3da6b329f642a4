// Command kyso is the kyso signing agent and its command-line tools. The
// subcommands only parse flags and call kyso's packages; see docs/cli.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/kyso-vn/kyso/internal/i18n"
)

// Exit codes, documented in docs/cli.md.
const (
	exitOK       = 0
	exitFailure  = 1 // the command ran and failed (message on stderr)
	exitUsage    = 2 // bad flags or arguments
	exitNoModule = 3 // no PKCS#11 module (nor key file) could be loaded
	exitToken    = 3 // signing: a token, certificate or PIN problem
	exitBadFile  = 4 // a key file could not be opened (wrong password, unreadable)
)

// version is set at release time with -ldflags "-X main.version=…".
var version = "dev"

type cli struct {
	stdout, stderr io.Writer
	lang           i18n.Lang
}

type command struct {
	name    string
	summary [2]string // vi, en
	run     func(c *cli, args []string) int
}

func commands() []command {
	return []command{
		{"tokens", [2]string{"liệt kê thư viện PKCS#11, token và chứng thư số", "list PKCS#11 modules, tokens and certificates"}, runTokens},
		{"sign", [2]string{"ký số tệp PDF (PAdES) bằng token hoặc tệp PKCS#12", "sign PDF files (PAdES) with a token or a PKCS#12 file"}, runSign},
		{"sign-hash", [2]string{"tạo chữ ký CMS trên giá trị băm do máy chủ chuẩn bị", "make a CMS signature over a digest a server prepared"}, runSignHash},
		{"pdf", [2]string{"ký theo chế độ băm: pdf prepare, pdf embed", "hash mode: pdf prepare, pdf embed"}, runPDF},
		{"verify", verifySummary, runVerify},
		{"extend", extendSummary, runExtend},
		{"serve", serveSummary, runServe},
		{"run", runSummary, runRun},
		{"service", serviceSummary, runService},
		{"policy", policySummary, runPolicy},
		{"doctor", doctorSummary, runDoctor},
		{"audit", auditSummary, runAudit},
		{"demo", [2]string{"tạo token phát triển với chứng thư thử nghiệm và liệt kê", "create the development token with test certificates and list it"}, runDemo},
		{"version", [2]string{"in phiên bản", "print the version"}, runVersion},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, lang: i18n.FromEnv()}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c.usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, cmd := range commands() {
		if cmd.name == args[0] {
			return cmd.run(c, args[1:])
		}
	}
	fmt.Fprintln(stderr, "kyso: "+c.lang.T("cli.unknown.command", args[0]))
	c.usage(stderr)
	return exitUsage
}

func (c *cli) pick(s [2]string) string {
	if c.lang == i18n.English {
		return s[1]
	}
	return s[0]
}

func (c *cli) usage(w io.Writer) {
	if c.lang == i18n.English {
		fmt.Fprintln(w, "Usage: kyso COMMAND [flags]\n\nCommands:")
	} else {
		fmt.Fprintln(w, "Cách dùng: kyso LỆNH [tùy chọn]\n\nCác lệnh:")
	}
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, cmd := range cmds {
		fmt.Fprintf(w, "  %-10s %s\n", cmd.name, c.pick(cmd.summary))
	}
	if c.lang == i18n.English {
		fmt.Fprintln(w, "\n'kyso COMMAND --help' shows a command's flags. KYSO_LANG=en switches messages to English.")
	} else {
		fmt.Fprintln(w, "\n'kyso LỆNH --help' cho biết các tùy chọn của lệnh. KYSO_LANG=en để hiện thông báo tiếng Anh.")
	}
}

// flagSet makes a FlagSet whose help goes to stdout in the user's language;
// parse reports errors itself.
func (c *cli) flagSet(name string, summary [2]string, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("kyso "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := c.stdout
		fmt.Fprintf(w, "kyso %s %s\n\n%s\n\n", name, synopsis, c.pick(summary))
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses args and returns (exit code, done): done is true when the
// command must stop because help was shown or the flags were wrong.
func (c *cli) parse(fs *flag.FlagSet, name string, args []string) (int, bool) {
	return c.parseArgs(fs, name, args, 0)
}

// parseArgs is parse for commands that take exactly n positional
// arguments.
func (c *cli) parseArgs(fs *flag.FlagSet, name string, args []string, n int) (int, bool) {
	if code, done := c.parseFlags(fs, name, args); done {
		return code, true
	}
	switch {
	case n == 0 && fs.NArg() > 0:
		c.usageError(name, "unexpected argument: "+strings.Join(fs.Args(), " "))
		return exitUsage, true
	case fs.NArg() != n:
		c.usageError(name, c.lang.T("cli.args.count", n, fs.NArg()))
		return exitUsage, true
	}
	return 0, false
}

// parseFlags parses args into fs, leaving the positional arguments to the
// caller. The flag package calls Usage itself on -help and on a bad flag:
// the help is printed here once, and only when asked for; a bad flag gets
// the one-line usage error.
func (c *cli) parseFlags(fs *flag.FlagSet, name string, args []string) (int, bool) {
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		usage()
		return exitOK, true
	}
	if err != nil {
		c.usageError(name, err.Error())
		return exitUsage, true
	}
	return 0, false
}

func (c *cli) usageError(name, msg string) {
	fmt.Fprintln(c.stderr, c.lang.T("cli.usage.error", msg, name))
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runVersion(c *cli, args []string) int {
	fs := c.flagSet("version", [2]string{"In phiên bản của kyso.", "Print kyso's version."}, "")
	if code, done := c.parse(fs, "version", args); done {
		return code
	}
	fmt.Fprintln(c.stdout, "kyso", version)
	return exitOK
}
