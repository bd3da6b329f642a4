package doctor

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"debug/pe"
	"encoding/binary"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/installer"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/instance"
	"github.com/kyso-vn/kyso/token"
)

// testNow is the fixed time the tests judge certificates at.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeKeys is a KeyStore with fixed answers.
type fakeKeys struct {
	modules []token.ModuleStatus
	tokens  []token.TokenInfo
	certs   []*token.Certificate
}

func (k fakeKeys) Modules() []token.ModuleStatus { return k.modules }
func (k fakeKeys) Tokens(context.Context) ([]token.TokenInfo, error) {
	return k.tokens, nil
}
func (k fakeKeys) Certificates(context.Context) ([]*token.Certificate, error) {
	return k.certs, nil
}

// freePort returns a loopback port nothing listens on (it was free a
// moment ago).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// isolated is a Config that touches nothing of this machine: an empty
// policy, no user configuration, a token store with one loaded module and
// no token, no running instance, a free port, empty /proc and / trees,
// autostart installed for the user.
func isolated(t *testing.T) Config {
	t.Helper()
	return Config{
		Version:    "test",
		LoadPolicy: func() (*agent.Policy, error) { return &agent.Policy{Schema: agent.PolicySchema}, nil },
		Keys:       fakeKeys{modules: []token.ModuleStatus{{Path: "/usr/lib/fake-pkcs11.so", Loaded: true, Manufacturer: "Fake", Description: "fake", CryptokiVersion: "2.40"}}},
		Ports:      []int{freePort(t)},
		Agent: func(context.Context) (instance.Info, error) {
			return instance.Info{}, instance.ErrNotRunning
		},
		ProcRoot:  t.TempDir(),
		Root:      t.TempDir(),
		Autostart: fixedAutostart(true, false),
		Now:       testNow,
	}
}

// fixedAutostart reports the user and all-users autostart as installed or
// absent.
func fixedAutostart(user, all bool) func(installer.Scope) (installer.Status, error) {
	return func(s installer.Scope) (installer.Status, error) {
		on := user
		if s == installer.ScopeAllUsers {
			on = all
		}
		return installer.Status{Files: []installer.FileStatus{{Path: "/x/kyso.service", Present: on, Current: on}}}, nil
	}
}

// render writes rep in both languages and fails on anything a missing
// catalog key or a wrong argument count leaves behind.
func render(t *testing.T, rep Report) (vi, en string) {
	t.Helper()
	for _, l := range []i18n.Lang{i18n.Vietnamese, i18n.English} {
		var b bytes.Buffer
		if err := rep.WriteText(&b, l); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, bad := range []string{"%!", "doctor."} {
			if strings.Contains(out, bad) {
				t.Errorf("%s text has %q:\n%s", l, bad, out)
			}
		}
		if l == i18n.Vietnamese {
			vi = out
		} else {
			en = out
		}
	}
	return vi, en
}

// only returns the findings whose id starts with prefix.
func only(rep Report, prefix string) []Finding {
	var out []Finding
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.ID, prefix) {
			out = append(out, f)
		}
	}
	return out
}

// ids lists the findings' "id:severity".
func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+":"+string(f.Severity))
	}
	return out
}

// elfHeader is a bare 64-bit little-endian ELF header: enough for
// debug/elf to read the machine and type, no sections.
func elfHeader(machine elf.Machine, typ elf.Type) []byte {
	h := elf.Header64{Type: uint16(typ), Machine: uint16(machine), Version: 1, Ehsize: 64, Phentsize: 56, Shentsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, &h)
	return b.Bytes()
}

// peDLL is a minimal PE32+ image with one section holding an export
// directory naming exports; dll sets IMAGE_FILE_DLL.
func peDLL(machine uint16, dll bool, exports ...string) []byte {
	const (
		sectionRVA  = 0x1000
		sectionOff  = 0x200
		sectionSize = 0x400
		namesRVA    = sectionRVA + 0x40
		stringsRVA  = sectionRVA + 0x100
	)
	var b bytes.Buffer
	dos := make([]byte, 0x40)
	copy(dos, "MZ")
	binary.LittleEndian.PutUint32(dos[0x3c:], 0x40)
	b.Write(dos)
	b.WriteString("PE\x00\x00")
	ch := uint16(0x0022) // executable image, large address aware
	if dll {
		ch |= imageFileDLL
	}
	binary.Write(&b, binary.LittleEndian, pe.FileHeader{Machine: machine, NumberOfSections: 1, SizeOfOptionalHeader: 240, Characteristics: ch})
	oh := pe.OptionalHeader64{Magic: 0x20b, SectionAlignment: 0x1000, FileAlignment: 0x200, SizeOfImage: 0x2000,
		SizeOfHeaders: sectionOff, NumberOfRvaAndSizes: 16, ImageBase: 0x180000000}
	oh.DataDirectory[0] = pe.DataDirectory{VirtualAddress: sectionRVA, Size: 0x200}
	binary.Write(&b, binary.LittleEndian, &oh)
	var name [8]uint8
	copy(name[:], ".edata")
	binary.Write(&b, binary.LittleEndian, pe.SectionHeader32{Name: name, VirtualSize: sectionSize, VirtualAddress: sectionRVA,
		SizeOfRawData: sectionSize, PointerToRawData: sectionOff, Characteristics: 0x40000040})
	b.Write(make([]byte, sectionOff-b.Len()))

	sec := make([]byte, sectionSize)
	binary.LittleEndian.PutUint32(sec[24:], uint32(len(exports)))
	binary.LittleEndian.PutUint32(sec[32:], namesRVA)
	at := uint32(stringsRVA)
	for i, e := range exports {
		binary.LittleEndian.PutUint32(sec[namesRVA-sectionRVA+4*i:], at)
		copy(sec[at-sectionRVA:], e+"\x00")
		at += uint32(len(e)) + 1
	}
	b.Write(sec)
	return b.Bytes()
}

// writeFile writes data to name under dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testCA is a CA for certificate tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T, name string) testCA {
	t.Helper()
	return testCA{}.subCA(t, name)
}

// subCA makes a CA certified by ca, or a self-signed root when ca is the
// zero testCA.
func (ca testCA) subCA(t *testing.T, name string) testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: testNow.AddDate(-5, 0, 0), NotAfter: testNow.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true}
	parent, signer := tmpl, key
	if ca.cert != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{cert: c, key: key}
}

// issue makes a signing certificate for holder, valid from nb to na, as
// found on token tokenID with its private key.
func (ca testCA) issue(t *testing.T, holder string, nb, na time.Time, tokenID string) *token.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: holder}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &token.Certificate{Handle: token.HandleOf(c), X509: c, Identity: token.ParseIdentity(c), Issuer: c.Issuer.CommonName,
		Serial: strings.ToUpper(c.SerialNumber.Text(16)), NotBefore: c.NotBefore, NotAfter: c.NotAfter, HasPrivateKey: true, TokenID: tokenID}
}
