package dist

import (
	"errors"
	"reflect"
	"testing"
)

// TestSignerArgs checks the osslsigncode command lines the SIGN_*
// variables make, for the file and the token (which no test can reach
// otherwise), and that incomplete configurations are refused before any
// build starts.
func TestSignerArgs(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"pkcs12", map[string]string{EnvSignPKCS12: "c.p12", EnvSignPassFile: "p.txt"},
			[]string{"sign", "-pkcs12", "c.p12", "-readpass", "p.txt", "-h", "sha256", "-in", "IN", "-out", "OUT"}},
		{"pkcs12 timestamped", map[string]string{EnvSignPKCS12: "c.p12", EnvSignPassFile: "p.txt", EnvSignTimestampURL: "http://tsa.example/"},
			[]string{"sign", "-pkcs12", "c.p12", "-readpass", "p.txt", "-h", "sha256", "-ts", "http://tsa.example/", "-in", "IN", "-out", "OUT"}},
		{"token with chain file", map[string]string{EnvSignPKCS11Module: "/usr/lib/x.so", EnvSignPKCS11Key: "pkcs11:object=k", EnvSignCerts: "chain.pem", EnvSignPassFile: "pin.txt"},
			[]string{"sign", "-pkcs11module", "/usr/lib/x.so", "-certs", "chain.pem", "-key", "pkcs11:object=k", "-readpass", "pin.txt", "-h", "sha256", "-in", "IN", "-out", "OUT"}},
		{"token with certificate on it and engine", map[string]string{EnvSignPKCS11Module: "/usr/lib/x.so", EnvSignPKCS11Engine: "/e/pkcs11.so", EnvSignPKCS11Key: "pkcs11:object=k", EnvSignPKCS11Cert: "pkcs11:object=c"},
			[]string{"sign", "-pkcs11engine", "/e/pkcs11.so", "-pkcs11module", "/usr/lib/x.so", "-pkcs11cert", "pkcs11:object=c", "-key", "pkcs11:object=k", "-h", "sha256", "-in", "IN", "-out", "OUT"}},
	}
	for _, c := range cases {
		s, err := SignerFromEnv(env(c.env))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got, err := s.args("IN", "OUT")
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: args = %q, %v\nwant %q", c.name, got, err, c.want)
		}
	}
	bad := []map[string]string{
		{EnvSignPKCS12: "c.p12"}, // no password
		{EnvSignPKCS12: "c.p12", EnvSignPassFile: "p", EnvSignPKCS11Module: "x.so", EnvSignPKCS11Key: "k", EnvSignCerts: "c"},
		{EnvSignPKCS11Module: "x.so", EnvSignCerts: "c"},     // no key
		{EnvSignPKCS11Module: "x.so", EnvSignPKCS11Key: "k"}, // no certificate
	}
	for _, m := range bad {
		if s, err := SignerFromEnv(env(m)); err == nil || errors.Is(err, ErrNoSigner) {
			t.Errorf("SignerFromEnv(%v) = %+v, %v; want a configuration error", m, s, err)
		}
	}
	if _, err := SignerFromEnv(env(nil)); !errors.Is(err, ErrNoSigner) {
		t.Errorf("SignerFromEnv with nothing set: %v, want ErrNoSigner", err)
	}
}
