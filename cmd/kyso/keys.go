package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/token"
	"golang.org/x/term"
)

// keyFlags selects the key a command signs with: a certificate on a token
// (PKCS#11) or in a PKCS#12 file.
type keyFlags struct {
	modules    stringList
	tokenLabel string
	handle     string
	serial     string
	kind       string
	pinFile    string
	p12        string
	p12Pass    string
	chainFiles stringList
}

func (k *keyFlags) register(c *cli, fs *flag.FlagSet) {
	fs.Var(&k.modules, "module", c.pick([2]string{"thư viện PKCS#11 (lặp lại được; mặc định tự tìm)", "PKCS#11 library (repeatable; discovered by default)"}))
	fs.StringVar(&k.tokenLabel, "token", "", c.pick([2]string{"chỉ dùng token có nhãn này", "only use the token with this label"}))
	fs.StringVar(&k.handle, "cert", "", c.pick([2]string{"mã chứng thư (SHA-256, xem kyso tokens)", "certificate handle (SHA-256, see kyso tokens)"}))
	fs.StringVar(&k.serial, "cert-serial", "", c.pick([2]string{"số hiệu chứng thư (hex)", "certificate serial number (hex)"}))
	fs.StringVar(&k.kind, "kind", "", c.pick([2]string{"loại chứng thư: personal (cá nhân) hoặc organisation (tổ chức)", "certificate kind: personal or organisation"}))
	fs.StringVar(&k.pinFile, "pin-file", "", c.pick([2]string{"tệp chứa mã PIN (nếu không: biến KYSO_PIN, hoặc hỏi trên terminal)", "file holding the PIN (else KYSO_PIN, else asked on the terminal)"}))
	fs.StringVar(&k.p12, "p12", "", c.pick([2]string{"ký bằng tệp PKCS#12 thay cho token", "sign with a PKCS#12 file instead of a token"}))
	fs.StringVar(&k.p12Pass, "p12-pass-file", "", c.pick([2]string{"tệp chứa mật khẩu của --p12", "file holding the --p12 password"}))
	fs.Var(&k.chainFiles, "chain", c.pick([2]string{"tệp PEM chứng thư CA trung gian cần kèm (lặp lại được)", "PEM file of intermediate CA certificates to embed (repeatable)"}))
}

// cliError carries the exit code a failure maps to.
type cliError struct {
	code int
	msg  string
}

