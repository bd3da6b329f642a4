package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

// signFlags are the options shared by sign and pdf prepare.
type signFlags struct {
	templates                                             string
	profile, seal, docNumber, issuedDate, place, copyForm string
	sealMM                                                float64
	showNameTime, allowOrder, allowBroken                 bool
	image, rectMM, anchor, offsetMM, sizeMM               string
	reason, location, contact, name                       string
	hash                                                  string
	pss                                                   bool
	page                                                  int
	field                                                 string
	certify                                               int
	level                                                 string
	// ltv is B-LT or B-LTA when asked for: the file is signed at B-T, then
	// extended; ltvFlags choose the trust for collecting its data.
	ltv        pades.Level
	ltvf       ltvFlags
	tsa        string
	tsaTimeout time.Duration
}

func (s *signFlags) registerDoc(c *cli, fs *flag.FlagSet) {
	fs.StringVar(&s.reason, "reason", "", c.pick([2]string{"lý do ký (/Reason)", "reason for signing (/Reason)"}))
	fs.StringVar(&s.location, "location", "", c.pick([2]string{"nơi ký (/Location)", "place of signing (/Location)"}))
	fs.StringVar(&s.contact, "contact", "", c.pick([2]string{"thông tin liên hệ (/ContactInfo)", "contact information (/ContactInfo)"}))
	fs.StringVar(&s.name, "name", "", c.pick([2]string{"tên người ký (/Name); mặc định lấy từ chứng thư", "signer name (/Name); default from the certificate"}))
	fs.StringVar(&s.hash, "hash", "sha256", c.pick([2]string{"hàm băm: sha256, sha384, sha512", "hash: sha256, sha384, sha512"}))
	fs.IntVar(&s.page, "page", 1, c.pick([2]string{"trang đặt trường chữ ký", "page of the signature field"}))
	fs.StringVar(&s.field, "field", "", c.pick([2]string{"tên trường chữ ký (mặc định SignatureN)", "signature field name (default SignatureN)"}))
	fs.StringVar(&s.image, "image", "", c.pick([2]string{"ảnh chữ ký (PNG hoặc JPEG) cho chữ ký hiển thị", "signature image (PNG or JPEG) for a visible signature"}))
	fs.StringVar(&s.rectMM, "rect-mm", "", c.pick([2]string{"vị trí ô chữ ký x,y,rộng,cao (mm, tính từ góc trên bên trái trang)", "signature box x,y,width,height (mm from the page's top-left corner)"}))
	fs.StringVar(&s.anchor, "anchor", "", c.pick([2]string{"đặt ô chữ ký theo dòng chữ này trên trang (vd. tên người ký)", "place the box relative to this text on the page (e.g. the signer's printed name)"}))
	fs.StringVar(&s.offsetMM, "offset-mm", "0,0", c.pick([2]string{"độ lệch dx,dy (mm) của ô so với góc trên bên trái dòng chữ --anchor", "offset dx,dy (mm) of the box from the --anchor text's top-left corner"}))
	fs.StringVar(&s.sizeMM, "size-mm", "50,20", c.pick([2]string{"kích thước ô rộng,cao (mm) khi dùng --anchor", "box width,height (mm) with --anchor"}))
	fs.IntVar(&s.certify, "certify", 0, c.pick([2]string{"ký chứng nhận (DocMDP) mức 1, 2 hoặc 3 cho chữ ký đầu tiên; mặc định ký phê duyệt", "certify (DocMDP) with level 1, 2 or 3 (first signature only); default approval"}))
}

