package pades

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kyso-vn/kyso/cms"
)

// CodeLTVUnavailable: validation data for a certificate could not be
// collected (neither its OCSP responder nor its CRL answered), so the
// document cannot be extended to B-LT.
const CodeLTVUnavailable Code = "LTV_DATA_UNAVAILABLE"

// ExtendOptions controls Extend.
type ExtendOptions struct {
	// Level is LevelBLT or LevelBLTA.
	Level Level
	// Trust and Intermediates build each signer's chain; a chain that
	// does not reach an anchor is still collected as far as the embedded
	// certificates go.
	Trust         *cms.TrustStore
	Intermediates []*x509.Certificate
	// HTTPClient fetches OCSP answers and CRLs; nil means a client with
	// RevocationTimeout (zero: 15 s).
	HTTPClient        *http.Client
	RevocationTimeout time.Duration
	// TSA makes the document timestamp of B-LTA.
	TSA *cms.TSA
	// Now dates the VRI entries; zero means time.Now.
	Now time.Time
}

// ExtendResult says what Extend added.
type ExtendResult struct {
	// Signatures is the number of signatures and document timestamps
	// whose validation data went into the DSS.
	Signatures int
	DSS        *DSSResult
	// DocTimestamp is the B-LTA timestamp's field, empty for B-LT.
	DocTimestamp string
}

// ExtendFile adds long-term validation data to a signed PDF: for every
// signature and document timestamp, the certificates of its chain (and of
// its timestamp authority's chain) and a fresh OCSP answer or CRL for each
// of them, in a DSS with one VRI entry per signature (PAdES B-LT); for
// LevelBLTA a document timestamp then covers it all. Extending a file
// again later adds a fresh DSS, covering the earlier document timestamps
// too, and a new timestamp. The output appears only when everything
// succeeded; inPath and outPath may be the same file.
func ExtendFile(ctx context.Context, inPath, outPath string, opts ExtendOptions) (*ExtendResult, error) {
	if opts.Level != LevelBLT && opts.Level != LevelBLTA {
		return nil, &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("level %q: extend makes B-LT or B-LTA", opts.Level)}
	}
	if opts.Level == LevelBLTA && (opts.TSA == nil || opts.TSA.URL == "") {
		return nil, &Error{Code: CodeBadRequest, Reason: "level B-LTA needs a timestamp authority URL"}
	}
	u, n, err := collectValidationData(ctx, inPath, opts)
	if err != nil {
		return nil, err
	}
	res := &ExtendResult{Signatures: n}
	// Each step writes a new file beside the output; the last one is
	// renamed over it, so the output changes only when all succeeded and
	// may be the input itself.
	dir := filepath.Dir(outPath)
	dssPath, err := tempName(dir)
	if err != nil {
		return nil, err
	}
	defer os.Remove(dssPath)
	if res.DSS, err = AddDSSFile(ctx, inPath, dssPath, u); err != nil {
		return nil, err
	}
	final := dssPath
	if opts.Level == LevelBLTA {
		tsPath, err := tempName(dir)
		if err != nil {
			return nil, err
		}
		defer os.Remove(tsPath)
		dts, err := AddDocTimestampFile(ctx, dssPath, tsPath, DocTimestampOptions{TSA: opts.TSA})
		if err != nil {
			return nil, err
		}
		res.DocTimestamp = dts.FieldName
		final = tsPath
	}
	if err := os.Rename(final, outPath); err != nil {
		return nil, fmt.Errorf("pades: extend: %w", err)
	}
	return res, nil
}

// tempName reserves a fresh name in dir; the writers create the file
// themselves.
func tempName(dir string) (string, error) {
	f, err := os.CreateTemp(dir, ".kyso-extend-*.pdf")
	if err != nil {
		return "", fmt.Errorf("pades: extend: %w", err)
	}
	name := f.Name()
	f.Close()
	return name, os.Remove(name)
}