func (e *cliError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &cliError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

func tokenErr(format string, args ...any) error {
	return &cliError{code: exitToken, msg: fmt.Sprintf(format, args...)}
}

// key is an opened signing key with its certificate and chain.
type key struct {
	signer token.Signer
	cert   *x509.Certificate
	chain  []*x509.Certificate
	close  func()
}

// open finds the certificate and returns its signer. Token PINs are asked
// through pins only when the token needs them.
func (k *keyFlags) open(ctx context.Context, c *cli) (*key, error) {
	if k.p12 != "" && len(k.modules) > 0 {
		return nil, usageErr("--p12 and --module exclude each other")
	}
	var store token.Store
	var pool []*x509.Certificate
	labels := map[string]string{}
	closeFn := func() {}
	if k.p12 != "" {
		if k.p12Pass == "" {
			return nil, usageErr("%s", c.lang.T("cli.p12.password"))
		}
		pass, err := readSecretFile(k.p12Pass)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		fs, err := token.OpenPKCS12(k.p12, pass)
		if err != nil {
			return nil, tokenErr("%s", c.errMessage(token.CodeOf(err), err.Error()))
		}
		store, pool = fs, fs.Chain()
	} else {
		m := token.NewManager(token.Options{Modules: k.modules, Discover: len(k.modules) == 0})
		if m.Loaded() == 0 {
			m.Close()
			return nil, &cliError{code: exitToken, msg: c.lang.T("tokens.none.modules")}
		}
		store, closeFn = m, func() { m.Close() }
		toks, _ := m.Tokens(ctx)
		for _, t := range toks {
			labels[t.ID] = t.Label
		}
	}
	certs, err := store.Certificates(ctx)
	if err != nil {
		closeFn()
		return nil, tokenErr("%v", err)
	}
	for _, ce := range certs {
		if ce.IsCA {
			pool = append(pool, ce.X509)
		}
	}
	chosen, err := k.choose(c, certs, labels, time.Now())
	if err != nil {
		closeFn()
		return nil, err
	}
	var s token.Signer
	if m, ok := store.(*token.Manager); ok {
		s, err = m.SignerOn(ctx, chosen.TokenID, chosen.Handle, k.pinSource(c))
	} else {
		s, err = store.Signer(ctx, chosen.Handle, nil)
	}
	if err != nil {
		closeFn()
		return nil, tokenErr("%s", c.errMessage(token.CodeOf(err), err.Error()))
	}
	for _, f := range k.chainFiles {
		certs, err := readPEMCertificates(f)
		if err != nil {
			closeFn()
			return nil, usageErr("--chain %s: %v", f, err)
		}
		pool = append(pool, certs...)
	}
	return &key{signer: s, cert: chosen.X509, chain: cms.BuildChain(chosen.X509, pool), close: closeFn}, nil
}

// choose picks the certificate the flags name, or the only one that fits.
// labels maps token IDs to token labels for --token.
func (k *keyFlags) choose(c *cli, certs []*token.Certificate, labels map[string]string, now time.Time) (*token.Certificate, error) {
	var fit []*token.Certificate
	for _, ce := range certs {
		switch {
		case ce.IsCA || !ce.HasPrivateKey:
			continue
		case k.handle != "" && !strings.EqualFold(string(ce.Handle), k.handle):
			continue
		case k.serial != "" && !strings.EqualFold(strings.TrimLeft(ce.Serial, "0"), strings.TrimLeft(strings.ToUpper(k.serial), "0")):
			continue
		case k.kind != "" && string(ce.Identity.Kind) != k.kind:
			continue
		case k.tokenLabel != "" && labels[ce.TokenID] != k.tokenLabel:
			continue
		}
		fit = append(fit, ce)
	}
	explicit := k.handle != "" || k.serial != ""
	if !explicit {
		// Without an explicit choice, only certificates that can sign now.
		var usable []*token.Certificate
		for _, ce := range fit {
			if ce.CanSign() && ce.ValidAt(now) {
				usable = append(usable, ce)
			}
		}
		fit = usable
	}
	// The same certificate seen through two modules is one choice.
	seen := map[token.Handle]bool{}
	var uniq []*token.Certificate
	for _, ce := range fit {
		if !seen[ce.Handle] {
			seen[ce.Handle] = true
			uniq = append(uniq, ce)
		}
	}
	switch len(uniq) {
	case 0:
		return nil, tokenErr("%s", c.lang.T("sign.nocert"))
	case 1:
		if !uniq[0].ValidAt(now) {
			return nil, tokenErr("%s", c.lang.T("sign.expired", uniq[0].Identity.Name, uniq[0].NotAfter.Format("2006-01-02")))
		}
		return uniq[0], nil
	}
	var b strings.Builder
	b.WriteString(c.lang.T("sign.choose"))
	for _, ce := range uniq {
		fmt.Fprintf(&b, "\n  --cert %s  [%s] %s", ce.Handle, c.lang.T("kind."+string(ce.Identity.Kind)), ce.Identity.Name)
	}
	return nil, usageErr("%s", b.String())
}

// pinSource asks for the PIN: --pin-file, then KYSO_PIN, then the terminal.
// It is asked at most once per login attempt and never retries.
func (k *keyFlags) pinSource(c *cli) token.PINSource {
	return token.PINFunc(func(ctx context.Context, req token.PINRequest) ([]byte, error) {
		if k.pinFile != "" {
			return readSecretFile(k.pinFile)
		}
		if p := os.Getenv("KYSO_PIN"); p != "" {
			return []byte(p), nil
		}
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil || !term.IsTerminal(int(tty.Fd())) {
			if tty != nil {
				tty.Close()
			}
			return nil, &token.Error{Code: token.CodeCancelled, Op: "ask PIN", Err: errors.New(c.lang.T("sign.nopin"))}
		}
		defer tty.Close()
		prompt := c.lang.T("sign.pinprompt", req.Token.Label)
		if req.Certificate != nil {
			prompt = c.lang.T("sign.pinprompt.cert", req.Token.Label, req.Certificate.Identity.Name)
		}
		if req.Status.FinalTry {
			prompt = c.lang.T("sign.pin.finaltry") + " " + prompt
		}
		fmt.Fprint(tty, prompt)
		pin, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, err
		}
		return pin, nil
	})
}

// readSecretFile reads a PIN or password file, dropping one trailing line
// break.
func readSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b, nil
}

func readPEMCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return cms.ParseCertificatesPEM(data)
}
