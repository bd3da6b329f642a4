package cms_test

import (
	"bytes"
	"crypto"
	"testing"

	"github.com/digitorus/pkcs7"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/tsatest"
)

// FuzzParse feeds mutated CMS to the parser and to everything that works
// on its result. Nothing may panic, and a timestamp that EmbedTimestamp
// accepted must parse back.
func FuzzParse(f *testing.F) {
	pki := newPKI(f, 0)
	srv := tsatest.Start(f, pki, tsatest.Options{KeyKind: devpki.ECP256})
	tsa := &cms.TSA{URL: srv.URL}
	digest := digestOf(crypto.SHA256, []byte("fuzz"))

	var token []byte
	seeds := []struct {
		kind devpki.KeyKind
		opts cms.Options
	}{
		{devpki.RSA2048, cms.Options{Chain: pki.Chain()}},
		{devpki.RSA2048, cms.Options{PSS: true}},
		{devpki.ECP256, cms.Options{Chain: pki.Chain()[:1]}},
	}
	for i, s := range seeds {
		key, cert := newSigner(f, pki, s.kind)
		der, err := cms.Sign(testContext(f), key, cert, digest, s.opts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
		if i == 0 {
			stamped, err := cms.AddTimestamp(testContext(f), der, tsa)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(stamped)
			sd, err := cms.Parse(stamped)
			if err != nil {
				f.Fatal(err)
			}
			token = sd.Signers[0].Timestamp.Raw
			f.Add(token)
		}
	}
	key, cert := newSigner(f, pki, devpki.ECP256)
	p7, err := pkcs7.NewSignedData([]byte("attached content"))
	if err != nil {
		f.Fatal(err)
	}
	if err := p7.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		f.Fatal(err)
	}
	foreign, err := p7.Finish()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(foreign)
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})

	f.Fuzz(func(t *testing.T, der []byte) {
		if sd, err := cms.Parse(der); err == nil {
			for _, si := range sd.Signers {
				_ = si.VerifySignature()
				_ = si.CheckSigningCertificate()
				_ = si.CheckMessageDigest(digest)
				if si.Timestamp != nil {
					_ = si.Timestamp.Verify(si.Signature)
					_, _ = si.Timestamp.CheckUsage()
				}
			}
			if out, err := cms.EmbedTimestamp(der, token); err == nil {
				sd, err := cms.Parse(out)
				if err != nil {
					t.Fatalf("EmbedTimestamp produced unparseable CMS: %v", err)
				}
				// An earlier signature-time-stamp attribute may sort first
				// and become Timestamp; ours must be there all the same.
				if len(sd.Signers) != 1 || sd.Signers[0].Timestamp == nil || !bytes.Contains(out, token) {
					t.Fatal("embedded timestamp not found")
				}
			}
		}
		if ts, err := cms.ParseTimestamp(der); err == nil {
			_ = ts.Verify(der)
			_, _ = ts.CheckUsage()
		}
	})
}
