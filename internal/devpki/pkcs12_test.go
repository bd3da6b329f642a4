package devpki

import (
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

func TestWritePKCS12(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	tests := []struct {
		kind    KeyKind
		profile Profile
	}{
		{RSA2048, Personal()},
		{ECP256, Organisation()},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			t.Parallel()
			key, err := GenerateSoftKey(tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := p.Issue(tt.profile, key.Public())
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "key.p12")
			if err := WritePKCS12(path, key, cert, p.Chain(), "mật khẩu 123"); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %o, want 600", st.Mode().Perm())
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			gotKey, gotCert, chain, err := pkcs12.DecodeChain(data, "mật khẩu 123")
			if err != nil {
				t.Fatalf("DecodeChain: %v", err)
			}
			signer, ok := gotKey.(crypto.Signer)
			if !ok || checkKeyPair(cert, signer) != nil {
				t.Errorf("decoded key %T does not match the certificate", gotKey)
			}
			if !gotCert.Equal(cert) {
				t.Errorf("decoded certificate differs")
			}
			if len(chain) != 2 || !chain[0].Equal(p.Intermediate.Cert) || !chain[1].Equal(p.Root.Cert) {
				t.Errorf("decoded chain has %d certificates, want intermediate then root", len(chain))
			}
			if _, _, _, err := pkcs12.DecodeChain(data, "wrong"); err == nil {
				t.Errorf("DecodeChain with a wrong password succeeded")
			}
			// openssl reads the modern encoding too.
			if out, err := runOpenSSL(t, "pkcs12", "-in", path, "-passin", "pass:mật khẩu 123", "-nokeys", "-noout"); err != nil {
				t.Errorf("openssl pkcs12: %v\n%s", err, out)
			}
			if out, err := runOpenSSL(t, "pkcs12", "-in", path, "-passin", "pass:wrong", "-nokeys", "-noout"); err == nil {
				t.Errorf("openssl pkcs12 with a wrong password succeeded:\n%s", out)
			}
		})
	}
}

func TestWritePKCS12RejectsMismatchedKey(t *testing.T) {
	t.Parallel()
	p := newTestPKI(t)
	key, err := GenerateSoftKey(ECP256)
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateSoftKey(ECP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := p.Issue(Personal(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bad.p12")
	err = WritePKCS12(path, other, cert, p.Chain(), "123456")
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("WritePKCS12 with a foreign key: %v", err)
	}
	if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
		t.Errorf("a failed WritePKCS12 left %s behind", path)
	}
}
