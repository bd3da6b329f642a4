package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/token"
)

// tokensReport is the JSON document `kyso tokens --json` prints. Its shape
// is documented in docs/cli.md and only grows: fields are never renamed or
// removed within schema kyso.tokens/v1.
type tokensReport struct {
	Schema  string               `json:"schema"`
	Modules []token.ModuleStatus `json:"modules"`
	Tokens  []tokenReport        `json:"tokens"`
	Files   []fileReport         `json:"files"`
}

type tokenReport struct {
	token.TokenInfo
	Certificates []*token.Certificate `json:"certificates"`
}

type fileReport struct {
	Path         string               `json:"path"`
	Error        string               `json:"error,omitempty"`
	Code         token.Code           `json:"code,omitempty"`
	Certificates []*token.Certificate `json:"certificates"`
}

const tokensSchema = "kyso.tokens/v1"

func runTokens(c *cli, args []string) int {
	fs := c.flagSet("tokens", [2]string{
		"Liệt kê các thư viện PKCS#11, token đang cắm, cờ trạng thái PIN và chứng thư số kèm khóa.\nKhông có --module thì tự tìm các thư viện của các đơn vị cấp chứng thư số Việt Nam.",
		"List PKCS#11 modules, the tokens present, their PIN state and their certificates with keys.\nWithout --module, the modules of Vietnamese CAs are discovered in the standard folders.",
	}, "[--module ĐƯỜNG_DẪN]... [--discover] [--p12 TỆP --p12-pass-file TỆP] [--json]")
	var modules, p12s stringList
	fs.Var(&modules, "module", c.pick([2]string{"thư viện PKCS#11 cần nạp (lặp lại được)", "PKCS#11 library to load (repeatable)"}))
	discover := fs.Bool("discover", false, c.pick([2]string{"tìm thêm thư viện ở thư mục chuẩn dù đã có --module", "also discover modules when --module is given"}))
	fs.Var(&p12s, "p12", c.pick([2]string{"tệp PKCS#12 (.p12/.pfx) cần mở (lặp lại được)", "PKCS#12 (.p12/.pfx) file to open (repeatable)"}))
	passFile := fs.String("p12-pass-file", "", c.pick([2]string{"tệp chứa mật khẩu của --p12", "file holding the --p12 password"}))
	asJSON := fs.Bool("json", false, c.pick([2]string{"in JSON theo lược đồ kyso.tokens/v1", "print JSON (schema kyso.tokens/v1)"}))
	timeout := fs.Duration("timeout", 30*time.Second, c.pick([2]string{"thời gian chờ tối đa các token trả lời", "how long to wait for tokens to answer"}))
	if code, done := c.parse(fs, "tokens", args); done {
		return code
	}
	if len(p12s) > 0 && *passFile == "" {
		c.usageError("tokens", c.lang.T("cli.p12.password"))
		return exitUsage
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rep := tokensReport{Schema: tokensSchema, Modules: []token.ModuleStatus{}, Tokens: []tokenReport{}, Files: []fileReport{}}
	code := exitOK

	if len(modules) > 0 || len(p12s) == 0 || *discover {
		m := token.NewManager(token.Options{Modules: modules, Discover: *discover || len(modules) == 0})
		defer m.Close()
		rep.Modules = m.Modules()
		toks, _ := m.Tokens(ctx)
		certs, _ := m.Certificates(ctx)
		for _, t := range toks {
			tr := tokenReport{TokenInfo: t, Certificates: []*token.Certificate{}}
			for _, ce := range certs {
				if ce.TokenID == t.ID {
					tr.Certificates = append(tr.Certificates, ce)
				}
			}
			rep.Tokens = append(rep.Tokens, tr)
		}
		if m.Loaded() == 0 && len(p12s) == 0 {
			code = exitNoModule
		}
	}
	if len(p12s) > 0 {
		pass, err := os.ReadFile(*passFile)
		if err != nil {
			fmt.Fprintf(c.stderr, "kyso: %v\n", err)
			return exitFailure
		}
		pass = []byte(strings.TrimRight(string(pass), "\r\n"))
		for _, p := range p12s {
			fr := fileReport{Path: p, Certificates: []*token.Certificate{}}
			st, err := token.OpenPKCS12(p, append([]byte(nil), pass...))
			if err != nil {
				fr.Error, fr.Code = err.Error(), token.CodeOf(err)
				code = exitBadFile
			} else {
				fr.Certificates, _ = st.Certificates(ctx)
			}
			rep.Files = append(rep.Files, fr)
		}
		clear(pass)
	}

	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(c.stderr, "kyso: %v\n", err)
			return exitFailure
		}
	} else {
		c.printTokens(c.stdout, rep, time.Now())
	}
	switch code {
	case exitNoModule:
		fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("tokens.none.modules"))
	case exitBadFile:
		for _, f := range rep.Files {
			if f.Error != "" {
				fmt.Fprintf(c.stderr, "kyso: %s: %s\n", f.Path, c.errMessage(f.Code, f.Error))
			}
		}
	}
	return code
}

