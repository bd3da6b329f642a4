package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
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
	median := func(ds []time.Duration) float64 {
		s := append([]time.Duration(nil), ds...)
		slices.Sort(s)
		return s[len(s)/2].Seconds()
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
