package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/pades"
)

func TestVerifyFileReport(t *testing.T) {
	pki, err := devpki.New(devpki.Options{KeyKind: devpki.ECP256})
	if err != nil {
		t.Fatal(err)
	}
	key, err := devpki.GenerateSoftKey(devpki.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.Issue(devpki.Personal(), key.Public())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "signed.pdf")
	ctx := context.Background()
	if _, err := pades.SignFile(ctx, "../testdata/sample/quyet-dinh.pdf", out, key, cert, pades.Options{Chain: pki.Chain()[:1]}); err != nil {
		t.Fatal(err)
	}
	cfg := VerifyConfig{Offline: true, TrustPEM: [][]byte{devpki.EncodeCertificatesPEM(pki.Root.Cert)}}
	rep, err := VerifyFile(ctx, out, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Schema != VerificationSchema || len(rep.Signatures) != 1 || len(rep.SHA256) != 64 {
		t.Fatalf("report %+v", rep)
	}
	s := rep.Signatures[0]
	// Offline without validation data: trusted, intact, revocation unknown.
	if s.Verdict != pades.Indeterminate || !s.Intact || !s.Trusted || s.Signer == nil || s.Signer.Kind != "personal" {
		t.Errorf("signature %+v", s)
	}
	if len(s.Signer.IDs) == 0 || s.Signer.IDs[0].Type != "CCCD" {
		t.Errorf("identity numbers %+v", s.Signer.IDs)
	}
	if len(s.Chain) != 3 || s.Chain[2].Name != devpki.RootCommonName {
		t.Errorf("chain %+v", s.Chain)
	}
	// JSON round trip keeps the schema's names.
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"schema":"kyso.verification/v1"`, `"verdict":"indeterminate"`, `"signingTimeSource":"claimed"`, `"code":"REVOCATION_UNKNOWN"`} {
		if !bytes.Contains(data, []byte(k)) {
			t.Errorf("JSON lacks %s", k)
		}
	}
	for lang, want := range map[string][]string{
		"vi": {"Kết luận: CHƯA XÁC ĐỊNH ĐƯỢC", "Người ký:", "Cơ quan quản lý:", "Tổ chức cấp chứng thư:", "Thời hạn chứng thư:", "Không kiểm tra được tình trạng thu hồi"},
		"en": {"Result: INDETERMINATE", "Signer:", "Managing organisation:", "Issuing CA:", "Certificate validity:", "revocation status could not be checked"},
	} {
		var b strings.Builder
		if err := rep.WriteText(&b, lang); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s report lacks %q:\n%s", lang, w, b.String())
			}
		}
	}
}

// TestReportNamesChanges: a signature invalidated by a later update says
// what the update changed, in the reader's language.
func TestReportNamesChanges(t *testing.T) {
	pr := &pades.Report{Size: 10, Signatures: []*pades.SignatureReport{{
		Field: "Signature1", Type: pades.TypeSignature, Verdict: pades.Invalid, Intact: true, Revisions: 1,
		Changes: []pades.Change{
			{Kind: pades.ChangeSignature, Permitted: true},
			{Kind: pades.ChangePageContent, Page: 2, Violation: pades.FindingModified, Detail: "object 12 0 changed"},
			{Kind: pades.ChangeFormFill, Field: "so_tien", Violation: pades.FindingFieldMDP},
		},
		Findings: []pades.Finding{{Code: pades.FindingModified, Severity: pades.SeverityInvalid}},
	}}}
	rep := buildReport(pr, "00", time.Now(), VerifyConfig{})
	var b strings.Builder
	if err := rep.WriteText(&b, "vi"); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, w := range []string{"VĂN BẢN ĐÃ BỊ SỬA sau khi ký (1 lần cập nhật)", "– sửa nội dung trang (trang 2)", "– điền hoặc sửa giá trị trường biểu mẫu (trường \"so_tien\")", "Văn bản đã bị sửa nội dung sau khi ký."} {
		if !strings.Contains(text, w) {
			t.Errorf("report lacks %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, "thêm chữ ký") {
		t.Errorf("a permitted change is listed among the alterations:\n%s", text)
	}
}
