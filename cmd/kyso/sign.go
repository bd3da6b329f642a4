package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

// signFlags are the options shared by sign and pdf prepare.
type signFlags struct {
	reason, location, contact, name string
	hash                            string
	pss                             bool
	page                            int
	field                           string
	certify                         int
	level                           string
	tsa                             string
	tsaTimeout                      time.Duration
}

func (s *signFlags) registerDoc(c *cli, fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
}) {
	fs.StringVar(&s.reason, "reason", "", c.pick([2]string{"lý do ký (/Reason)", "reason for signing (/Reason)"}))
	fs.StringVar(&s.location, "location", "", c.pick([2]string{"nơi ký (/Location)", "place of signing (/Location)"}))
	fs.StringVar(&s.contact, "contact", "", c.pick([2]string{"thông tin liên hệ (/ContactInfo)", "contact information (/ContactInfo)"}))
	fs.StringVar(&s.name, "name", "", c.pick([2]string{"tên người ký (/Name); mặc định lấy từ chứng thư", "signer name (/Name); default from the certificate"}))
	fs.StringVar(&s.hash, "hash", "sha256", c.pick([2]string{"hàm băm: sha256, sha384, sha512", "hash: sha256, sha384, sha512"}))
	fs.IntVar(&s.page, "page", 1, c.pick([2]string{"trang đặt trường chữ ký", "page of the signature field"}))
	fs.StringVar(&s.field, "field", "", c.pick([2]string{"tên trường chữ ký (mặc định SignatureN)", "signature field name (default SignatureN)"}))
	fs.IntVar(&s.certify, "certify", 0, c.pick([2]string{"ký chứng nhận (DocMDP) mức 1, 2 hoặc 3 cho chữ ký đầu tiên; mặc định ký phê duyệt", "certify (DocMDP) with level 1, 2 or 3 (first signature only); default approval"}))
}

func parseHash(s string) (crypto.Hash, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "-", "")) {
	case "sha256", "":
		return crypto.SHA256, nil
	case "sha384":
		return crypto.SHA384, nil
	case "sha512":
		return crypto.SHA512, nil
	}
	return 0, usageErr("--hash %s: use sha256, sha384 or sha512", s)
}

