package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/pdfcheck"
	"github.com/kyso-vn/kyso/internal/pdfcorpus"
	"github.com/kyso-vn/kyso/internal/softhsm"
	"github.com/kyso-vn/kyso/token"
)

// scanSize is the size of the scanned register the whole-process benchmark
// signs: the size of a real colour scan of a thick file.
const scanSize = 100 << 20

// runMeasured executes a command under GNU time and returns its wall time
// and peak RSS in MiB. The RSS must come from a real fork: Go starts
// children with vfork, and Linux then charges the parent's (the test
// binary's) high-water mark to the child.
func runMeasured(b *testing.B, env []string, name string, args ...string) (time.Duration, float64, []byte, error) {
	b.Helper()
	rssFile := filepath.Join(b.TempDir(), "rss")
	cmd := exec.Command("/usr/bin/time", append([]string{"-q", "-f", "%M", "-o", rssFile, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	rss := 0.0
	if data, rerr := os.ReadFile(rssFile); rerr == nil {
		lines := strings.Fields(string(data))
		if len(lines) > 0 {
			if kb, perr := strconv.ParseFloat(lines[len(lines)-1], 64); perr == nil {
				rss = kb / 1024
			}
		}
	}
	return wall, rss, out, err
}

// BenchmarkSignLargeScan measures whole processes on one ≈100 MB scanned
// PDF, in the same run: `kyso sign` on the SoftHSM token, `sha256sum` of the
// same file (the floor: one hashing pass), and poppler's `pdfsig
// -add-signature` with the same SoftHSM key through NSS (the peer). It
// reports the ratios and both signers' peak RSS. Run with -count=1 (make
// bench): the SoftHSM fixture is set up once per process.
func BenchmarkSignLargeScan(b *testing.B) {
	f := newCLIFixture(b)
	dir := b.TempDir()
	scan := filepath.Join(dir, "so-dang-ky.pdf")
	if err := pdfcorpus.GenerateLargeScan(context.Background(), scan, scanSize); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(scan)
	if err != nil {
		b.Fatal(err)
	}
	// The key both signers use. pdfsig 22.12 crashes as soon as SoftHSM is
	// loaded into its NSS database, so the same RSA-2048 key is imported
	// into SoftHSM for kyso and into NSS's own soft token for pdfsig.
	key, err := devpki.GenerateSoftKey(devpki.RSA2048)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := f.pki.Issue(devpki.Personal(), key.Public())
	if err != nil {
		b.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	keyPEM := filepath.Join(dir, "bench.key")
	certDER := filepath.Join(dir, "bench.der")
	p12 := filepath.Join(dir, "bench.p12")
	if err := os.WriteFile(keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(certDER, cert.Raw, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := devpki.WritePKCS12(p12, key, cert, f.pki.Chain(), "bench"); err != nil {
		b.Fatal(err)
	}
	rootDER := filepath.Join(dir, "root.der")
	if err := os.WriteFile(rootDER, f.pki.Root.Cert.Raw, 0o644); err != nil {
		b.Fatal(err)
	}
	env := []string{softhsm.ConfEnvVar + "=" + f.conf}
	nss := filepath.Join(dir, "nss")
	if err := os.MkdirAll(nss, 0o700); err != nil {
		b.Fatal(err)
	}
	for _, args := range [][]string{
		{"softhsm2-util", "--import", keyPEM, "--token", "kyso-cli", "--label", "bench", "--id", "09", "--pin", "123456"},
		{"pkcs11-tool", "--module", f.module, "--token-label", "kyso-cli", "--login", "--pin", "123456",
			"--write-object", certDER, "--type", "cert", "--id", "09", "--label", "bench"},
		{"certutil", "-N", "-d", "sql:" + nss, "--empty-password"},
		{"pk12util", "-i", p12, "-d", "sql:" + nss, "-W", "bench", "-K", ""},
		{"certutil", "-A", "-d", "sql:" + nss, "-n", "kyso-root", "-t", "CT,C,C", "-i", rootDER},
	} {
		if _, _, out, err := runMeasured(b, env, args[0], args[1:]...); err != nil {
			b.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	_, _, nicks, err := runMeasured(b, nil, "pdfsig", "-nssdir", "sql:"+nss, "-list-nicks")
	if err != nil {
		b.Fatalf("pdfsig -list-nicks: %v: %s", err, nicks)
	}
	// "Certificate nicknames available:" then one nickname a line.
	lines := strings.Split(strings.TrimSpace(string(nicks)), "\n")
	if len(lines) < 2 {
		b.Fatalf("pdfsig -list-nicks lists no key: %s", nicks)
	}
	nick := strings.TrimSpace(lines[1])
	handle := token.HandleOf(cert)
	kyso := filepath.Join(dir, "kyso")
	if out, err := exec.Command("go", "build", "-o", kyso, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v: %s", err, out)
	}

	// Three rounds per iteration, alternating the order, and medians: one
	// round on a shared 2-core machine is too noisy to compare against.
	var tHash, tKyso, tPeer []time.Duration
	var rssKyso, rssPeer float64
	for b.Loop() {
		for round := 0; round < 3; round++ {
			d, _, out, err := runMeasured(b, nil, "sha256sum", scan)
			if err != nil {
				b.Fatalf("sha256sum: %v: %s", err, out)
			}
			tHash = append(tHash, d)

			outKyso := filepath.Join(dir, "kyso-signed.pdf")
			d, rss, out, err := runMeasured(b, env, kyso, "sign", "--in", scan, "--out", outKyso, "--overwrite",
				"--module", f.module, "--cert", string(handle), "--pin-file", f.pinFile)
			if err != nil {
				b.Fatalf("kyso sign: %v: %s", err, out)
			}
			tKyso = append(tKyso, d)
			rssKyso = max(rssKyso, rss)

			outPeer := filepath.Join(dir, "pdfsig-signed.pdf")
			os.Remove(outPeer)
			d, rss, out, err = runMeasured(b, env, "pdfsig", "-add-signature", "-nssdir", "sql:"+nss, "-nick", nick, "-kpw", "",
				"-new-signature-field-name", "Signature1", scan, outPeer)
			// pdfsig may crash while shutting NSS down after writing a complete
			// file; judge it by its output.
			if st, serr := os.Stat(outPeer); serr != nil || st.Size() <= fi.Size() {
				b.Fatalf("pdfsig -add-signature produced no signed file: %v: %s", err, out)
			}
			tPeer = append(tPeer, d)
			rssPeer = max(rssPeer, rss)
		}
	}
	n := len(tKyso)
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
	b.ReportMetric(median(tKyso)*1000, "kyso-ms")
	b.ReportMetric(median(tHash)*1000, "sha256sum-ms")
	b.ReportMetric(median(tPeer)*1000, "pdfsig-ms")
	b.ReportMetric(median(tKyso)/median(tHash), "kyso/sha256sum")
	b.ReportMetric(median(tKyso)/median(tPeer), "kyso/pdfsig")
	b.ReportMetric(rssKyso, "kyso-RSS-MiB")
	b.ReportMetric(rssPeer, "pdfsig-RSS-MiB")
	fmt.Fprintf(os.Stderr, "BenchmarkSignLargeScan: %d runs on %.0f MiB\n", n, float64(fi.Size())/(1<<20))
}

// BenchmarkVerifyLargeScan measures whole processes verifying one ≈100 MB
// scanned PDF that carries three incremental signatures (personal,
// personal, organisation; B-B, on the SoftHSM token), in the same run:
// `kyso verify --offline --trust ROOT.pem`, poppler's `pdfsig -no-ocsp`
// with an NSS database trusting the same root (the peer), `sha256sum` (the
// floor: one hashing pass) and, when installed, `mutool sign -v`. It
// reports medians of three rounds per iteration, the ratios and kyso's
// peak RSS. Before measuring it checks that every verifier sees the three
// signatures: kyso exits 0 or 5 (offline and without revocation data in
// the file the verdict is indeterminate) and pdfsig calls all three valid.
func BenchmarkVerifyLargeScan(b *testing.B) {
	f := newCLIFixture(b)
	dir := b.TempDir()
	scan := filepath.Join(dir, "so-dang-ky.pdf")
	if err := pdfcorpus.GenerateLargeScan(context.Background(), scan, scanSize); err != nil {
		b.Fatal(err)
	}
	kyso := filepath.Join(dir, "kyso")
	if out, err := exec.Command("go", "build", "-o", kyso, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v: %s", err, out)
	}
	env := []string{softhsm.ConfEnvVar + "=" + f.conf}
	// Three incremental signatures, each over the previous output.
	signed := scan
	for i, kind := range []string{"personal", "personal", "organisation"} {
		out := filepath.Join(dir, fmt.Sprintf("signed-%d.pdf", i+1))
		if _, _, msg, err := runMeasured(b, env, kyso, "sign", "--in", signed, "--out", out, "--overwrite",
			"--module", f.module, "--kind", kind, "--pin-file", f.pinFile); err != nil {
			b.Fatalf("kyso sign #%d (%s): %v: %s", i+1, kind, err, msg)
		}
		signed = out
	}
	fi, err := os.Stat(signed)
	if err != nil {
		b.Fatal(err)
	}
	rootPEM := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(rootPEM, devpki.EncodeCertificatesPEM(f.pki.Root.Cert), 0o644); err != nil {
		b.Fatal(err)
	}
	nss := pdfcheck.NewNSSDB(b, f.pki.Root.Cert)
	kysoArgs := []string{"verify", "--offline", "--trust", rootPEM, signed}
	pdfsigArgs := []string{"-nssdir", "sql:" + nss.Dir, "-no-ocsp", signed}
	_, mutoolErr := exec.LookPath("mutool")
	hasMutool := mutoolErr == nil

	// What each verifier says, checked once before measuring: a fast
	// verifier that misses a signature measures nothing.
	_, _, out, err := runMeasured(b, nil, kyso, append([]string{"verify", "--json"}, kysoArgs[1:]...)...)
	if code := exitCode(err); code != 0 && code != exitVerifyIndeterminate {
		b.Fatalf("kyso verify: exit %d (%v), want 0 or %d: %s", code, err, exitVerifyIndeterminate, out)
	}
	var rep struct {
		Signatures []struct {
			Field  string `json:"field"`
			Intact bool   `json:"intact"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		b.Fatalf("kyso verify --json: %v: %s", err, out)
	}
	if len(rep.Signatures) != 3 {
		b.Fatalf("kyso verify reports %d signatures, want 3: %s", len(rep.Signatures), out)
	}
	for _, s := range rep.Signatures {
		if !s.Intact {
			b.Fatalf("kyso verify: signature %s is not intact: %s", s.Field, out)
		}
	}
	_, _, out, err = runMeasured(b, nil, "pdfsig", pdfsigArgs...)
	if err != nil {
		b.Fatalf("pdfsig: %v: %s", err, out)
	}
	sigs, err := pdfcheck.ParsePdfsig(string(out))
	if err != nil {
		b.Fatalf("pdfsig: %v: %s", err, out)
	}
	valid := 0
	for _, s := range sigs {
		if s.Valid {
			valid++
		}
	}
	if len(sigs) != 3 || valid != 3 {
		b.Fatalf("pdfsig: %d signatures, %d valid, want 3 valid: %s", len(sigs), valid, out)
	}
	if hasMutool {
		if _, _, out, err := runMeasured(b, nil, "mutool", "sign", "-v", signed); err != nil ||
			strings.Count(string(out), "Verifying signature") != 3 {
			b.Logf("mutool sign -v does not verify the three signatures (%v); leaving it out:\n%s", err, out)
			hasMutool = false
		}
	}

	// Three rounds per iteration, and medians: one round on a shared
	// 2-core machine is too noisy to compare against.
	var tHash, tKyso, tPeer, tMutool []time.Duration
	var rssKyso, rssPeer float64
	for b.Loop() {
		for round := 0; round < 3; round++ {
			d, _, out, err := runMeasured(b, nil, "sha256sum", signed)
			if err != nil {
				b.Fatalf("sha256sum: %v: %s", err, out)
			}
			tHash = append(tHash, d)

			d, rss, out, err := runMeasured(b, nil, kyso, kysoArgs...)
			if code := exitCode(err); code != 0 && code != exitVerifyIndeterminate {
				b.Fatalf("kyso verify: exit %d (%v): %s", code, err, out)
			}
			tKyso = append(tKyso, d)
			rssKyso = max(rssKyso, rss)

			d, rss, out, err = runMeasured(b, nil, "pdfsig", pdfsigArgs...)
			if err != nil {
				b.Fatalf("pdfsig: %v: %s", err, out)
			}
			tPeer = append(tPeer, d)
			rssPeer = max(rssPeer, rss)

			if hasMutool {
				d, _, out, err = runMeasured(b, nil, "mutool", "sign", "-v", signed)
				if err != nil {
					b.Fatalf("mutool sign -v: %v: %s", err, out)
				}
				tMutool = append(tMutool, d)
			}
		}
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
	b.ReportMetric(median(tKyso), "kyso-s")
	b.ReportMetric(median(tPeer), "pdfsig-s")
	b.ReportMetric(median(tHash), "sha256sum-s")
	b.ReportMetric(median(tKyso)/median(tPeer), "kyso/pdfsig")
	b.ReportMetric(median(tKyso)/median(tHash), "kyso/sha256sum")
	b.ReportMetric(rssKyso, "kyso-RSS-MiB")
	b.ReportMetric(rssPeer, "pdfsig-RSS-MiB")
	if hasMutool {
		b.ReportMetric(median(tMutool), "mutool-s")
		b.ReportMetric(median(tKyso)/median(tMutool), "kyso/mutool")
	}
	fmt.Fprintf(os.Stderr, "BenchmarkVerifyLargeScan: %d runs on %.0f MiB\n", len(tKyso), float64(fi.Size())/(1<<20))
}

// median is the median of ds, in seconds.
func median(ds []time.Duration) float64 {
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	return s[len(s)/2].Seconds()
}

// exitCode is the exit status behind a command's error: 0 for nil, -1 when
// the command did not run to an exit.
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}
