// Command kysodist builds kyso's release artifacts into a folder (`make
// dist` runs it): the .deb and .rpm, the signed kyso.exe and .msi, and
// SHA256SUMS. See installer/dist and docs/deployment.md ("Packages").
//
// Usage:
//
//	go run ./cmd/kysodist [-out dist] [-repo .] [-describe v1.2.3]
//
// Signing is configured by environment variables, so that secrets stay
// out of command lines and make files:
//
//	SIGN_PKCS12=cert.p12 SIGN_PASS_FILE=pass.txt
//	SIGN_PKCS11_MODULE=lib.so SIGN_PKCS11_KEY='pkcs11:…' (SIGN_CERTS=chain.pem | SIGN_PKCS11_CERT='pkcs11:…')
//	    [SIGN_PASS_FILE=pin.txt] [SIGN_PKCS11_ENGINE=…/pkcs11.so]
//	SIGN_TIMESTAMP_URL=http://…   (RFC 3161; recommended for releases)
//	SIGN_REQUIRED=1               (fail instead of using a throwaway test certificate)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/kyso-vn/kyso/installer/dist"
)

func main() {
	out := flag.String("out", "dist", "folder for the artifacts and SHA256SUMS")
	repo := flag.String("repo", ".", "the kyso module's root folder")
	describe := flag.String("describe", "", "version as git describe prints it (default: run git describe --tags --always --dirty)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "kysodist: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out, *repo, *describe); err != nil {
		fmt.Fprintln(os.Stderr, "kysodist:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, repo, describe string) error {
	opt := dist.Options{Repo: repo, Out: out, Describe: describe, Log: os.Stderr}
	s, err := dist.SignerFromEnv(os.Getenv)
	switch {
	case err == nil:
		opt.Signer = &s
	case errors.Is(err, dist.ErrNoSigner) && os.Getenv("SIGN_REQUIRED") == "":
		// Build signs with a throwaway certificate and says so.
	default:
		return err
	}
	start := time.Now()
	res, err := dist.Build(ctx, opt)
	if err != nil {
		return err
	}
	fmt.Printf("kyso %s (deb/rpm %s, msi %s)\n", res.Version, res.Version.Package(), must(res.Version.MSI()))
	for _, p := range append(res.Artifacts(), res.Sums) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		fmt.Printf("  %-48s %6.1f MB\n", filepath.Join(out, filepath.Base(p)), float64(fi.Size())/1e6)
	}
	if res.TestCA != "" {
		fmt.Printf("  signed with a throwaway test certificate: osslsigncode verify -CAfile %s -in FILE\n", res.TestCA)
	}
	for _, s := range res.Steps {
		fmt.Printf("  %-16s %s\n", s.Name, s.Duration.Round(100*time.Millisecond))
	}
	fmt.Printf("  %-16s %s\n", "total", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// must drops an error that Build has already ruled out.
func must(s string, _ error) string { return s }