func runSign(c *cli, args []string) int {
	fs := c.flagSet("sign", [2]string{
		"Ký số tệp PDF (PAdES, ETSI.CAdES.detached) bằng chứng thư trên token hoặc tệp PKCS#12.\nNhiều tệp --in cùng --out-dir thì ký cả lô với một lần nhập PIN. Không bao giờ ghi một phần tệp.",
		"Sign PDF files (PAdES, ETSI.CAdES.detached) with a certificate on a token or in a PKCS#12 file.\nSeveral --in with --out-dir sign as a batch with one PIN. Never writes a partial file.",
	}, "--in IN.pdf [--in ...] (--out OUT.pdf | --out-dir DIR) [tùy chọn]")
	var ins stringList
	var sf signFlags
	var kf keyFlags
	fs.Var(&ins, "in", c.pick([2]string{"tệp PDF cần ký (lặp lại được)", "PDF to sign (repeatable)"}))
	out := fs.String("out", "", c.pick([2]string{"tệp PDF kết quả", "signed PDF"}))
	outDir := fs.String("out-dir", "", c.pick([2]string{"thư mục kết quả khi ký nhiều tệp", "output folder for several inputs"}))
	overwrite := fs.Bool("overwrite", false, c.pick([2]string{"cho phép ghi đè tệp kết quả đã có", "allow replacing an existing output file"}))
	fs.StringVar(&sf.level, "level", "B-B", c.pick([2]string{"mức PAdES: B-B hoặc B-T (có dấu thời gian)", "PAdES level: B-B or B-T (timestamped)"}))
	fs.StringVar(&sf.tsa, "tsa", "", c.pick([2]string{"địa chỉ máy chủ cấp dấu thời gian (RFC 3161) cho B-T", "RFC 3161 timestamp authority URL for B-T"}))
	fs.DurationVar(&sf.tsaTimeout, "tsa-timeout", 150*time.Second, c.pick([2]string{"thời gian chờ tối đa máy chủ dấu thời gian", "how long to wait for the timestamp authority"}))
	fs.BoolVar(&sf.pss, "pss", false, c.pick([2]string{"ký RSA theo RSASSA-PSS", "sign RSA keys with RSASSA-PSS"}))
	sf.registerDoc(c, fs)
	kf.register(c, fs)
	if code, done := c.parse(fs, "sign", args); done {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	jobs, err := signJobs(ins, *out, *outDir, *overwrite)
	if err != nil {
		return c.fail("sign", err)
	}
	opts, err := sf.options()
	if err != nil {
		return c.fail("sign", err)
	}
	// Check every document before asking for a PIN: a bad file in a batch
	// is reported, and nothing is signed, without the user typing anything.
	bad := false
	for _, j := range jobs {
		if err := checkPDF(j.in); err != nil {
			fmt.Fprintf(c.stderr, "kyso: %s: %s\n", j.in, c.describe(err))
			bad = true
		}
	}
	if bad {
		return exitUsage
	}
	k, err := kf.open(ctx, c)
	if err != nil {
		return c.fail("sign", err)
	}
	defer k.close()
	opts.Chain = k.chain
	for _, j := range jobs {
		res, err := pades.SignFile(ctx, j.in, j.out, k.signer, k.cert, opts)
		if err != nil {
			fmt.Fprintf(c.stderr, "kyso: %s: %s\n", j.in, c.describe(err))
			return exitCodeFor(err)
		}
		fmt.Fprintln(c.stdout, c.lang.T("sign.done", j.out, res.FieldName, string(opts.Level)))
	}
	return exitOK
}

type signJob struct{ in, out string }

func signJobs(ins []string, out, outDir string, overwrite bool) ([]signJob, error) {
	switch {
	case len(ins) == 0:
		return nil, usageErr("--in is required")
	case out != "" && outDir != "":
		return nil, usageErr("--out and --out-dir exclude each other")
	case len(ins) > 1 && out != "":
		return nil, usageErr("several --in need --out-dir")
	case out == "" && outDir == "":
		return nil, usageErr("--out or --out-dir is required")
	}
	var jobs []signJob
	seen := map[string]bool{}
	for _, in := range ins {
		o := out
		if outDir != "" {
			o = filepath.Join(outDir, filepath.Base(in))
		}
		if seen[o] {
			return nil, usageErr("two inputs would both be written to %s", o)
		}
		seen[o] = true
		if fi, err := os.Stat(in); err != nil {
			return nil, usageErr("%v", err)
		} else if !fi.Mode().IsRegular() {
			return nil, usageErr("%s is not a file", in)
		}
		if ai, _ := filepath.Abs(in); func() bool { ao, _ := filepath.Abs(o); return ao == ai }() {
			return nil, usageErr("%s: the output would replace the input; choose another --out", in)
		}
		if _, err := os.Stat(o); err == nil && !overwrite {
			return nil, usageErr("%s exists; use --overwrite to replace it", o)
		}
		jobs = append(jobs, signJob{in, o})
	}
	return jobs, nil
}

func (s *signFlags) options() (pades.Options, error) {
	h, err := parseHash(s.hash)
	if err != nil {
		return pades.Options{}, err
	}
	if s.certify < 0 || s.certify > 3 {
		return pades.Options{}, usageErr("--certify %d: use 1, 2 or 3", s.certify)
	}
	o := pades.Options{
		Field:   pades.Field{Name: s.field, Page: s.page},
		Info:    pades.Info{Name: s.name, Reason: s.reason, Location: s.location, ContactInfo: s.contact},
		Certify: pades.DocMDP(s.certify),
		Hash:    h,
		PSS:     s.pss,
	}
	switch strings.ToUpper(s.level) {
	case "B-B", "BB", "":
		o.Level = pades.LevelBB
	case "B-T", "BT":
		o.Level = pades.LevelBT
		if s.tsa == "" {
			return o, usageErr("--level B-T needs --tsa URL")
		}
	default:
		return o, usageErr("--level %s: use B-B or B-T", s.level)
	}
	if s.tsa != "" {
		o.TSA = &cms.TSA{URL: s.tsa, Timeout: s.tsaTimeout}
	}
	return o, nil
}

func checkPDF(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return usageErr("%v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return usageErr("%v", err)
	}
	return pades.Check(f, fi.Size())
}

// exitCodeFor maps a failure to the documented exit codes: 2 for the
// document or the request, 3 for the token, certificate or PIN, 1 for the
// rest (timestamp authority, disk).
func exitCodeFor(err error) int {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.code
	}
	switch pades.CodeOf(err) {
	case pades.CodeBadDocument, pades.CodeEncrypted, pades.CodeLocked, pades.CodeFieldExists,
		pades.CodeBadPage, pades.CodeBadRequest, pades.CodeDigestMismatch:
		return exitUsage
	}
	if token.CodeOf(err) != "" {
		return exitToken
	}
	return exitFailure
}

// describe renders an error in the user's language with its detail.
func (c *cli) describe(err error) string {
	var ce *cliError
	if errors.As(err, &ce) {
		return ce.msg
	}
	if code := pades.CodeOf(err); code != "" {
		return c.errMessage(token.Code(code), err.Error())
	}
	if code := token.CodeOf(err); code != "" {
		msg := c.errMessage(code, err.Error())
		var te *token.Error
		if errors.As(err, &te) && te.PIN != nil {
			if n := te.PIN.RetriesLeft(); n > 0 {
				msg += " " + c.lang.T("sign.retries", n)
			}
		}
		return msg
	}
	var tsa *cms.TSAError
	if errors.As(err, &tsa) {
		return c.errMessage(token.Code(tsa.Code), err.Error())
	}
	return err.Error()
}

// fail prints err and returns its exit code.
func (c *cli) fail(cmd string, err error) int {
	code := exitCodeFor(err)
	if code == exitUsage {
		c.usageError(cmd, c.describe(err))
	} else {
		fmt.Fprintln(c.stderr, "kyso: "+c.describe(err))
	}
	return code
}
