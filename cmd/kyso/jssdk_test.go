package main

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
)

// TestJSSDK runs the JavaScript SDK's Node tests (js-sdk/test, `npm test`)
// against a real `kyso serve` of the serve harness (serve_test.go): a
// SoftHSM token with a personal and an organisation certificate, a TSA,
// a policy admitting two origins of which one may sign digests, and a
// scripted PIN. It fails, never skips, when Node or js-sdk/node_modules is
// missing: `npm ci` in js-sdk installs the latter (make test does).
func TestJSSDK(t *testing.T) {
	sdk, err := filepath.Abs("../../js-sdk")
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (%v): the JS SDK tests need Node.js 20 or later, then `npm ci` in js-sdk", tool, err)
		}
	}
	if _, err := os.Stat(filepath.Join(sdk, "node_modules", "ws")); err != nil {
		t.Fatalf("js-sdk/node_modules is missing (%v): run `npm ci` in js-sdk first (make test does)", err)
	}
	pdf, err := filepath.Abs("../../testdata/sample/quyet-dinh.pdf")
	if err != nil {
		t.Fatal(err)
	}

	f := newServeFixture(t)
	no := false
	const deniedOrigin = "https://evil.example.com"
	s := f.startServer(t, serverSpec{
		name: "jssdk",
		policy: agent.Policy{
			AllowedOrigins:     []string{qlvbOrigin, vanbanOrigin},
			HashSigningOrigins: []string{qlvbOrigin},
			UserMayApprove:     &no, // any other origin is refused without a dialog
		},
		script: serveScript{PIN: servePIN},
	})

	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-30*time.Second))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "npm", "test")
	cmd.Dir = sdk
	cmd.Env = append(os.Environ(),
		"KYSO_URL="+s.url,
		"KYSO_ORIGIN="+qlvbOrigin,
		"KYSO_ORIGIN_NOHASH="+vanbanOrigin,
		"KYSO_ORIGIN_DENIED="+deniedOrigin,
		"KYSO_PDF="+pdf,
		"KYSO_CERT_PERSONAL="+string(f.personal),
		"KYSO_CERT_ORG="+string(f.org),
		"KYSO_SECRET="+s.secret(t),
		// The organisation's seal (PNG, base64) for the VGCA facade's issued flow.
		"KYSO_SEAL_PNG="+base64.StdEncoding.EncodeToString(f.sealPNG),
		"NO_COLOR=1",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm test in js-sdk: %v\n%s\n--- kyso serve log (tail) ---\n%s", err, out, s.logTail())
	}
	t.Logf("npm test in js-sdk:\n%s", out)

	// The signatures really went through the agent: audited, for the
	// page's origin and the local client.
	callers := map[string]int{}
	for _, r := range s.audit(t) {
		if r.Result == "ok" {
			callers[r.Caller+" "+r.Method]++
		}
	}
	for _, want := range []string{qlvbOrigin + " signPdf", qlvbOrigin + " signPdfs", qlvbOrigin + " signHash"} {
		if callers[want] == 0 {
			t.Errorf("no successful %s in the audit log: %v", want, callers)
		}
	}
	if n := callers[qlvbOrigin+" signPdfs"]; n < 6 {
		t.Errorf("%d audited batch signatures, want at least 6 (5 + the cancelled batch's first)", n)
	}
}