// registerProfile adds the Decree 30/2020 profile flags (sign only).
func (s *signFlags) registerProfile(c *cli, fs *flag.FlagSet) {
	fs.StringVar(&s.profile, "profile", "", c.pick([2]string{"mẫu chữ ký theo Nghị định 30/2020: approved (lãnh đạo ký), issued (văn thư ký phát hành), appendix (phụ lục), copy (sao y), income (dấu đến), comment (góp ý)", "Decree 30/2020 form: approved, issued, appendix, copy, income, comment"}))
	fs.StringVar(&s.templates, "templates", agent.DefaultTemplatesPath(), c.pick([2]string{"tệp mẫu chữ ký (ảnh chữ ký, con dấu theo chứng thư)", "templates file (signature and seal images per certificate)"}))
	fs.StringVar(&s.seal, "seal", "", c.pick([2]string{"ảnh con dấu (PNG) cho issued", "seal image (PNG) for issued"}))
	fs.Float64Var(&s.sealMM, "seal-mm", 0, c.pick([2]string{"đường kính thật của con dấu (mm); mặc định theo DPI của ảnh", "the seal's real diameter (mm); default from the image's DPI"}))
	fs.StringVar(&s.docNumber, "doc-number", "", c.pick([2]string{"số và ký hiệu văn bản, vd. 15/QĐ-UBND", "document number and symbol, e.g. 15/QĐ-UBND"}))
	fs.StringVar(&s.issuedDate, "issued-date", "", c.pick([2]string{"ngày ban hành YYYY-MM-DD (mặc định hôm nay)", "issue date YYYY-MM-DD (default today)"}))
	fs.StringVar(&s.place, "place", "", c.pick([2]string{"địa danh ghi trước ngày tháng, vd. Bình Phước", "place written before the date, e.g. Bình Phước"}))
	fs.StringVar(&s.copyForm, "copy-form", "SAO Y", c.pick([2]string{"hình thức sao: SAO Y, SAO LỤC, TRÍCH SAO", "copy form: SAO Y, SAO LỤC, TRÍCH SAO"}))
	fs.BoolVar(&s.showNameTime, "show-name-time", false, c.pick([2]string{"approved: ghi tên và thời gian ký dưới ảnh chữ ký", "approved: write the name and time under the image"}))
	fs.BoolVar(&s.allowOrder, "allow-order", false, c.pick([2]string{"bỏ qua quy tắc thứ tự ký (chỉ dùng khi đính chính)", "relax the signing-order rules (corrections only)"}))
	fs.BoolVar(&s.allowBroken, "allow-broken", false, c.pick([2]string{"issued: vẫn ký khi chữ ký trước không toàn vẹn (chỉ dùng khi đính chính)", "issued: sign even over a broken earlier signature (corrections only)"}))
}

// parseHash is agent.ParseHash as a usage error.
func parseHash(s string) (crypto.Hash, error) {
	h, err := agent.ParseHash(s)
	if err != nil {
		return 0, usageErr("--hash %s: use sha256, sha384 or sha512", s)
	}
	return h, nil
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
	fs.StringVar(&sf.level, "level", "B-B", c.pick([2]string{"mức PAdES: B-B, B-T (có dấu thời gian), B-LT (kèm dữ liệu kiểm tra dài hạn) hoặc B-LTA", "PAdES level: B-B, B-T (timestamped), B-LT (with long-term validation data) or B-LTA"}))
	sf.ltvf.register(c, fs)
	fs.StringVar(&sf.tsa, "tsa", "", c.pick([2]string{"địa chỉ máy chủ cấp dấu thời gian (RFC 3161) cho B-T", "RFC 3161 timestamp authority URL for B-T"}))
	fs.DurationVar(&sf.tsaTimeout, "tsa-timeout", 150*time.Second, c.pick([2]string{"thời gian chờ tối đa máy chủ dấu thời gian", "how long to wait for the timestamp authority"}))
	fs.BoolVar(&sf.pss, "pss", false, c.pick([2]string{"ký RSA theo RSASSA-PSS", "sign RSA keys with RSASSA-PSS"}))
	sf.registerDoc(c, fs)
	sf.registerProfile(c, fs)
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
		jobOpts := opts
		if sf.profile != "" {
			if err := sf.applyProfile(j.in, k.cert, &jobOpts); err != nil {
				fmt.Fprintf(c.stderr, "kyso: %s: %s\n", j.in, c.describe(err))
				return exitCodeFor(err)
			}
		}
		res, err := sf.signOne(ctx, j, k, jobOpts)
		if err != nil {
			fmt.Fprintf(c.stderr, "kyso: %s: %s\n", j.in, c.describe(err))
			return exitCodeFor(err)
		}
		level := opts.Level
		if sf.ltv != "" {
			level = sf.ltv
		}
		fmt.Fprintln(c.stdout, c.lang.T("sign.done", j.out, res.FieldName, string(level)))
	}
	return exitOK
}

