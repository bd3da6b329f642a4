package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/atomicfile"
	"github.com/kyso-vn/kyso/pades"
)

// runPDF dispatches `kyso pdf prepare|embed`: hash mode, where a DMS server
// keeps the document and only a digest travels to the signer.
func runPDF(c *cli, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "prepare":
			return runPDFPrepare(c, args[1:])
		case "embed":
			return runPDFEmbed(c, args[1:])
		}
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprintln(c.stdout, "kyso pdf prepare|embed\n\n"+c.pick([2]string{
			"Ký theo chế độ băm: prepare tạo chỗ trống cho chữ ký và in giá trị băm cần ký; embed gắn chữ ký CMS vào.",
			"Hash mode: prepare reserves the signature and prints the digest to sign; embed inserts the CMS signature."}))
		return exitOK
	}
	c.usageError("pdf", "use 'kyso pdf prepare' or 'kyso pdf embed'")
	return exitUsage
}

// prepareReport is printed by `kyso pdf prepare` (schema kyso.prepare/v1).
type prepareReport struct {
	Schema    string   `json:"schema"`
	Field     string   `json:"field"`
	Hash      string   `json:"hash"`
	DigestHex string   `json:"digestHex"`
	DigestB64 string   `json:"digestBase64"`
	ByteRange [4]int64 `json:"byteRange"`
	Reserve   int      `json:"reserve"`
	Output    string   `json:"output"`
}

