package main

import (
	"bytes"
	"context"
	"encoding/json"
	htmltemplate "html/template"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/demodms"
	"github.com/kyso-vn/kyso/internal/devpki"
)

// browserAgentPort is the agent's port in the browser test: the SDK's
// first default port, the one the demo pages' Content-Security-Policy
// (connect-src) names, as a real page finds the agent.
const browserAgentPort = 19571

// chromiumPath is Debian's chromium package (apt-get install chromium).
const chromiumPath = "/usr/bin/chromium"

// TestBrowserDemoW2 runs workflows W1 and W2 of the demo DMS in headless
// Chromium (js-sdk/test-browser/w2.mjs, playwright-core driving the
// installed browser) against a real `kyso serve` of the serve harness on
// port 19571: the leader approves a document with the personal
// certificate, the clerk issues it with the organisation certificate and
// the seal, and the final PDF must hold two valid signatures (pdfsig), the
// last covering the file, with both signatures audited for the DMS's
// origin. A page of an origin the policy refuses must report
// ORIGIN_NOT_ALLOWED, and the agent must log the refusal.
//
// Its other parts (subtests sharing the agent): W5 (w5.mjs) across two
// agencies, two origins: A approves, issues and forwards, B verifies the
// incoming document and receives it (three signatures, the income audited
// for B's origin); Incumbent (incumbent.mjs): the page written against
// the incumbent plugin's API approves then issues a document with no
// images of its own, the agent's templates file (policy) giving the
// signature and the seal; LNA (lna.mjs): a page served as public
// (treat-as-public-address) fails with LNA_DENIED while the permission is
// not granted or denied, and signs once it is granted; iframe
// (iframe.mjs): that page framed by a public page of another origin fails
// without allow= and works with allow="loopback-network;
// local-network-access", under a managed Chromium policy written to
// /etc/chromium/policies/managed for the test (root needed) and removed.
//
// It fails, never skips, when Node, chromium or js-sdk/node_modules is
// missing: `apt-get install chromium nodejs npm` and `npm ci` in js-sdk
// install them (make test does). With KYSO_UPDATE_SCREENSHOTS=1 it
// writes the pages' screenshots to docs/screenshots/ (demo-approve.png,
// demo-issue.png, demo-incumbent.png); otherwise W1W2's go to a temporary
// folder and Incumbent takes none.
func TestBrowserDemoW2(t *testing.T) {
	start := time.Now()
	ctx, sdk := browserTestSetup(t)
	t.Logf("SDK built in %s", time.Since(start).Round(time.Millisecond))

	f := newServeFixture(t)
	const sampleName = "quyet-dinh-chua-so.pdf"
	// The demo as `kyso demo` serves it: two agencies, each its own
	// origin, both in the policy.
	dms := startBrowserDMS(t, demodms.Config{
		Agencies: []demodms.Agency{
			{ID: "ubnd", Name: "UBND tỉnh Bình Phước"},
			{ID: "snv", Name: "Sở Nội vụ tỉnh Bình Phước"},
		},
		SDKPath:        filepath.Join(sdk, "dist", "kyso.iife.js"),
		Samples:        map[string][]byte{sampleName: f.template},
		SignatureImage: f.sigPNG,
		SealImage:      f.sealPNG,
	})
	// A third agency the policy does not name.
	other := startBrowserDMS(t, demodms.Config{
		Agencies: []demodms.Agency{{ID: "khac", Name: "Cơ quan chưa được phép"}},
		SDKPath:  filepath.Join(sdk, "dist", "kyso.iife.js"),
	})
	// A public host page (another origin) that frames the public DMS.
	var pubApprove string
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "treat-as-public-address")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := hostPage.Execute(w, map[string]any{"Src": pubApprove, "Allow": r.URL.Query().Get("allow") == "1"}); err != nil {
			t.Errorf("host page: %v", err)
		}
	}))
	t.Cleanup(host.Close)
	// An agency whose pages count as a public web site (Local Network
	// Access applies), allowed by the agent, framable by the host page.
	pub := startBrowserDMS(t, demodms.Config{
		Agencies:       []demodms.Agency{{ID: "cong", Name: "Cổng dịch vụ công (trang công khai)"}},
		SDKPath:        filepath.Join(sdk, "dist", "kyso.iife.js"),
		Samples:        map[string][]byte{sampleName: f.template},
		SignatureImage: f.sigPNG,
		SealImage:      f.sealPNG,
		TreatAsPublic:  true,
		FrameAncestors: []string{host.URL},
	})
	origins, denied, public := dms.Origins(), other.Origins()[0], pub.Origins()[0]
	pubApprove = public + "/approve"
	t.Logf("demo DMS: %v; refused: %s; public: %s; host page: %s", dms.URLs(), denied, public, host.URL)

	// The signers' images, as an agency's IT configures them: pages
	// written against the incumbent plugin send none.
	templates := writeBrowserTemplates(t, f)

	no := false
	s := f.startServer(t, serverSpec{
		name: "browser",
		port: browserAgentPort,
		policy: agent.Policy{
			AllowedOrigins: append(slices.Clone(origins), public),
			UserMayApprove: &no, // any other origin is refused without a dialog
			DefaultLevel:   "B-T",
			Templates:      templates,
		},
		script: serveScript{PIN: servePIN},
	})
	if s.hostPort != "127.0.0.1:"+strconv.Itoa(browserAgentPort) {
		t.Fatalf("kyso serve listens on %s, want port %d", s.hostPort, browserAgentPort)
	}

	personal, org := devpki.Personal(), devpki.Organisation()
	// node runs a script of js-sdk/test-browser with env added.
	node := func(t *testing.T, script string, env ...string) {
		t.Helper()
		runBrowserScript(ctx, t, sdk, script, s, append([]string{
			"KYSO_CERT_PERSONAL_NAME=" + personal.CommonName,
			"KYSO_CERT_ORG_NAME=" + org.CommonName,
		}, env...)...)
	}
	// newDialogs checks that n dialogs were shown since the last call.
	seen := 0
	newDialogs := func(t *testing.T, n int) {
		t.Helper()
		ds := s.dialogs(t)
		if len(ds)-seen != n {
			t.Errorf("%d dialogs shown, want %d: %+v", len(ds)-seen, n, ds[seen:])
		}
		seen = len(ds)
	}
	sub := func(name string, fn func(t *testing.T)) { t.Run(name, fn) }

	// W1 and W2 on agency A; a page of a refused origin.
	sub("W1W2", func(t *testing.T) {
		out := t.TempDir()
		shots := filepath.Join(out, "screenshots")
		if os.Getenv("KYSO_UPDATE_SCREENSHOTS") == "1" {
			var err error
			if shots, err = filepath.Abs("../../docs/screenshots"); err != nil {
				t.Fatal(err)
			}
		}
		node(t, "w2.mjs",
			"KYSO_DMS_URL="+origins[0],
			"KYSO_DMS_DENIED_URL="+denied,
			"KYSO_OUT_DIR="+out,
			"KYSO_SCREENSHOTS="+shots,
			"KYSO_DOC_NUMBER=15/QĐ-UBND",
		)

		var res struct {
			DocID    string `json:"docID"`
			Personal string `json:"personal"`
			Org      string `json:"org"`
		}
		data, err := os.ReadFile(filepath.Join(out, "result.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &res); err != nil {
			t.Fatal(err)
		}
		if res.Personal != string(f.personal) || res.Org != string(f.org) {
			t.Errorf("the pages chose certificates %s and %s, want %s (personal) and %s (organisation)", res.Personal, res.Org, f.personal, f.org)
		}

		// The final PDF: the sample, approved then issued.
		pdf, err := os.ReadFile(filepath.Join(out, "issued.pdf"))
		if err != nil {
			t.Fatal(err)
		}
		f.checkPdfsig(t, "issued.pdf", pdf, 2)
		checkIntact(t, "issued.pdf", pdf, 2)
		if text := pdfText(t, pdf); !strings.Contains(text, "15/QĐ-UBND") {
			t.Errorf("the issued PDF's first page does not show the number 15/QĐ-UBND:\n%s", text)
		}

		// Both signatures went through the agent for the DMS's origin.
		checkAuditOK(t, s, origins[0], "signPdf", sampleName, f.template, "approved", f.personal)
		var issued int
		for _, r := range s.audit(t) {
			if r.Caller != origins[0] {
				t.Errorf("audit record of another caller: %+v", r)
				continue
			}
			if r.Profile == "issued" {
				issued++
				if r.Method != "signPdf" || r.Result != "ok" || r.Certificate != string(f.org) || r.Document != sampleName {
					t.Errorf("audit record of the issuing %+v, want signPdf ok with %s", r, f.org)
				}
			}
		}
		if issued != 1 {
			t.Errorf("%d audit records of the issuing, want 1", issued)
		}
		// The refused origin got no further than the handshake, and the
		// agent logged why.
		newDialogs(t, 2) // one per signature
		if n := refusedCount(t, s, denied, "ORIGIN_NOT_ALLOWED"); n == 0 {
			t.Errorf("the agent's log has no refusal (ORIGIN_NOT_ALLOWED) of %s:\n%s", denied, s.logTail())
		}
		if n := refusedCount(t, s, origins[0], ""); n != 0 {
			t.Errorf("the agent refused the allowed origin %s %d times:\n%s", origins[0], n, s.logTail())
		}
	})

	// W5: A approves, issues and forwards; B (another origin) checks the
	// incoming document and receives it.
	sub("W5", func(t *testing.T) {
		const w5Name = "cong-van-lien-thong.pdf"
		uploadToDMS(t, origins[0], w5Name, f.template)
		out := t.TempDir()
		node(t, "w5.mjs",
			"KYSO_DMS_A_URL="+origins[0],
			"KYSO_DMS_B_URL="+origins[1],
			"KYSO_DMS_B_ID=snv",
			"KYSO_DOC_NAME="+w5Name,
			"KYSO_DOC_NUMBER=16/UBND-VP",
			"KYSO_ARRIVAL_NUMBER=123",
			"KYSO_OUT_DIR="+out,
		)
		pdf, err := os.ReadFile(filepath.Join(out, "received.pdf"))
		if err != nil {
			t.Fatal(err)
		}
		checkPdfsigRepeated(t, f, "received.pdf", pdf, 3)
		checkIntact(t, "received.pdf", pdf, 3)
		want := map[string]struct {
			caller string
			cert   string
		}{
			"approved": {origins[0], string(f.personal)},
			"issued":   {origins[0], string(f.org)},
			"income":   {origins[1], string(f.org)},
		}
		got := map[string]int{}
		for _, r := range s.audit(t) {
			if r.Document != w5Name {
				continue
			}
			got[r.Profile]++
			w, ok := want[r.Profile]
			if !ok || r.Caller != w.caller || r.Method != "signPdf" || r.Result != "ok" || r.Certificate != w.cert {
				t.Errorf("audit record %+v, want signPdf ok by %s with %s", r, w.caller, w.cert)
			}
		}
		for p := range want {
			if got[p] != 1 {
				t.Errorf("%d audit records of %s %q, want 1", got[p], w5Name, p)
			}
		}
		newDialogs(t, 3)
	})

	// The page written against the incumbent plugin (vgca_sign_approved,
	// vgca_sign_issued through vgcaplugin-compat.js): no images, no
	// certificate from the page, the agent's templates give both.
	sub("Incumbent", func(t *testing.T) {
		const name = "quyet-dinh-vgca.pdf"
		const number = "15/QĐ-UBND"
		uploadToDMS(t, origins[0], name, f.template)
		docID := dmsDocID(t, origins[0], name)
		out := t.TempDir()
		shots := ""
		if os.Getenv("KYSO_UPDATE_SCREENSHOTS") == "1" {
			var err error
			if shots, err = filepath.Abs("../../docs/screenshots"); err != nil {
				t.Fatal(err)
			}
		}
		node(t, "incumbent.mjs",
			"KYSO_DMS_URL="+origins[0],
			"KYSO_DOC_ID="+docID,
			"KYSO_DOC_NUMBER="+number,
			"KYSO_OUT_DIR="+out,
			"KYSO_SCREENSHOTS="+shots,
		)
		var res struct {
			Approved, Issued struct{ Text, Status string }
		}
		if data, err := os.ReadFile(filepath.Join(out, "incumbent.json")); err != nil {
			t.Fatal(err)
		} else if err := json.Unmarshal(data, &res); err != nil {
			t.Fatal(err)
		}
		// The replies have the incumbent's shape.
		checkReply := func(what, text, number string) {
			t.Helper()
			var r map[string]any
			if err := json.Unmarshal([]byte(text), &r); err != nil {
				t.Errorf("%s: #reply is not JSON (%v): %q", what, err, text)
				return
			}
			if st, ok := r["Status"].(float64); !ok || st != 0 {
				t.Errorf("%s: Status %v, want 0: %s", what, r["Status"], text)
			}
			if r["FileName"] != name {
				t.Errorf("%s: FileName %v, want %s", what, r["FileName"], name)
			}
			if fs, ok := r["FileServer"].(string); !ok || fs == "" {
				t.Errorf("%s: FileServer %v, want the upload handler's answer", what, r["FileServer"])
			}
			if number != "" && r["DocumentNumber"] != number {
				t.Errorf("%s: DocumentNumber %v, want %s", what, r["DocumentNumber"], number)
			}
			if d, _ := r["DocumentDate"].(string); !dateRe.MatchString(d) {
				t.Errorf("%s: DocumentDate %q, want YYYY-MM-DD", what, d)
			}
		}
		checkReply("vgca_sign_approved", res.Approved.Text, "")
		checkReply("vgca_sign_issued", res.Issued.Text, number)

		// The stored document: approved then issued, both valid.
		resp, err := http.Get(origins[0] + "/files/" + docID)
		if err != nil {
			t.Fatal(err)
		}
		pdf, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /files/%s: %s %v", docID, resp.Status, err)
		}
		f.checkPdfsig(t, name, pdf, 2)
		checkIntact(t, name, pdf, 2)
		if text := pdfText(t, pdf); !strings.Contains(text, number) {
			t.Errorf("the issued PDF's first page does not show the number %s:\n%s", number, text)
		}

		want := map[string]string{"approved": string(f.personal), "issued": string(f.org)}
		got := map[string]int{}
		for _, r := range s.audit(t) {
			if r.Document != name {
				continue
			}
			got[r.Profile]++
			if c, ok := want[r.Profile]; !ok || r.Caller != origins[0] || r.Method != "signPdf" || r.Result != "ok" || r.Certificate != c {
				t.Errorf("audit record %+v, want signPdf ok by %s with %s", r, origins[0], c)
			}
		}
		for p := range want {
			if got[p] != 1 {
				t.Errorf("%d audit records of %s %q, want 1", got[p], name, p)
			}
		}
		newDialogs(t, 2)
	})

	// Local Network Access on a public page: not granted, denied, granted.
	sub("LNA", func(t *testing.T) {
		out := t.TempDir()
		before := s.audit(t)
		node(t, "lna.mjs", "KYSO_DMS_PUBLIC_URL="+public, "KYSO_OUT_DIR="+out)
		var res struct {
			Ungranted struct{ Code string } `json:"ungranted"`
		}
		if data, err := os.ReadFile(filepath.Join(out, "lna.json")); err != nil {
			t.Fatal(err)
		} else if err := json.Unmarshal(data, &res); err != nil {
			t.Fatal(err)
		}
		t.Logf("without the permission the SDK reports %s", res.Ungranted.Code)
		// Only the granted attempt reached the agent, and signed.
		checkAuditOK(t, s, public, "signPdf", sampleName, f.template, "approved", f.personal)
		if n := len(s.audit(t)) - len(before); n != 1 {
			t.Errorf("%d new audit records, want 1 (the approval)", n)
		}
		if n := refusedCount(t, s, public, ""); n != 0 {
			t.Errorf("the agent refused the public origin %d times:\n%s", n, s.logTail())
		}
		newDialogs(t, 1)
	})

	// A cross-origin iframe: delegation with allow=, under a managed
	// policy (CDP grants would bypass the allow= check).
	sub("iframe", func(t *testing.T) {
		// The host too: a public page's frame navigating to a loopback
		// address is itself a Local Network Access request.
		writeChromiumPolicy(t, []string{host.URL, public})
		out := t.TempDir()
		node(t, "iframe.mjs", "KYSO_HOST_URL="+host.URL, "KYSO_OUT_DIR="+out)
		newDialogs(t, 0)
	})
}