type signJob struct{ in, out string }

// signOne signs one job; for B-LT and B-LTA the B-T signature goes to a
// temporary file beside the output and only the extended file takes the
// output's name, so a failed extension leaves no output.
func (s *signFlags) signOne(ctx context.Context, j signJob, k *key, opts pades.Options) (*pades.Result, error) {
	if s.ltv == "" {
		return pades.SignFile(ctx, j.in, j.out, k.signer, k.cert, opts)
	}
	cfg, err := s.ltvf.config(s.ltv, opts.TSA)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(j.out), ".kyso-bt-*.pdf")
	if err != nil {
		return nil, err
	}
	tmpPath := tmp.Name()
	tmp.Close()
	os.Remove(tmpPath)
	defer os.Remove(tmpPath)
	res, err := pades.SignFile(ctx, j.in, tmpPath, k.signer, k.cert, opts)
	if err != nil {
		return nil, err
	}
	if _, err := agent.ExtendFile(ctx, tmpPath, j.out, cfg); err != nil {
		return nil, err
	}
	return res, nil
}

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
	if err := s.placement(&o); err != nil {
		return o, err
	}
	lv, err := agent.ParseLevel(s.level)
	if err != nil {
		return o, usageErr("--level %s: use B-B, B-T, B-LT or B-LTA", s.level)
	}
	if lv != pades.LevelBB && s.tsa == "" {
		return o, usageErr("--level %s needs --tsa URL", lv)
	}
	o.Level = lv
	if lv == pades.LevelBLT || lv == pades.LevelBLTA {
		// Signed at B-T, then extended.
		o.Level, s.ltv = pades.LevelBT, lv
	}
	if s.tsa != "" {
		o.TSA = &cms.TSA{URL: s.tsa, Timeout: s.tsaTimeout}
	}
	return o, nil
}

