package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/bridge"
	"github.com/kyso-vn/kyso/internal/demodms"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/testimages"
	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

func runDemo(c *cli, args []string) int {
	fs := c.flagSet("demo", [2]string{
		"Tạo (hoặc dùng lại) token phát triển SoftHSM chứa chứng thư thử nghiệm của một cá nhân và một tổ chức,\nrồi liệt kê token. Không có SoftHSM thì tạo kho khóa PKCS#12. Chỉ dùng để phát triển và thử nghiệm.",
		"Create (or reuse) a SoftHSM development token holding test personal and organisation certificates,\nthen list it. Without SoftHSM, PKCS#12 key files are created instead. For development and trials only.",
	}, "[--dir THƯ_MỤC] [--pkcs12] [--json]")
	dir := fs.String("dir", defaultDevDir(), c.pick([2]string{"thư mục lưu token và PKI thử nghiệm", "folder for the development token and test PKI"}))
	force := fs.Bool("pkcs12", false, c.pick([2]string{"dùng kho khóa PKCS#12 kể cả khi có SoftHSM", "use PKCS#12 files even when SoftHSM is available"}))
	asJSON := fs.Bool("json", false, c.pick([2]string{"liệt kê dạng JSON", "list as JSON"}))
	sample := fs.String("sample", "", c.pick([2]string{"văn bản PDF mẫu để ký thử (lãnh đạo ký, rồi văn thư ký phát hành)", "sample PDF to sign (leader's signature, then the organisation's)"}))
	serve := fs.Bool("serve", false, c.pick([2]string{"sau đó chạy tác tử ký số (kyso serve) trên token phát triển", "then run the signing agent (kyso serve) on the development token"}))
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
	if code := runTokens(c, list); code != exitOK {
		return code
	}
	if *sample != "" {
		if code := c.demoSign(d, *sample); code != exitOK {
			return code
		}
	}
	if !*serve {
		return exitOK
	}
	return c.demoServe(d, *sample)
}