// hostPage is the iframe test's host: another origin framing the DMS,
// with or without delegating the Local Network Access permission.
var hostPage = htmltemplate.Must(htmltemplate.New("host").Parse(`<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Trang chủ (nguồn khác)</title></head>
<body><h1>Trang chủ nhúng hệ thống quản lý văn bản</h1>
{{if .Allow}}<iframe id="dms" src="{{.Src}}" allow="loopback-network; local-network-access" width="1050" height="800"></iframe>
{{else}}<iframe id="dms" src="{{.Src}}" width="1050" height="800"></iframe>{{end}}
</body></html>`))

// checkPdfsigRepeated is checkPdfsig for a file where one certificate
// signs twice (W5: the organisation issues, and the same organisation
// certificate of the demo's single token receives): poppler's pdfsig (NSS)
// reports "Unknown issue with Certificate or corrupted data" for the
// certificate's second signature although the first validates as trusted
// and the signature itself is valid. Every signature must be valid, every
// certificate trusted at its first use, the last signature covering the file.
func checkPdfsigRepeated(t *testing.T, f *serveFixture, name string, pdf []byte, want int) {
	t.Helper()
	sigs := f.pdfsig(t, name, pdf, want)
	seen := map[string]bool{}
	for i, s := range sigs {
		dn := ""
		for _, l := range strings.Split(s.Raw, "\n") {
			if strings.Contains(l, "Signer full Distinguished Name:") {
				dn = strings.TrimSpace(l)
			}
		}
		switch {
		case !s.Valid:
			t.Errorf("pdfsig on %s, signature %d:\n%s", name, i+1, s.Raw)
		case s.CertValid:
		case seen[dn] && strings.Contains(s.Raw, "Unknown issue with Certificate"):
			t.Logf("pdfsig on %s, signature %d: the certificate's second use gets %q (NSS), its first was trusted", name, i+1, "Unknown issue with Certificate")
		default:
			t.Errorf("pdfsig on %s, signature %d:\n%s", name, i+1, s.Raw)
		}
		seen[dn] = seen[dn] || s.CertValid
	}
}

