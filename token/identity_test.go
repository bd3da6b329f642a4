package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/miekg/pkcs11"
)

func certWithSubject(t *testing.T, cn string, extra ...pkix.AttributeTypeAndValue) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn, ExtraNames: extra},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func uid(v string) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, Value: v}
}

func title(v string) pkix.AttributeTypeAndValue {
	return pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{2, 5, 4, 12}, Value: v}
}

func TestParseIdentity(t *testing.T) {
	tests := []struct {
		name  string
		cn    string
		extra []pkix.AttributeTypeAndValue
		kind  Kind
		ids   map[string]string
		title string
	}{
		{"citizen ID", "Nguyễn Thị Hồng Nhung", []pkix.AttributeTypeAndValue{uid("CCCD:001086012345")}, KindPersonal, map[string]string{"CCCD": "001086012345"}, ""},
		{"old ID card", "Trần Văn Bình", []pkix.AttributeTypeAndValue{uid("CMND:012345678")}, KindPersonal, map[string]string{"CMND": "012345678"}, ""},
		{"passport", "Lê Minh", []pkix.AttributeTypeAndValue{uid("HC:C1234567")}, KindPersonal, map[string]string{"HC": "C1234567"}, ""},
		{"person with personal tax code", "Phạm Thu Hà", []pkix.AttributeTypeAndValue{uid("MST:8012345678"), uid("CCCD:079190001234")}, KindPersonal, map[string]string{"MST": "8012345678", "CCCD": "079190001234"}, ""},
		{"title only", "Đỗ Văn Cường", []pkix.AttributeTypeAndValue{title("Phó Giám đốc")}, KindPersonal, map[string]string{}, "Phó Giám đốc"},
		{"organisation", "Ủy ban nhân dân tỉnh Bình Phước", []pkix.AttributeTypeAndValue{uid("MST:3800238370"), uid("MNS:1054321")}, KindOrganisation, map[string]string{"MST": "3800238370", "MNS": "1054321"}, ""},
		{"branch tax code, lower-case prefix, dash", "Chi nhánh", []pkix.AttributeTypeAndValue{uid("mst-0100686209-199")}, KindOrganisation, map[string]string{"MST": "0100686209-199"}, ""},
		{"nothing Vietnamese", "server.example", []pkix.AttributeTypeAndValue{uid("jdoe")}, KindUnknown, map[string]string{}, ""},
		{"empty value ignored", "X", []pkix.AttributeTypeAndValue{uid("CCCD:")}, KindUnknown, map[string]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ParseIdentity(certWithSubject(t, tt.cn, tt.extra...))
			if id.Kind != tt.kind {
				t.Errorf("kind = %s, want %s", id.Kind, tt.kind)
			}
			if id.Name != tt.cn {
				t.Errorf("name = %q", id.Name)
			}
			if len(id.IDs) != len(tt.ids) {
				t.Errorf("ids = %+v, want %v", id.IDs, tt.ids)
			}
			for typ, v := range tt.ids {
				if id.ID(typ) != v {
					t.Errorf("%s = %q, want %q", typ, id.ID(typ), v)
				}
			}
			if id.Title != tt.title {
				t.Errorf("title = %q", id.Title)
			}
		})
	}
}

func TestHandleIsStable(t *testing.T) {
	c := certWithSubject(t, "A")
	reparsed, err := x509.ParseCertificate(c.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if HandleOf(c) != HandleOf(reparsed) || len(HandleOf(c)) != 64 {
		t.Fatalf("handle = %s", HandleOf(c))
	}
	if HandleOf(c) == HandleOf(certWithSubject(t, "A")) {
		t.Fatal("two certificates share a handle")
	}
}

func TestCodeForRV(t *testing.T) {
	tests := []struct {
		rv   uint
		want Code
	}{
		{pkcs11.CKR_PIN_INCORRECT, CodePINIncorrect},
		{pkcs11.CKR_PIN_LOCKED, CodePINLocked},
		{pkcs11.CKR_PIN_EXPIRED, CodePINExpired},
		{pkcs11.CKR_PIN_LEN_RANGE, CodePINInvalid},
		{pkcs11.CKR_TOKEN_NOT_PRESENT, CodeTokenAbsent},
		{pkcs11.CKR_DEVICE_REMOVED, CodeTokenRemoved},
		{pkcs11.CKR_SESSION_HANDLE_INVALID, CodeTokenRemoved},
		{pkcs11.CKR_KEY_HANDLE_INVALID, CodeKeyNotFound},
		{pkcs11.CKR_MECHANISM_INVALID, CodeMechanismNotSupported},
		{pkcs11.CKR_FUNCTION_CANCELED, CodeCancelled},
		// Everything a driver says that is not about the PIN must never
		// read as a wrong PIN.
		{pkcs11.CKR_FUNCTION_FAILED, CodeFunctionFailed},
		{pkcs11.CKR_GENERAL_ERROR, CodeFunctionFailed},
		{pkcs11.CKR_DEVICE_ERROR, CodeFunctionFailed},
		{pkcs11.CKR_DEVICE_MEMORY, CodeFunctionFailed},
		{pkcs11.CKR_USER_NOT_LOGGED_IN, CodeFunctionFailed},
		{0x80000123, CodeFunctionFailed},
	}
	for _, tt := range tests {
		if got := codeForRV(tt.rv); got != tt.want {
			t.Errorf("codeForRV(%s) = %s, want %s", RVName(tt.rv), got, tt.want)
		}
	}
	if RVName(pkcs11.CKR_PIN_INCORRECT) != "CKR_PIN_INCORRECT" || RVName(0x80000123) != "0x80000123" {
		t.Errorf("RVName: %s %s", RVName(pkcs11.CKR_PIN_INCORRECT), RVName(0x80000123))
	}
	e := p11Error("login", "tok", pkcs11.CKR_PIN_INCORRECT)
	e.PIN = &PINStatus{FinalTry: true}
	if got := e.Error(); got != `token: login: PIN_INCORRECT (token "tok") [CKR_PIN_INCORRECT], 1 PIN tries left` {
		t.Errorf("Error() = %s", got)
	}
}

// Every code the layer can return has a user-facing message: the CLI and the
// agent show them to people.
func TestEveryCodeHasAMessage(t *testing.T) {
	codes := []Code{CodePINIncorrect, CodePINLocked, CodePINExpired, CodePINInvalid, CodeTokenAbsent,
		CodeTokenRemoved, CodeKeyNotFound, CodeCertificateNotFound, CodeMechanismNotSupported,
		CodeFunctionFailed, CodeCancelled, CodeModuleLoadFailed, CodePasswordIncorrect, CodeBadRequest}
	for _, c := range codes {
		if !i18n.Has("err." + string(c)) {
			t.Errorf("no message for %s", c)
		}
	}
}

func TestECPointBytes(t *testing.T) {
	// Bare points whose first coordinate byte makes them look like DER
	// (0x04 = OCTET STRING, then a plausible length) must stay bare.
	for _, size := range []int{65, 97, 133} {
		for _, second := range []byte{byte(size - 2), 0x3f, 0x00, 0x81} {
			bare := make([]byte, size)
			bare[0], bare[1] = 4, second
			if got := ecPointBytes(bare); len(got) != size {
				t.Errorf("bare %d-byte point with second byte %#x unwrapped to %d bytes", size, second, len(got))
			}
			wrapped, err := asn1.Marshal(bare)
			if err != nil {
				t.Fatal(err)
			}
			if got := ecPointBytes(wrapped); len(got) != size || got[1] != second {
				t.Errorf("wrapped %d-byte point decoded to %d bytes", size, len(got))
			}
		}
	}
}
