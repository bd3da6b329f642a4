package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"software.sslmate.com/src/go-pkcs12"
)

// FileStore is a key store backed by a PKCS#12 (.p12/.pfx) file: the soft
// certificates some agencies still issue, and kyso's development key store
// where no token can be set up. The file is decrypted once when opened.
type FileStore struct {
	path  string
	cert  *Certificate
	chain []*x509.Certificate
	key   crypto.Signer
}

// OpenPKCS12 opens a PKCS#12 file with its password. The password slice is
// wiped before returning. A wrong password gives an error with
// CodePasswordIncorrect.
func OpenPKCS12(path string, password []byte) (*FileStore, error) {
	defer wipe(password)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token: read PKCS#12 file: %w", err)
	}
	// go-pkcs12 takes the password as a string, which cannot be wiped; the
	// file password of a development or soft store is a lesser secret than
	// a token PIN, which never takes this path.
	key, cert, chain, err := pkcs12.DecodeChain(data, string(password))
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, &Error{Code: CodePasswordIncorrect, Op: "open " + filepath.Base(path)}
		}
		return nil, &Error{Code: CodeFunctionFailed, Op: "open " + filepath.Base(path), Err: fmt.Errorf("not a readable PKCS#12 file: %w", err)}
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, &Error{Code: CodeMechanismNotSupported, Op: "open " + filepath.Base(path), Err: fmt.Errorf("unsupported key type %T", key)}
	}
	if !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, &Error{Code: CodeKeyNotFound, Op: "open " + filepath.Base(path), Err: errString("the private key does not match the certificate")}
	}
	c := newCertificate(cert)
	c.HasPrivateKey = true
	c.TokenID = "file:" + path
	return &FileStore{path: path, cert: c, chain: chain, key: signer}, nil
}

// Path returns the file the store was opened from.
func (f *FileStore) Path() string { return f.path }

// Chain returns the CA certificates stored in the file.
func (f *FileStore) Chain() []*x509.Certificate { return append([]*x509.Certificate(nil), f.chain...) }

// Certificates returns the file's certificate.
func (f *FileStore) Certificates(context.Context) ([]*Certificate, error) {
	return []*Certificate{f.cert}, nil
}

// Signer returns the signer of the file's key. The password was given when
// the file was opened, so pins is not used.
func (f *FileStore) Signer(_ context.Context, h Handle, _ PINSource) (Signer, error) {
	if h != f.cert.Handle {
		return nil, &Error{Code: CodeCertificateNotFound, Op: "find certificate", Err: fmt.Errorf("%s does not hold certificate %s", filepath.Base(f.path), h)}
	}
	return &softSigner{cert: f.cert, key: f.key}, nil
}

type softSigner struct {
	cert *Certificate
	key  crypto.Signer
}

func (s *softSigner) Public() crypto.PublicKey  { return s.key.Public() }
func (s *softSigner) Certificate() *Certificate { return s.cert }

func (s *softSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext applies the same rules as the token signer (allowed hashes,
// digest length, PSS salt) so that both stores behave alike.
func (s *softSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Code: CodeCancelled, Op: "sign", Err: err}
	}
	if _, _, _, err := mechanismFor(s.key.Public(), digest, opts); err != nil {
		return nil, err
	}
	if pss, ok := opts.(*rsa.PSSOptions); ok && (pss.SaltLength == rsa.PSSSaltLengthAuto) {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: pss.Hash}
	}
	sig, err := s.key.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, &Error{Code: CodeFunctionFailed, Op: "sign", Err: err}
	}
	return sig, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	switch k := a.(type) {
	case *rsa.PublicKey:
		return k.Equal(b)
	case *ecdsa.PublicKey:
		return k.Equal(b)
	}
	return false
}