func runPDFPrepare(c *cli, args []string) int {
	fs := c.flagSet("pdf prepare", [2]string{
		"Tạo tệp PDF có trường chữ ký trống và in (JSON) giá trị băm cần ký.",
		"Write the PDF with an empty signature field and print (JSON) the digest to sign.",
	}, "--in IN.pdf --out PREPARED.pdf [--cert-file CERT.pem] [--reserve N] [tùy chọn]")
	var sf signFlags
	in := fs.String("in", "", c.pick([2]string{"tệp PDF đầu vào", "input PDF"}))
	out := fs.String("out", "", c.pick([2]string{"tệp PDF đã chuẩn bị", "prepared PDF"}))
	overwrite := fs.Bool("overwrite", false, c.pick([2]string{"cho phép ghi đè tệp kết quả", "allow replacing the output"}))
	certFile := fs.String("cert-file", "", c.pick([2]string{"chứng thư người ký (PEM) để tính đúng chỗ trống", "signer certificate (PEM) to size the placeholder"}))
	reserve := fs.Int("reserve", 0, c.pick([2]string{"số byte dành cho chữ ký CMS", "bytes reserved for the CMS"}))
	timestamped := fs.Bool("timestamped", false, c.pick([2]string{"chừa chỗ cho dấu thời gian", "leave room for a timestamp"}))
	sf.registerDoc(c, fs)
	if code, done := c.parse(fs, "pdf prepare", args); done {
		return code
	}
	jobs, err := signJobs(nonEmptyList(*in), *out, "", *overwrite)
	if err != nil {
		return c.fail("pdf prepare", err)
	}
	opts, err := sf.options()
	if err != nil {
		return c.fail("pdf prepare", err)
	}
	po := pades.PrepareOptions{Field: opts.Field, Info: opts.Info, Certify: opts.Certify, Hash: opts.Hash, Reserve: *reserve, Timestamped: *timestamped}
	if *certFile != "" {
		certs, err := readPEMCertificates(*certFile)
		if err != nil || len(certs) == 0 {
			return c.fail("pdf prepare", usageErr("--cert-file %s: %v", *certFile, err))
		}
		po.Cert, po.Chain = certs[0], certs[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	p, err := pades.PrepareFile(ctx, jobs[0].in, jobs[0].out, po)
	if err != nil {
		return c.fail("pdf prepare", err)
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	enc.Encode(prepareReport{
		Schema: "kyso.prepare/v1", Field: p.FieldName, Hash: strings.ToLower(strings.ReplaceAll(p.Hash.String(), "-", "")),
		DigestHex: hex.EncodeToString(p.Digest), DigestB64: base64.StdEncoding.EncodeToString(p.Digest),
		ByteRange: p.ByteRange, Reserve: p.Reserve, Output: jobs[0].out,
	})
	return exitOK
}

func runPDFEmbed(c *cli, args []string) int {
	fs := c.flagSet("pdf embed", [2]string{
		"Gắn chữ ký CMS (DER) vào tệp đã chuẩn bị; từ chối chữ ký làm cho dữ liệu khác.",
		"Insert a CMS signature (DER) into a prepared PDF; refuses a signature made for other bytes.",
	}, "--in PREPARED.pdf --cms SIG.der --out OUT.pdf")
	in := fs.String("in", "", c.pick([2]string{"tệp PDF đã chuẩn bị", "prepared PDF"}))
	sig := fs.String("cms", "", c.pick([2]string{"chữ ký CMS (DER, hoặc base64)", "CMS signature (DER or base64)"}))
	out := fs.String("out", "", c.pick([2]string{"tệp PDF đã ký", "signed PDF"}))
	overwrite := fs.Bool("overwrite", false, c.pick([2]string{"cho phép ghi đè tệp kết quả", "allow replacing the output"}))
	if code, done := c.parse(fs, "pdf embed", args); done {
		return code
	}
	jobs, err := signJobs(nonEmptyList(*in), *out, "", *overwrite)
	if err != nil {
		return c.fail("pdf embed", err)
	}
	if *sig == "" {
		return c.fail("pdf embed", usageErr("--cms is required"))
	}
	der, err := os.ReadFile(*sig)
	if err != nil {
		return c.fail("pdf embed", usageErr("%v", err))
	}
	if len(der) > 0 && der[0] != 0x30 {
		if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(der))); err == nil {
			der = dec
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if _, err := pades.EmbedFile(ctx, jobs[0].in, jobs[0].out, der); err != nil {
		return c.fail("pdf embed", err)
	}
	fmt.Fprintln(c.stdout, c.lang.T("embed.done", jobs[0].out))
	return exitOK
}

func runSignHash(c *cli, args []string) int {
	fs := c.flagSet("sign-hash", [2]string{
		"Tạo chữ ký CMS (CAdES, tách rời) trên giá trị băm do máy chủ chuẩn bị, ký bằng token.",
		"Make a detached CMS (CAdES) signature over a digest prepared by a server, signed on the token.",
	}, "(--digest HEX | --digest-file F) --out SIG.der [--hash sha256] [tùy chọn khóa]")
	var kf keyFlags
	digestHex := fs.String("digest", "", c.pick([2]string{"giá trị băm (hex hoặc base64)", "digest (hex or base64)"}))
	digestFile := fs.String("digest-file", "", c.pick([2]string{"tệp chứa giá trị băm (nhị phân, hex hoặc JSON của pdf prepare)", "file holding the digest (binary, hex, or pdf prepare's JSON)"}))
	hashName := fs.String("hash", "sha256", c.pick([2]string{"hàm băm của giá trị băm", "hash the digest was made with"}))
	out := fs.String("out", "", c.pick([2]string{"tệp chữ ký CMS (DER)", "CMS signature file (DER)"}))
	pss := fs.Bool("pss", false, c.pick([2]string{"ký RSA theo RSASSA-PSS", "sign RSA keys with RSASSA-PSS"}))
	tsa := fs.String("tsa", "", c.pick([2]string{"thêm dấu thời gian từ máy chủ này", "add a timestamp from this authority"}))
	tsaTimeout := fs.Duration("tsa-timeout", 150*time.Second, c.pick([2]string{"thời gian chờ máy chủ dấu thời gian", "timestamp authority timeout"}))
	signingTime := fs.Bool("signing-time", false, c.pick([2]string{"thêm thuộc tính signing-time (chỉ CAdES thuần, không dùng cho PDF)", "add a signing-time attribute (plain CAdES only, not for PDF)"}))
	kf.register(c, fs)
	if code, done := c.parse(fs, "sign-hash", args); done {
		return code
	}
	h, err := parseHash(*hashName)
	if err != nil {
		return c.fail("sign-hash", err)
	}
	if *out == "" {
		return c.fail("sign-hash", usageErr("--out is required"))
	}
	digest, err := readDigest(*digestHex, *digestFile)
	if err != nil {
		return c.fail("sign-hash", err)
	}
	if len(digest) != h.Size() {
		return c.fail("sign-hash", usageErr("the digest is %d bytes; %s needs %d", len(digest), *hashName, h.Size()))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	k, err := kf.open(ctx, c)
	if err != nil {
		return c.fail("sign-hash", err)
	}
	defer k.close()
	opts := cms.Options{Hash: h, PSS: *pss, Chain: k.chain}
	if *signingTime {
		opts.SigningTime = time.Now()
	}
	der, err := cms.Sign(ctx, k.signer, k.cert, digest, opts)
	if err == nil && *tsa != "" {
		der, err = cms.AddTimestamp(ctx, der, &cms.TSA{URL: *tsa, Timeout: *tsaTimeout})
	}
	if err != nil {
		fmt.Fprintln(c.stderr, "kyso: "+c.describe(err))
		return exitCodeFor(err)
	}
	if err := atomicfile.WriteFile(*out, der, 0o644); err != nil {
		fmt.Fprintln(c.stderr, "kyso:", err)
		return exitFailure
	}
	fmt.Fprintln(c.stdout, c.lang.T("signhash.done", *out, len(der)))
	return exitOK
}

// readDigest accepts hex or base64 on the command line, or a file holding
// raw bytes, hex, base64 or the JSON that `kyso pdf prepare` prints.
func readDigest(arg, file string) ([]byte, error) {
	if (arg == "") == (file == "") {
		return nil, usageErr("give exactly one of --digest and --digest-file")
	}
	text := arg
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		var rep prepareReport
		if json.Unmarshal(b, &rep) == nil && rep.DigestHex != "" {
			text = rep.DigestHex
		} else if t := strings.TrimSpace(string(b)); isText(t) {
			text = t
		} else {
			return b, nil
		}
	}
	if d, err := hex.DecodeString(text); err == nil {
		return d, nil
	}
	if d, err := base64.StdEncoding.DecodeString(text); err == nil {
		return d, nil
	}
	return nil, usageErr("the digest is neither hex nor base64")
}

func isText(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return s != ""
}

func nonEmptyList(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}