// collectValidationData reads the signatures of the file at path and
// fetches what each needs.
func collectValidationData(ctx context.Context, path string, opts ExtendOptions) (DSSUpdate, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return DSSUpdate{}, 0, fmt.Errorf("pades: extend: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return DSSUpdate{}, 0, fmt.Errorf("pades: extend: %w", err)
	}
	d, err := openDocument(f, st.Size())
	if err != nil {
		return DSSUpdate{}, 0, err
	}
	var known []*x509.Certificate
	if dss, err := d.readDSS(); err == nil && dss != nil {
		known = parseCertificates(dss.Data.Certificates)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	c := &collector{opts: opts, now: now, known: append(known, opts.Intermediates...), cache: map[[32]byte]*collected{}}
	u := DSSUpdate{Time: now}
	n := 0
	for _, e := range d.sigEntries(st.Size()) {
		if e.err != nil {
			return DSSUpdate{}, 0, &Error{Code: CodeBrokenSignature, Reason: fmt.Sprintf("signature %s cannot be read; validation data is not added to a broken document", e.field), Err: e.err}
		}
		var vd ValidationData
		var subjects [][2]any // leaf, pool
		if e.docTimestamp {
			if e.timestamp.Certificate != nil {
				subjects = append(subjects, [2]any{e.timestamp.Certificate, e.timestamp.Certificates})
			}
		} else {
			if e.signer.Certificate == nil {
				return DSSUpdate{}, 0, &Error{Code: CodeBrokenSignature, Reason: fmt.Sprintf("signature %s does not carry its signer's certificate", e.field)}
			}
			subjects = append(subjects, [2]any{e.signer.Certificate, e.certs})
			if ts := e.signer.Timestamp; ts != nil && ts.Certificate != nil {
				subjects = append(subjects, [2]any{ts.Certificate, ts.Certificates})
			}
		}
		for _, s := range subjects {
			if err := c.add(ctx, &vd, s[0].(*x509.Certificate), s[1].([]*x509.Certificate)); err != nil {
				return DSSUpdate{}, 0, err
			}
		}
		u.Signatures = append(u.Signatures, SignatureValidation{Contents: e.contents, Data: vd})
		n++
	}
	if n == 0 {
		return DSSUpdate{}, 0, &Error{Code: CodeBadRequest, Reason: "the document has no signature to extend"}
	}
	return u, n, nil
}

type collector struct {
	opts  ExtendOptions
	now   time.Time
	known []*x509.Certificate
	// cache holds each certificate's answer: chains share intermediates
	// and a document's signers often share a CA.
	cache map[[32]byte]*collected
}

type collected struct {
	ocsp, crl []byte
	certs     []*x509.Certificate
}

// add puts leaf's chain and the revocation data of every certificate in
// it but the anchor into vd.
func (c *collector) add(ctx context.Context, vd *ValidationData, leaf *x509.Certificate, pool []*x509.Certificate) error {
	all := append(append([]*x509.Certificate(nil), pool...), c.known...)
	var chain []*x509.Certificate
	if c.opts.Trust != nil {
		if ch, err := c.opts.Trust.Verify(leaf, all, c.now); err == nil {
			chain = ch.Certificates
		} else if ch, err2 := c.opts.Trust.Verify(leaf, all, leaf.NotBefore.Add(time.Second)); err2 == nil {
			// Expired since signing: the path is the same, and its
			// validation data is exactly what keeps the signature
			// verifiable.
			chain = ch.Certificates
		}
	}
	if chain == nil {
		chain = append([]*x509.Certificate{leaf}, cms.BuildChain(leaf, all)...)
		if root := issuerIn(chain[len(chain)-1], all); root != nil {
			chain = append(chain, root)
		}
	}
	for _, cert := range chain {
		appendDER(&vd.Certificates, cert.Raw)
	}
	for i := 0; i+1 < len(chain); i++ {
		got, err := c.revocation(ctx, chain[i], chain[i+1])
		if err != nil {
			return err
		}
		if got.ocsp != nil {
			appendDER(&vd.OCSPs, got.ocsp)
		}
		if got.crl != nil {
			appendDER(&vd.CRLs, got.crl)
		}
		for _, rc := range got.certs {
			appendDER(&vd.Certificates, rc.Raw)
		}
	}
	return nil
}

func (c *collector) revocation(ctx context.Context, cert, issuer *x509.Certificate) (*collected, error) {
	key := sha256.Sum256(cert.Raw)
	if got, ok := c.cache[key]; ok {
		return got, nil
	}
	rc := &cms.RevocationChecker{Client: c.opts.HTTPClient, Timeout: c.opts.RevocationTimeout}
	res := rc.Check(ctx, cert, issuer, c.now)
	if res.Status == cms.RevocationUnknown || (res.OCSP == nil && res.CRL == nil) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		reason := res.Err
		if reason == nil {
			reason = errors.New("no OCSP responder or CRL answered")
		}
		return nil, &Error{Code: CodeLTVUnavailable, Reason: fmt.Sprintf("no revocation data for %q (serial %X)", cert.Subject.CommonName, cert.SerialNumber), Err: reason}
	}
	got := &collected{ocsp: res.OCSP, crl: res.CRL, certs: res.ResponderCerts}
	c.cache[key] = got
	return got, nil
}

// issuerIn finds the self-signed issuer of c in pool, so the anchor's
// certificate travels with the data too.
func issuerIn(c *x509.Certificate, pool []*x509.Certificate) *x509.Certificate {
	for _, p := range pool {
		if string(p.RawSubject) == string(c.RawIssuer) && string(p.RawSubject) == string(p.RawIssuer) && c.CheckSignatureFrom(p) == nil {
			return p
		}
	}
	return nil
}

func appendDER(list *[][]byte, der []byte) {
	for _, have := range *list {
		if string(have) == string(der) {
			return
		}
	}
	*list = append(*list, der)
}