// applyProfile fills opts for --profile from the document and the
// signer's certificate.
func (s *signFlags) applyProfile(path string, cert *x509.Certificate, opts *pades.Options) error {
	id := token.ParseIdentity(cert)
	req := pades.ProfileRequest{
		Profile:      pades.Profile(s.profile),
		Signer:       agent.SignerKindOf(id.Kind),
		Classify:     agent.ClassifyCertificate,
		Page:         s.page,
		SignerName:   id.Name,
		SealMM:       s.sealMM,
		DocNumber:    s.docNumber,
		Place:        s.place,
		CopyForm:     s.copyForm,
		AllowOrder:   s.allowOrder,
		AllowBroken:  s.allowBroken,
		ShowNameTime: s.showNameTime,
		RectMM:       opts.Field.RectMM,
		Anchor:       opts.Field.Anchor,
	}
	if s.page == 1 && s.profile == string(pades.ProfileIssued) {
		req.Page = 0 // issued goes to the leader's page unless told
	}
	req.Organisation = id.Organization
	if id.Kind == token.KindOrganisation || req.Organisation == "" {
		req.Organisation = id.Name
	}
	if s.issuedDate != "" {
		d, err := time.ParseInLocation("2006-01-02", s.issuedDate, time.FixedZone("ICT", 7*3600))
		if err != nil {
			return usageErr("--issued-date %q: use YYYY-MM-DD", s.issuedDate)
		}
		req.IssuedDate = d
	}
	for _, f := range []struct {
		path string
		dst  *[]byte
	}{{s.image, &req.SignatureImage}, {s.seal, &req.SealImage}} {
		if f.path == "" {
			continue
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			return usageErr("%v", err)
		}
		*f.dst = data
	}
	// Images and seal size from the signer's template, unless given.
	if s.templates != "" {
		ts, err := agent.LoadTemplates(s.templates)
		if err != nil {
			return usageErr("%v", err)
		}
		if tp, ok := ts.For(cert); ok {
			if req.SignatureImage == nil {
				if req.SignatureImage, err = ts.Image(tp.SignatureImage); err != nil {
					return usageErr("%v", err)
				}
			}
			if req.SealImage == nil {
				if req.SealImage, err = ts.Image(tp.SealImage); err != nil {
					return usageErr("%v", err)
				}
			}
			if req.SealMM == 0 {
				req.SealMM = tp.SealMM
			}
		}
	}
	// The profile draws the image itself.
	opts.Field.Appearance = nil
	in, err := os.Open(path)
	if err != nil {
		return usageErr("%v", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return usageErr("%v", err)
	}
	return req.Apply(in, fi.Size(), opts)
}

// placement turns --image, --rect-mm and --anchor into the field's box and
// appearance. The image is fitted into the box, centred, aspect kept.
func (s *signFlags) placement(o *pades.Options) error {
	if s.rectMM != "" && s.anchor != "" {
		return usageErr("--rect-mm and --anchor exclude each other")
	}
	var w, h float64
	switch {
	case s.rectMM != "":
		v, err := mmList(s.rectMM, 4, "--rect-mm")
		if err != nil {
			return err
		}
		o.Field.RectMM = pades.RectMM{X: v[0], Y: v[1], W: v[2], H: v[3]}
		w, h = v[2], v[3]
	case s.anchor != "":
		off, err := mmList(s.offsetMM, 2, "--offset-mm")
		if err != nil {
			return err
		}
		size, err := mmList(s.sizeMM, 2, "--size-mm")
		if err != nil {
			return err
		}
		o.Field.Anchor = &pades.Anchor{Text: s.anchor, OffsetX: off[0], OffsetY: off[1], W: size[0], H: size[1]}
		w, h = size[0], size[1]
	case s.image != "" && s.profile == "":
		return usageErr("--image needs --rect-mm or --anchor to say where it goes")
	}
	if s.image == "" || s.profile != "" {
		return nil
	}
	data, err := os.ReadFile(s.image)
	if err != nil {
		return usageErr("--image: %v", err)
	}
	iw, ih, err := pades.ImageSize(data)
	if err != nil {
		return usageErr("--image %s: %v", s.image, err)
	}
	bw, bh := mmToPt(w), mmToPt(h)
	scale := min(bw/float64(iw), bh/float64(ih))
	dw, dh := float64(iw)*scale, float64(ih)*scale
	o.Field.Appearance = &pades.Appearance{Images: []pades.PlacedImage{{Data: data, X: (bw - dw) / 2, Y: (bh - dh) / 2, W: dw, H: dh}}}
	return nil
}

func mmToPt(v float64) float64 { return v * 72 / 25.4 }

// mmList parses "a,b,…" with exactly n numbers.
func mmList(s string, n int, flag string) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, usageErr("%s %q: want %d numbers separated by commas", flag, s, n)
	}
	out := make([]float64, n)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, usageErr("%s %q: %q is not a number", flag, s, p)
		}
		out[i] = v
	}
	return out, nil
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
		pades.CodeBadPage, pades.CodeBadRequest, pades.CodeDigestMismatch, pades.CodeAnchorNotFound,
		pades.CodeOrder, pades.CodeBrokenSignature:
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
