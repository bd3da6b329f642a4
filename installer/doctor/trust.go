package doctor

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/cms/vnroots"
)

// systemBundles are where Linux distributions keep the CA bundle (the
// list agent.VerifyConfig.SystemRoots reads).
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
}

// trustEnv is the trust anchors as the agent's verification loads them:
// the shipped Vietnamese roots and the trust files; and, apart, the
// system's CA bundle, which kyso verify adds only with --system-roots.
type trustEnv struct {
	store         *cms.TrustStore
	intermediates []*x509.Certificate
	roots, subs   int
	legacy        int
	files         []trustFile
	err           error // the shipped roots could not be read

	system      *cms.TrustStore
	systemPath  string
	systemCount int
}

type trustFile struct {
	path  string
	count int
	err   error
}

// loadTrust builds the trust stores; it reads a few files and parses a few
// hundred certificates, so it runs once per Run.
func loadTrust(cfg Config) *trustEnv {
	t := &trustEnv{store: cms.NewTrustStore()}
	all, err := vnroots.All()
	if err != nil {
		t.err = fmt.Errorf("doctor: shipped roots: %w", err)
	}
	for _, c := range all {
		switch {
		case c.Root:
			t.roots++
			if c.Legacy {
				t.legacy++
			}
		default:
			t.subs++
		}
	}
	if t.err == nil {
		if t.intermediates, err = vnroots.AddTo(t.store); err != nil {
			t.err = fmt.Errorf("doctor: shipped roots: %w", err)
		}
	}
	for _, p := range cfg.TrustFiles {
		tf := trustFile{path: p}
		data, err := os.ReadFile(p)
		if err == nil {
			var certs []*x509.Certificate
			if certs, err = cms.ParseCertificatesPEM(data); err == nil {
				tf.count = len(certs)
				for _, c := range certs {
					t.store.AddRoot(c)
				}
			}
		}
		tf.err = err
		t.files = append(t.files, tf)
	}
	if runtime.GOOS != "windows" {
		for _, p := range systemBundles {
			data, err := os.ReadFile(filepath.Join(cfg.Root, p))
			if err != nil {
				continue
			}
			certs, err := cms.ParseCertificatesPEM(data)
			if err != nil || len(certs) == 0 {
				continue
			}
			t.system = cms.NewTrustStore()
			for _, c := range certs {
				t.system.AddRoot(c)
			}
			t.systemPath, t.systemCount = p, len(certs)
			break
		}
	}
	return t
}

// checkTrust reports the trust anchors loaded.
func checkTrust(_ context.Context, e *env) []Finding {
	t := e.trust()
	var out []Finding
	if t.err != nil {
		out = append(out, Finding{ID: "trust.roots", Severity: SeverityError, Message: T("doctor.trust.broken", t.err.Error()),
			Fix: T("doctor.trust.broken.fix"), Details: map[string]any{"error": t.err.Error()}})
	} else {
		out = append(out, Finding{ID: "trust.roots", Severity: SeverityOK, Message: T("doctor.trust.roots", t.roots, t.subs),
			Details: map[string]any{"roots": t.roots, "subCAs": t.subs, "legacyRoots": t.legacy}})
	}
	for _, f := range t.files {
		if f.err != nil {
			out = append(out, Finding{ID: "trust.file", Severity: SeverityError, Message: T("doctor.trust.file.bad", f.path, f.err.Error()),
				Fix: T("doctor.trust.file.bad.fix"), Details: map[string]any{"path": f.path, "error": f.err.Error()}})
			continue
		}
		out = append(out, Finding{ID: "trust.file", Severity: SeverityOK, Message: T("doctor.trust.file", f.path, f.count),
			Details: map[string]any{"path": f.path, "certificates": f.count}})
	}
	if t.system != nil {
		out = append(out, Finding{ID: "trust.system", Severity: SeverityInfo, Message: T("doctor.trust.system", t.systemPath, t.systemCount),
			Details: map[string]any{"path": t.systemPath, "certificates": t.systemCount}})
	}
	return out
}