// errMessage is the user's-language message for a coded error, with the
// technical detail after it.
func (c *cli) errMessage(code token.Code, detail string) string {
	key := "err." + string(code)
	if code == "" || !i18n.Has(key) {
		return detail
	}
	return c.lang.T(key) + " (" + detail + ")"
}

func (c *cli) printTokens(w io.Writer, rep tokensReport, now time.Time) {
	l := c.lang
	for _, m := range rep.Modules {
		fmt.Fprintln(w, l.T("tokens.module", m.Path))
		if !m.Loaded {
			fmt.Fprintln(w, l.T("tokens.module.failed", m.Error))
			continue
		}
		fmt.Fprintln(w, l.T("tokens.module.info", m.Manufacturer, m.Description, m.CryptokiVersion, m.LibraryVersion, l.T("tokens.events."+m.SlotEvents)))
		n := 0
		for _, t := range rep.Tokens {
			if t.Module != m.Path {
				continue
			}
			n++
			fmt.Fprintln(w, l.T("tokens.token", t.Label, t.SlotID, t.Manufacturer, t.Model, t.Serial))
			fmt.Fprintln(w, l.T("tokens.flags", strings.Join(c.flagWords(t.TokenInfo), "; ")))
			fmt.Fprintln(w, l.T("tokens.mechs", strings.Join(t.Mechanisms, ", ")))
			c.printCerts(w, t.Certificates, now)
		}
		if n == 0 {
			fmt.Fprintln(w, l.T("tokens.none.tokens"))
		}
	}
	for _, f := range rep.Files {
		fmt.Fprintln(w, l.T("tokens.file", f.Path))
		if f.Error != "" {
			fmt.Fprintln(w, "  "+c.errMessage(f.Code, f.Error))
			continue
		}
		c.printCerts(w, f.Certificates, now)
	}
}

func (c *cli) flagWords(t token.TokenInfo) []string {
	l := c.lang
	var out []string
	if t.Flags.LoginRequired {
		out = append(out, l.T("flag.loginRequired"))
	}
	if t.Flags.ProtectedAuthPath {
		out = append(out, l.T("flag.pinpad"))
	}
	switch {
	case t.PIN.Locked:
		out = append(out, l.T("flag.pin.locked"))
	case t.PIN.FinalTry:
		out = append(out, l.T("flag.pin.finalTry"))
	case t.PIN.CountLow:
		out = append(out, l.T("flag.pin.countLow"))
	default:
		out = append(out, l.T("flag.pin.ok"))
	}
	if t.PIN.ToBeChanged {
		out = append(out, l.T("flag.pin.toBeChanged"))
	}
	return out
}

func (c *cli) printCerts(w io.Writer, certs []*token.Certificate, now time.Time) {
	l := c.lang
	if len(certs) == 0 {
		fmt.Fprintln(w, l.T("tokens.certs.none"))
		return
	}
	for _, ce := range certs {
		id := ce.Identity
		kind := l.T("kind." + string(id.Kind))
		if ce.IsCA {
			kind = "CA"
		}
		fmt.Fprintln(w, l.T("tokens.cert", kind, id.Name))
		if len(id.IDs) > 0 {
			var ids []string
			for _, n := range id.IDs {
				ids = append(ids, n.Type+" "+n.Value)
			}
			fmt.Fprintln(w, l.T("tokens.cert.ids", strings.Join(ids, ", ")))
		}
		if org := strings.Join(nonEmpty(id.Title, id.OrganizationalUnit, id.Organization), ", "); org != "" {
			fmt.Fprintln(w, l.T("tokens.cert.org", org))
		}
		fmt.Fprintln(w, l.T("tokens.cert.issuer", ce.Issuer, ce.Serial))
		note := ""
		switch days := int(ce.NotAfter.Sub(now).Hours() / 24); {
		case now.After(ce.NotAfter):
			note = l.T("tokens.cert.expired")
		case now.Before(ce.NotBefore):
			note = l.T("tokens.cert.notyet")
		case days < 30:
			note = l.T("tokens.cert.expiring", days)
		}
		const day = "2006-01-02"
		fmt.Fprintln(w, l.T("tokens.cert.validity", ce.NotBefore.Format(day), ce.NotAfter.Format(day), note))
		hasKey := l.T("no")
		if ce.HasPrivateKey {
			hasKey = l.T("yes")
		}
		fmt.Fprintln(w, l.T("tokens.cert.key", ce.KeyType, ce.KeySize, hasKey))
		fmt.Fprintln(w, l.T("tokens.cert.handle", ce.Handle))
	}
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