// demoServe runs the agent on the development token, with its own
// configuration, audit log and secret in the demo folder, trusting the
// demo's test root for verification. Sites are approved in the agent's
// dialog as they would be on a user's machine.
func (c *cli) demoServe(d *devpki.Demo, sample string) int {
	if d.Mode != devpki.ModeSoftHSM {
		fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("demo.serve.p12"))
		return exitOK
	}
	sf := serveFlags{
		port:       bridge.DefaultPort,
		config:     filepath.Join(d.Dir, "config.json"),
		policy:     filepath.Join(d.Dir, "policy.json"),
		auditDir:   filepath.Join(d.Dir, "audit"),
		secretPath: filepath.Join(d.Dir, "client-secret"),
		modules:    stringList{d.ModulePath},
		noDiscover: true,
		trust:      stringList(d.CAFiles),
		logLevel:   "info",
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dms, err := c.startDemoDMS(ctx, sample)
	if err != nil {
		fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
		return exitFailure
	}
	defer dms.Close()
	// The demo's own policy, rewritten every run: the two agencies' pages
	// may call the agent without an approval dialog, like a DMS IT has
	// configured; other sites still get the dialog.
	// Its templates give the token's personal certificates the signature
	// and its organisation certificates the seal, as IT configures them,
	// so that pages sending no images (the incumbent page) work.
	templates, err := writeDemoTemplates(d)
	if err != nil {
		fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
		return exitFailure
	}
	policy := agent.Policy{Schema: agent.PolicySchema, AllowedOrigins: dms.Origins(), Templates: templates}
	data, err := json.MarshalIndent(policy, "", "  ")
	if err == nil {
		err = os.WriteFile(sf.policy, append(data, '\n'), 0o644)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(c.stdout, c.lang.T("demo.dms", strings.Join(dms.URLs(), "  ")))
	if err := sf.serve(ctx, c); err != nil {
		fmt.Fprintln(c.stderr, "kyso: "+c.describe(err))
		return exitCodeFor(err)
	}
	return exitOK
}

// writeDemoTemplates writes the demo's kyso.templates/v1 file and its
// images into the demo folder (rewritten every run): the development
// signature for the token's personal certificates, the seal (40 mm) for
// its organisation certificates. It returns the file's path.
func writeDemoTemplates(d *devpki.Demo) (string, error) {
	sig, err := testimages.EncodePNG(testimages.Signature(500, 200), 300, testimages.PNGOptions{})
	if err != nil {
		return "", err
	}
	seal, err := testimages.EncodePNG(testimages.Seal(480), 300, testimages.PNGOptions{})
	if err != nil {
		return "", err
	}
	const sigName, sealName = "demo-chu-ky.png", "demo-con-dau.png"
	for name, data := range map[string][]byte{sigName: sig, sealName: seal} {
		if err := os.WriteFile(filepath.Join(d.Dir, name), data, 0o644); err != nil {
			return "", err
		}
	}
	list := []agent.Template{}
	for _, k := range d.Keys {
		if k.Cert == nil {
			continue
		}
		switch token.ParseIdentity(k.Cert).Kind {
		case token.KindPersonal:
			list = append(list, agent.Template{Cert: string(token.HandleOf(k.Cert)), SignatureImage: sigName})
		case token.KindOrganisation:
			list = append(list, agent.Template{Cert: string(token.HandleOf(k.Cert)), SealImage: sealName, SealMM: 40})
		}
	}
	data, err := json.MarshalIndent(map[string]any{"schema": agent.TemplatesSchema, "templates": list}, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(d.Dir, "templates.json")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return "", err
	}
	if _, err := agent.LoadTemplates(path); err != nil {
		return "", err
	}
	return path, nil
}

// demoSign runs workflow W2 on the sample: the leader signs personally,
// then the clerk adds the organisation's signature.
func (c *cli) demoSign(d *devpki.Demo, sample string) int {
	ctx := context.Background()
	var store token.Store
	switch d.Mode {
	case devpki.ModeSoftHSM:
		m := token.NewManager(token.Options{Modules: []string{d.ModulePath}})
		defer m.Close()
		store = m
	default:
		return c.demoSignPKCS12(ctx, d, sample)
	}
	certs, err := store.Certificates(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
		return exitFailure
	}
	pins := token.PINFunc(func(context.Context, token.PINRequest) ([]byte, error) { return []byte(d.UserPIN), nil })
	pick := func(kind token.Kind) (token.Signer, error) {
		for _, ce := range certs {
			if ce.Identity.Kind == kind && ce.HasPrivateKey && ce.KeyType == "RSA" {
				return store.Signer(ctx, ce.Handle, pins)
			}
		}
		return nil, fmt.Errorf("no %s certificate on the development token", kind)
	}
	return c.demoWorkflow(ctx, d, sample, pick)
}

func (c *cli) demoSignPKCS12(ctx context.Context, d *devpki.Demo, sample string) int {
	pick := func(kind token.Kind) (token.Signer, error) {
		for _, f := range d.Files {
			st, err := token.OpenPKCS12(f, []byte(d.PKCS12Password))
			if err != nil {
				return nil, err
			}
			certs, _ := st.Certificates(ctx)
			if len(certs) == 1 && certs[0].Identity.Kind == kind {
				return st.Signer(ctx, certs[0].Handle, nil)
			}
		}
		return nil, fmt.Errorf("no %s certificate in the development key store", kind)
	}
	return c.demoWorkflow(ctx, d, sample, pick)
}

func (c *cli) demoWorkflow(ctx context.Context, d *devpki.Demo, sample string, pick func(token.Kind) (token.Signer, error)) int {
	// Development signature and seal images, drawn by code.
	sigPNG, err := testimages.EncodePNG(testimages.Signature(500, 200), 300, testimages.PNGOptions{})
	if err != nil {
		fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
		return exitFailure
	}
	sealPNG, err := testimages.EncodePNG(testimages.Seal(480), 300, testimages.PNGOptions{})
	if err != nil {
		fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
		return exitFailure
	}
	base := strings.TrimSuffix(filepath.Base(sample), filepath.Ext(sample))
	approved := filepath.Join(d.Dir, base+"-lanh-dao-da-ky.pdf")
	issued := filepath.Join(d.Dir, base+"-da-phat-hanh.pdf")
	steps := []struct {
		kind    token.Kind
		in, out string
		req     pades.ProfileRequest
		reason  string
	}{
		{token.KindPersonal, sample, approved, pades.ProfileRequest{Profile: pades.ProfileApproved, Signer: pades.KindPersonal,
			Page: 2, SignatureImage: sigPNG}, "Phê duyệt"},
		{token.KindOrganisation, approved, issued, pades.ProfileRequest{Profile: pades.ProfileIssued, Signer: pades.KindOrganisation,
			SealImage: sealPNG, SealMM: 40, DocNumber: "15/QĐ-UBND", Place: "Bình Phước"}, "Phát hành"},
	}
	for _, st := range steps {
		s, err := pick(st.kind)
		if err != nil {
			fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
			return exitFailure
		}
		st.req.SignerName = s.Certificate().Identity.Name
		opts := pades.Options{Info: pades.Info{Reason: st.reason, Location: "Bình Phước"}, Chain: d.PKI.Chain()[:1]}
		in, err := os.Open(st.in)
		if err != nil {
			fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
			return exitFailure
		}
		fi, _ := in.Stat()
		err = st.req.Apply(in, fi.Size(), &opts)
		in.Close()
		if err == nil {
			os.Remove(st.out) // the demo's own output from an earlier run
			_, err = pades.SignFile(ctx, st.in, st.out, s, s.Certificate().X509, opts)
		}
		if err != nil {
			fmt.Fprintf(c.stderr, "kyso: demo: %s: %s\n", st.in, c.describe(err))
			return exitCodeFor(err)
		}
	}
	fmt.Fprintln(c.stdout, c.lang.T("demo.signed", issued, filepath.Join(d.Dir, "pki")))
	// Then check it the way the receiving agency would, trusting the
	// demo's test root. Offline: nothing serves the test PKI's OCSP.
	cfg := agent.VerifyConfig{Offline: true, Lang: string(c.lang)}
	for _, f := range d.CAFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(c.stderr, "kyso: demo: %v\n", err)
			return exitFailure
		}
		cfg.TrustPEM = append(cfg.TrustPEM, data)
	}
	rep, err := agent.VerifyFile(ctx, issued, cfg)
	if err != nil {
		fmt.Fprintf(c.stderr, "kyso: demo: %s: %s\n", issued, c.describe(err))
		return exitFailure
	}
	fmt.Fprintln(c.stdout, c.lang.T("demo.verify", issued, strings.Join(d.CAFiles, " --trust ")))
	if err := rep.WriteText(c.stdout, string(c.lang)); err != nil {
		return exitFailure
	}
	return exitOK
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

