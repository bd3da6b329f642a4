package pades

import (
	"crypto/x509"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
	"github.com/kyso-vn/kyso/internal/testimages"
)

func red(r, g, b uint32) bool { return r > g+80 && r > b+80 }

// signProfile applies req to in and signs with k.
func signProfile(t *testing.T, in string, k signerKey, req ProfileRequest) string {
	t.Helper()
	opts := baseOptions()
	f, size := openFile(t, in)
	if err := req.Apply(f, size, &opts); err != nil {
		t.Fatalf("%s: %v", req.Profile, err)
	}
	out, _ := signFile(t, in, k, opts)
	return out
}

func kindOf(c *x509.Certificate) SignerKind {
	for _, n := range c.Subject.Names {
		if s, ok := n.Value.(string); ok && strings.HasPrefix(s, "CCCD:") {
			return KindPersonal
		}
	}
	for _, n := range c.Subject.Names {
		if s, ok := n.Value.(string); ok && (strings.HasPrefix(s, "MST:") || strings.HasPrefix(s, "MNS:")) {
			return KindOrganisation
		}
	}
	return KindUnknown
}

func profileImages(t *testing.T) (sig, seal []byte) {
	t.Helper()
	sig, err := testimages.EncodePNG(testimages.Signature(500, 200), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seal, err = testimages.EncodePNG(testimages.Seal(480), 300, testimages.PNGOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sig, seal
}

// TestWorkflowApprovedThenIssued is workflow W2: the leader approves, the
// clerk checks the signature and issues the decision with number, date and
// the seal over the left third of the leader's signature.
func TestWorkflowApprovedThenIssued(t *testing.T) {
	db := pdfcheck.NewNSSDB(t, fx.pki.Root.Cert)
	sig, seal := profileImages(t)
	// The letter as it reaches the clerk: "Số:" and "Bình Phước," blank.
	in := sample(t, pdfcorpus.TemplateName)
	approved := signProfile(t, in, fx.personal, ProfileRequest{
		Profile: ProfileApproved, Signer: KindPersonal, Classify: kindOf,
		Page: 2, SignerName: "Nguyễn Văn Ánh", SignatureImage: sig,
	})
	validate(t, db, in, approved, 1)
	issuedDate := time.Date(2026, 11, 22, 9, 30, 0, 0, vietnam)
	issued := signProfile(t, approved, fx.org, ProfileRequest{
		Profile: ProfileIssued, Signer: KindOrganisation, Classify: kindOf,
		SealImage: seal, SealMM: 40, DocNumber: "27/QĐ-UBND", IssuedDate: issuedDate, Place: "Bình Phước",
	})
	validate(t, db, approved, issued, 2)

	page2 := renderPage(t, issued, 2)
	bx0, by0, bx1, by1, nb := pixelBox(page2, blue)
	rx0, ry0, rx1, ry1, nr := pixelBox(page2, red)
	if nb < 100 || nr < 100 {
		t.Fatalf("blue %d, red %d pixels on page 2", nb, nr)
	}
	t.Logf("signature ink %.1f–%.1f × %.1f–%.1f mm; seal %.1f–%.1f × %.1f–%.1f mm (%.2f × %.2f mm)",
		bx0, bx1, by0, by1, rx0, rx1, ry0, ry1, rx1-rx0, ry1-ry0)
	for _, d := range []float64{rx1 - rx0, ry1 - ry0} {
		if d < 40*0.98 || d > 40*1.02 {
			t.Errorf("the seal measures %.2f mm, declared 40 mm (± 2 %%)", d)
		}
	}
	third := bx0 + (bx1-bx0)/3
	if rx1 < bx0 || rx0 > third || ry1 < by0 || ry0 > by1 {
		t.Errorf("the seal does not overlap the left third of the signature (x %.1f–%.1f)", bx0, third)
	}
	txt, err := exec.Command("pdftotext", "-f", "1", "-l", "1", issued, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Số: 27/QĐ-UBND", "Bình Phước, ngày 22 tháng 11 năm 2026"} {
		if !strings.Contains(string(txt), want) {
			t.Errorf("pdftotext does not find %q on page 1", want)
		}
	}
	nx0, _, _, _ := wordBoxMM(t, issued, 1, "27/QĐ-UBND")
	sx0, _, sx1, _ := wordBoxMM(t, issued, 1, "Số:")
	if nx0 < sx1 || nx0 > sx1+10 {
		t.Errorf("the number starts at %.1f mm, the form line 'Số:' spans %.1f–%.1f mm", nx0, sx0, sx1)
	}
	checks, err := CheckSignatures(openFile(t, issued))
	if err != nil || len(checks) != 2 || !checks[0].Intact() || !checks[1].Intact() {
		t.Fatalf("integrity after issuing: %+v, %v", checks, err)
	}
}

func TestIssuedRefusesBrokenApproval(t *testing.T) {
	sig, seal := profileImages(t)
	in := sample(t, pdfcorpus.LetterName)
	approved := signProfile(t, in, fx.personal, ProfileRequest{
		Profile: ProfileApproved, Signer: KindPersonal, Page: 2, SignerName: "Nguyễn Văn Ánh", SignatureImage: sig,
	})
	data, err := os.ReadFile(approved)
	if err != nil {
		t.Fatal(err)
	}
	checks, _ := CheckSignatures(openFile(t, approved))
	for i := checks[0].ByteRange[1] - 1; i > 0; i-- {
		if data[i] == ')' && data[i-1] != '\\' {
			data[i-1] ^= 1
			break
		}
	}
	tampered := filepath.Join(t.TempDir(), "tampered.pdf")
	if err := os.WriteFile(tampered, data, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := baseOptions()
	f, size := openFile(t, tampered)
	err = ProfileRequest{Profile: ProfileIssued, Signer: KindOrganisation, SealImage: seal, SealMM: 40}.Apply(f, size, &opts)
	if CodeOf(err) != CodeBrokenSignature || !strings.Contains(err.Error(), "Signature1") {
		t.Fatalf("issuing over a tampered approval: err = %v, want BROKEN_SIGNATURE naming Signature1", err)
	}
}

func TestSigningOrder(t *testing.T) {
	sig, seal := profileImages(t)
	in := sample(t, pdfcorpus.LetterName)
	tests := []struct {
		name string
		in   func() string
		req  ProfileRequest
	}{
		{"issued with a personal certificate", func() string { return in },
			ProfileRequest{Profile: ProfileIssued, Signer: KindPersonal, SealImage: seal, SealMM: 40}},
		{"appendix with a personal certificate", func() string { return in },
			ProfileRequest{Profile: ProfileAppendix, Signer: KindPersonal, DocNumber: "1/PL"}},
		{"approval with the organisation's certificate", func() string { return in },
			ProfileRequest{Profile: ProfileApproved, Signer: KindOrganisation, SignatureImage: sig, SignerName: "Nguyễn Văn Ánh", Page: 2}},
		{"issued on a document nobody signed", func() string { return in },
			ProfileRequest{Profile: ProfileIssued, Signer: KindOrganisation, SealImage: seal, SealMM: 40, RectMM: RectMM{X: 20, Y: 20}}},
		{"approval after the organisation signed", func() string {
			out, _ := signFile(t, in, fx.org, baseOptions())
			return out
		}, ProfileRequest{Profile: ProfileApproved, Signer: KindPersonal, Classify: kindOf, SignatureImage: sig, SignerName: "Nguyễn Văn Ánh", Page: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions()
			f, size := openFile(t, tt.in())
			if err := tt.req.Apply(f, size, &opts); CodeOf(err) != CodeOrder {
				t.Fatalf("err = %v, want SIGNING_ORDER", err)
			}
			relaxed := tt.req
			relaxed.AllowOrder = true
			if err := relaxed.Apply(f, size, &opts); CodeOf(err) == CodeOrder {
				t.Fatalf("AllowOrder did not relax the rule: %v", err)
			}
		})
	}
}

// TestAppendixAndCopyStamps: text stamps at the top right of page 1, with
// the ISO 8601 time, found exactly by pdftotext.
func TestAppendixAndCopyStamps(t *testing.T) {
	db := pdfcheck.NewNSSDB(t, fx.pki.Root.Cert)
	in := sample(t, pdfcorpus.LetterName)
	when := time.Date(2026, 11, 22, 14, 5, 9, 0, vietnam)
	cases := []struct {
		req  ProfileRequest
		want []string
	}{
		{ProfileRequest{Profile: ProfileAppendix, Signer: KindOrganisation, DocNumber: "16/QĐ-UBND", Time: when},
			[]string{"Số: 16/QĐ-UBND", "2026-11-22T14:05:09+07:00"}},
		{ProfileRequest{Profile: ProfileCopy, Signer: KindOrganisation, Organisation: "Văn phòng UBND tỉnh Bình Phước", Time: when},
			[]string{"SAO Y", "Văn phòng UBND tỉnh Bình Phước", "2026-11-22T14:05:09+07:00"}},
	}
	for _, tc := range cases {
		t.Run(string(tc.req.Profile), func(t *testing.T) {
			out := signProfile(t, in, fx.org, tc.req)
			validate(t, db, in, out, 1)
			txt, err := exec.Command("pdftotext", "-f", "1", "-l", "1", out, "-").Output()
			if err != nil {
				t.Fatal(err)
			}
			// Every pixel the stamp changed lies in the top-right corner.
			before, after := renderPage(t, in, 1), renderPage(t, out, 1)
			x0, y0, x1, y1, n := changedBox(before, after)
			if n < 50 {
				t.Fatalf("only %d pixels changed", n)
			}
			t.Logf("changed pixels span %.1f–%.1f × %.1f–%.1f mm", x0, x1, y0, y1)
			if x0 < 105 || y1 > 40 {
				t.Errorf("the stamp is not in the top-right corner: %.1f–%.1f × %.1f–%.1f mm", x0, x1, y0, y1)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(txt), w) {
					t.Errorf("pdftotext does not find %q", w)
				}
				x0, y0, x1, _ := wordBoxMM(t, out, 1, w)
				if x0 < 105 || x1 > 210 || y0 > 40 {
					t.Errorf("%q at x %.1f–%.1f, y %.1f mm: not in the top-right corner", w, x0, x1, y0)
				}
			}
		})
	}
}

func orgSigner(t *testing.T, name, mst string) signerKey {
	t.Helper()
	key, err := devpki.GenerateSoftKey(devpki.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	p := devpki.Organisation()
	p.CommonName = name
	p.UIDs = []string{"MST:" + mst}
	cert, err := fx.pki.Issue(p, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return signerKey{key, cert}
}

// TestWorkflows runs the remaining workflows of domain-vn.md §1; every step
// keeps all signatures valid in pdfsig and the input an exact prefix.
func TestWorkflows(t *testing.T) {
	db := pdfcheck.NewNSSDB(t, fx.pki.Root.Cert)
	sig, seal := profileImages(t)
	steps := func(t *testing.T, in string, reqs []ProfileRequest, keys []signerKey) string {
		t.Helper()
		cur := in
		for i, req := range reqs {
			if req.Classify == nil {
				req.Classify = kindOf
			}
			next := signProfile(t, cur, keys[i], req)
			validate(t, db, cur, next, i+1)
			cur = next
		}
		return cur
	}
	t.Run("W3 two reviews, approval, issue", func(t *testing.T) {
		reviewer := fx.ecdsa
		steps(t, sample(t, pdfcorpus.TemplateName), []ProfileRequest{
			{Profile: ProfileComment, Signer: KindPersonal, SignerName: "Kiểm tra nội dung"},
			{Profile: ProfileComment, Signer: KindPersonal, SignerName: "Kiểm tra thể thức", RectMM: RectMM{X: 20, Y: 250, W: 60, H: 6}},
			{Profile: ProfileApproved, Signer: KindPersonal, Page: 2, SignerName: "Nguyễn Văn Ánh", SignatureImage: sig},
			{Profile: ProfileIssued, Signer: KindOrganisation, SealImage: seal, SealMM: 40, DocNumber: "28/QĐ-UBND", Place: "Bình Phước"},
		}, []signerKey{reviewer, fx.ecdsa384, fx.personal, fx.org})
	})
	t.Run("W4 three personal approvals", func(t *testing.T) {
		steps(t, sample(t, pdfcorpus.LetterName), []ProfileRequest{
			{Profile: ProfileApproved, Signer: KindPersonal, SignatureImage: sig, RectMM: RectMM{X: 20, Y: 200, W: 50, H: 20}},
			{Profile: ProfileApproved, Signer: KindPersonal, SignatureImage: sig, RectMM: RectMM{X: 80, Y: 200, W: 50, H: 20}},
			{Profile: ProfileApproved, Signer: KindPersonal, SignatureImage: sig, RectMM: RectMM{X: 140, Y: 200, W: 50, H: 20}},
		}, []signerKey{fx.personal, fx.ecdsa, fx.ecdsa384})
	})
	t.Run("W5 three agencies issue in turn", func(t *testing.T) {
		a := orgSigner(t, "Sở Tài chính tỉnh Bình Phước", "3800100011")
		b := orgSigner(t, "Sở Kế hoạch và Đầu tư tỉnh Bình Phước", "3800100022")
		// The lead agency's leader approves and the lead agency issues; each
		// next agency checks the earlier signatures and adds its seal.
		out := steps(t, sample(t, pdfcorpus.LetterName), []ProfileRequest{
			{Profile: ProfileApproved, Signer: KindPersonal, Page: 2, SignerName: "Nguyễn Văn Ánh", SignatureImage: sig},
			{Profile: ProfileIssued, Signer: KindOrganisation, SealImage: seal, SealMM: 36},
			{Profile: ProfileIssued, Signer: KindOrganisation, Page: 2, SealImage: seal, SealMM: 36, RectMM: RectMM{X: 20, Y: 100, W: 1, H: 1}},
			{Profile: ProfileIssued, Signer: KindOrganisation, Page: 2, SealImage: seal, SealMM: 36, RectMM: RectMM{X: 70, Y: 100, W: 1, H: 1}},
		}, []signerKey{fx.personal, fx.org, a, b})
		checks, err := CheckSignatures(openFile(t, out))
		if err != nil || len(checks) != 4 {
			t.Fatalf("checks %v, %v", checks, err)
		}
	})
	t.Run("W1 scanned paper signed by the organisation", func(t *testing.T) {
		// The paper already bears the leader's handwritten signature; the
		// digital one is the organisation's alone, so the order rule is
		// relaxed for it.
		steps(t, sample(t, pdfcorpus.ScanName), []ProfileRequest{
			{Profile: ProfileIssued, Signer: KindOrganisation, SealImage: seal, SealMM: 40, RectMM: RectMM{X: 20, Y: 230}, AllowOrder: true},
		}, []signerKey{fx.org})
	})
}

func TestIncomeStamp(t *testing.T) {
	db := pdfcheck.NewNSSDB(t, fx.pki.Root.Cert)
	in := sample(t, pdfcorpus.LetterName)
	when := time.Date(2026, 11, 23, 8, 15, 0, 0, vietnam)
	out := signProfile(t, in, fx.org, ProfileRequest{Profile: ProfileIncome, Signer: KindOrganisation, DocNumber: "1024", Time: when})
	validate(t, db, in, out, 1)
	txt, err := exec.Command("pdftotext", "-f", "1", "-l", "1", out, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ĐẾN", "Số: 1024", "Ngày: 23/11/2026 08:15"} {
		if !strings.Contains(string(txt), w) {
			t.Errorf("pdftotext does not find %q", w)
		}
	}
	x0, y0, x1, y1, n := pixelBox(renderPage(t, out, 1), red)
	if n < 50 {
		t.Fatalf("only %d red pixels", n)
	}
	// The default box is 50 mm wide at (20, 35) mm, 19.5 mm high.
	if x0 < 19 || x1 > 71 || y0 < 34 || y1 > 56 || x1-x0 < 48 {
		t.Errorf("the stamp's frame spans %.1f–%.1f × %.1f–%.1f mm", x0, x1, y0, y1)
	}
}

// changedBox is the bounding box, in mm, of the pixels that differ between
// two renders of the same page.
func changedBox(a, b image.Image) (x0, y0, x1, y1 float64, n int) {
	bounds := a.Bounds()
	minX, minY, maxX, maxY := bounds.Max.X, bounds.Max.Y, -1, -1
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				n++
				minX, minY = min(minX, x), min(minY, y)
				maxX, maxY = max(maxX, x), max(maxY, y)
			}
		}
	}
	px := 25.4 / renderDPI
	return float64(minX) * px, float64(minY) * px, float64(maxX+1) * px, float64(maxY+1) * px, n
}

// TestApprovedFindsTheSignersPage: a caller that names no page (the
// incumbent plugin's API has none) gets the approval above the printed
// name wherever it is: the sample decision prints it on page 2.
func TestApprovedFindsTheSignersPage(t *testing.T) {
	sig, _ := profileImages(t)
	in := sample(t, pdfcorpus.LetterName)
	opts := baseOptions()
	f, size := openFile(t, in)
	req := ProfileRequest{Profile: ProfileApproved, Signer: KindPersonal, SignerName: "Nguyễn Văn Ánh", SignatureImage: sig}
	if err := req.Apply(f, size, &opts); err != nil {
		t.Fatal(err)
	}
	if opts.Field.Page != 2 {
		t.Fatalf("the approval goes to page %d, want 2 where the name is printed", opts.Field.Page)
	}
	out := signProfile(t, in, fx.personal, req)
	validate(t, pdfcheck.NewNSSDB(t, fx.pki.Root.Cert), in, out, 1)

	// A name printed nowhere keeps page 1, and says so.
	req.SignerName = "Không Có Tên Này"
	opts = baseOptions()
	if err := req.Apply(f, size, &opts); err != nil {
		t.Fatal(err)
	}
	if opts.Field.Page != 1 {
		t.Errorf("page %d for a name printed nowhere", opts.Field.Page)
	}
}
