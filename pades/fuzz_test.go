package pades

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
)

// memOutput is an in-memory Output.
type memOutput struct{ b []byte }

func (m *memOutput) Write(p []byte) (int, error) { m.b = append(m.b, p...); return len(p), nil }

func (m *memOutput) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	copy(m.b[off:], p)
	return len(p), nil
}

// FuzzSign feeds arbitrary bytes to the reader and the signer. Whatever the
// input, signing either fails with a typed error or produces a file that
// starts with the input and can itself be read again. It is seeded with
// small versions of every structure in the corpus (the full-size files make
// Go's fuzzing engine crawl) and the corpus files under 8 KB.
func FuzzSign(f *testing.F) {
	for _, s := range append(append([]pdfcorpus.Sample{}, fx.seeds...), fx.samples...) {
		if data, err := os.ReadFile(s.Path); err == nil && len(data) < 8<<10 {
			f.Add(data)
		}
	}
	f.Add([]byte("%PDF-1.7\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := baseOptions()
		opts.Time = time.Unix(1795000000, 0)
		var out memOutput
		_, err := Sign(t.Context(), bytes.NewReader(data), int64(len(data)), &out, fx.ecdsa.key, fx.ecdsa.cert, opts)
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if !bytes.HasPrefix(out.b, data) {
			t.Fatal("the input is not a prefix of the output")
		}
		if err := Check(bytes.NewReader(out.b), int64(len(out.b))); err != nil {
			t.Fatalf("the signed output cannot be read again: %v", err)
		}
	})
}

// FuzzVerify feeds arbitrary bytes to the verifier: it must answer with a
// report or a typed error, never panic or hang. Seeds are the small corpus
// variants, signed once and twice so that mutations land in signature
// dictionaries, CMS structures and later revisions.
func FuzzVerify(f *testing.F) {
	for _, s := range fx.seeds {
		data, err := os.ReadFile(s.Path)
		if err != nil || len(data) > 8<<10 {
			continue
		}
		f.Add(data)
		opts := baseOptions()
		opts.Time = time.Unix(1795000000, 0)
		var once memOutput
		if _, err := Sign(context.Background(), bytes.NewReader(data), int64(len(data)), &once, fx.ecdsa.key, fx.ecdsa.cert, opts); err != nil {
			continue
		}
		f.Add(once.b)
		var twice memOutput
		if _, err := Sign(context.Background(), bytes.NewReader(once.b), int64(len(once.b)), &twice, fx.ecdsa.key, fx.ecdsa.cert, opts); err == nil {
			f.Add(twice.b)
		}
	}
	f.Add([]byte("%PDF-1.7\n"))
	trust := cms.NewTrustStore()
	trust.AddRoot(fx.pki.Root.Cert)
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Verify(t.Context(), bytes.NewReader(data), int64(len(data)), VerifyOptions{Trust: trust, Offline: true, Now: time.Unix(1795000000, 0)})
		if err != nil {
			if CodeOf(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		for _, s := range rep.Signatures {
			if s.Verdict != Valid && s.Verdict != Invalid && s.Verdict != Indeterminate {
				t.Fatalf("verdict %q", s.Verdict)
			}
			if s.Verdict != Valid && len(s.Findings) == 0 {
				t.Fatalf("%s without a finding saying why", s.Verdict)
			}
		}
	})
}
