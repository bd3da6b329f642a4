package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

// bareSigner signs with miekg/pkcs11 directly: the floor the layer is
// measured against.
type bareSigner struct {
	p    *pkcs11.Ctx
	s    pkcs11.SessionHandle
	key  pkcs11.ObjectHandle
	mech []*pkcs11.Mechanism
}

func newBareSigner(b *testing.B, tokenLabel string, keyID []byte) *bareSigner {
	b.Helper()
	p := pkcs11.New(fx.softhsm)
	if err := p.Initialize(); err != nil && rvOf(err) != pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
		b.Fatal(err)
	}
	slots, err := p.GetSlotList(true)
	if err != nil {
		b.Fatal(err)
	}
	for _, slot := range slots {
		ti, err := p.GetTokenInfo(slot)
		if err != nil || trimPad(ti.Label) != tokenLabel {
			continue
		}
		s, err := p.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.CloseSession(s) })
		if err := p.Login(s, pkcs11.CKU_USER, userPIN); err != nil && rvOf(err) != pkcs11.CKR_USER_ALREADY_LOGGED_IN {
			b.Fatal(err)
		}
		objs := findObjects(p, s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_ID, keyID),
		})
		if len(objs) != 1 {
			b.Fatalf("found %d keys with id %x", len(objs), keyID)
		}
		return &bareSigner{p: p, s: s, key: objs[0], mech: []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)}}
	}
	b.Fatalf("token %s not found", tokenLabel)
	return nil
}

func (bs *bareSigner) sign(b *testing.B, digest []byte) []byte {
	data := append(append([]byte(nil), digestInfoPrefix[crypto.SHA256]...), digest...)
	if err := bs.p.SignInit(bs.s, bs.mech, bs.key); err != nil {
		b.Fatal(err)
	}
	sig, err := bs.p.Sign(bs.s, data)
	if err != nil {
		b.Fatal(err)
	}
	return sig
}

func layerSigner(b *testing.B, keyLabel string) Signer {
	b.Helper()
	m := NewManager(Options{Modules: []string{fx.softhsm}})
	b.Cleanup(func() { m.Close() })
	ctx := context.Background()
	certs, err := m.Certificates(ctx)
	if err != nil {
		b.Fatal(err)
	}
	want := HandleOf(fx.certs[keyLabel])
	for _, c := range certs {
		if c.Handle == want {
			s, err := m.Signer(ctx, c.Handle, newPINCounter(userPIN))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
	}
	b.Fatalf("certificate %s not found", keyLabel)
	return nil
}

// BenchmarkLayerOverheadRSA2048 compares a signature through the layer with
// a bare miekg/pkcs11 C_SignInit+C_Sign on the same SoftHSM key. The two
// alternate within one loop so that noise on a shared machine hits both
// alike; the reported overhead-% is (layer − bare) / bare.
func BenchmarkLayerOverheadRSA2048(b *testing.B) {
	bare := newBareSigner(b, "kyso-main", []byte{0x01})
	layer := layerSigner(b, "personal-rsa")
	digest := digestOf(crypto.SHA256, "benchmark")
	ctx := context.Background()
	// Warm up both paths (login, key lookup) and check they agree: PKCS#1
	// v1.5 is deterministic, so both must produce the same bytes.
	want := bare.sign(b, digest)
	got, err := layer.SignContext(ctx, digest, crypto.SHA256)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		b.Fatal("layer and bare signatures differ")
	}
	var tBare, tLayer time.Duration
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first to cancel ordering effects (caches).
		if i%2 == 0 {
			t0 := time.Now()
			bare.sign(b, digest)
			t1 := time.Now()
			if _, err := layer.SignContext(ctx, digest, crypto.SHA256); err != nil {
				b.Fatal(err)
			}
			tBare += t1.Sub(t0)
			tLayer += time.Since(t1)
		} else {
			t0 := time.Now()
			if _, err := layer.SignContext(ctx, digest, crypto.SHA256); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			bare.sign(b, digest)
			tLayer += t1.Sub(t0)
			tBare += time.Since(t1)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(tBare.Nanoseconds())/n, "bare-ns/sig")
	b.ReportMetric(float64(tLayer.Nanoseconds())/n, "layer-ns/sig")
	b.ReportMetric(100*(float64(tLayer)-float64(tBare))/float64(tBare), "overhead-%")
}

// BenchmarkSign measures one signature through the layer per algorithm.
func BenchmarkSign(b *testing.B) {
	cases := []struct {
		name string
		key  string
		opts crypto.SignerOpts
	}{
		{"RSA2048-PKCS1v15", "personal-rsa", crypto.SHA256},
		{"RSA2048-PSS", "personal-rsa", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"RSA3072-PKCS1v15", "organisation", crypto.SHA256},
		{"ECDSA-P256", "personal-ec", crypto.SHA256},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := layerSigner(b, c.key)
			digest := digestOf(crypto.SHA256, c.name)
			ctx := context.Background()
			for b.Loop() {
				if _, err := s.SignContext(ctx, digest, c.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