// refusedCount counts the agent's log lines `refused` for origin, with
// reason=reason unless reason is empty.
func refusedCount(t *testing.T, s *kysoServer, origin, reason string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(s.log(t), "\n") {
		if !strings.Contains(line, "msg=refused ") {
			continue
		}
		if !strings.Contains(line, " origin="+origin+" ") && !strings.HasSuffix(line, " origin="+origin) {
			continue
		}
		if reason == "" || strings.Contains(line, " reason="+reason+" ") || strings.HasSuffix(line, " reason="+reason) {
			n++
		}
	}
	return n
}

// uploadToDMS adds a document to the agency at base, as its home page's
// upload form does.
func uploadToDMS(t *testing.T, base, name string, data []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(base+"/api/documents", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("upload %s to %s: %s %s", name, base, resp.Status, msg)
	}
}

// chromiumPolicyDir is where Debian's chromium reads managed policies.
const chromiumPolicyDir = "/etc/chromium/policies/managed"

// writeChromiumPolicy pre-allows origins' loopback access with a managed
// Chromium policy (both policy names) until the test ends.
func writeChromiumPolicy(t *testing.T, origins []string) {
	t.Helper()
	data, err := json.MarshalIndent(map[string][]string{
		"LoopbackNetworkAllowedForUrls":    origins,
		"LocalNetworkAccessAllowedForUrls": origins,
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	installManagedPolicy(t, filepath.Join(chromiumPolicyDir, "kyso-test.json"), data)
	t.Logf("managed Chromium policy: %s", data)
}

// startBrowserDMS starts a demo DMS on free ports until the test ends.
func startBrowserDMS(t *testing.T, cfg demodms.Config) *demodms.Server {
	t.Helper()
	dms, err := demodms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := dms.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		dms.Close()
	})
	return dms
}

// dateRe is the incumbent's DocumentDate (YYYY-MM-DD).
var dateRe = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// writeBrowserTemplates writes a kyso.templates/v1 file giving the
// fixture's personal certificate the signature image and its organisation
// certificate the seal (40 mm), and returns its path.
func writeBrowserTemplates(t *testing.T, f *serveFixture) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string][]byte{"chu-ky.png": f.sigPNG, "con-dau.png": f.sealPNG} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "templates.json")
	writeJSON(t, path, map[string]any{
		"schema": agent.TemplatesSchema,
		"templates": []agent.Template{
			{Cert: string(f.personal), SignatureImage: "chu-ky.png"},
			{Cert: string(f.org), SealImage: "con-dau.png", SealMM: 40},
		},
	})
	if _, err := agent.LoadTemplates(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// dmsDocID is the ID of the document named name at the agency at base.
func dmsDocID(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/documents")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Documents []struct{ ID, Name string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, d := range list.Documents {
		if d.Name == name {
			if id != "" {
				t.Fatalf("two documents named %s at %s", name, base)
			}
			id = d.ID
		}
	}
	if id == "" {
		t.Fatalf("no document named %s at %s: %+v", name, base, list.Documents)
	}
	return id
}