// startDemoDMS starts the demo document-management system: two agencies
// on two origins, seeded with the sample, serving the SDK built in js-sdk/
// (make demo builds it; the pages say so when it is missing).
func (c *cli) startDemoDMS(ctx context.Context, sample string) (*demodms.Server, error) {
	samples := map[string][]byte{}
	if sample != "" {
		data, err := os.ReadFile(sample)
		if err != nil {
			return nil, err
		}
		samples[filepath.Base(sample)] = data
	}
	sig, err := testimages.EncodePNG(testimages.Signature(500, 200), 300, testimages.PNGOptions{})
	if err != nil {
		return nil, err
	}
	seal, err := testimages.EncodePNG(testimages.Seal(480), 300, testimages.PNGOptions{})
	if err != nil {
		return nil, err
	}
	sdk, err := filepath.Abs(filepath.Join("js-sdk", "dist", "kyso.iife.js"))
	if err != nil {
		return nil, err
	}
	dms, err := demodms.New(demodms.Config{
		Agencies: []demodms.Agency{
			{ID: "ubnd", Name: "UBND tỉnh Bình Phước", Port: demoDMSPort},
			{ID: "snv", Name: "Sở Nội vụ tỉnh Bình Phước", Port: demoDMSPort + 1},
		},
		SDKPath:        sdk,
		Samples:        samples,
		SignatureImage: sig,
		SealImage:      seal,
	})
	if err != nil {
		return nil, err
	}
	if err := dms.Start(ctx); err != nil {
		return nil, err
	}
	return dms, nil
}

// demoDMSPort is the first demo agency's port; the second uses the next.
const demoDMSPort = 19580
