package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"os/signal"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/pades"
)

// Exit codes of kyso verify (docs/cli.md).
const (
	exitVerifyInvalid       = 1
	exitVerifyIndeterminate = 5
)

var verifySummary = [2]string{"kiểm tra chữ ký số trong tệp PDF và in báo cáo", "verify the signatures in a PDF and print a report"}

func runVerify(c *cli, args []string) int {
	fs := c.flagSet("verify", verifySummary, "FILE [--json] [--offline] [--trust PEM]... [--lang vi|en]")
	jsonOut := fs.Bool("json", false, c.pick([2]string{"in báo cáo JSON (kyso.verification/v1)", "print the JSON report (kyso.verification/v1)"}))
	offline := fs.Bool("offline", false, c.pick([2]string{"không truy cập mạng: chỉ dùng dữ liệu OCSP/CRL lưu trong tệp", "no network: use only the OCSP/CRL data stored in the file"}))
	var trust stringList
	fs.Var(&trust, "trust", c.pick([2]string{"thêm CA gốc tin cậy từ tệp PEM (lặp lại được)", "trust the root CAs in this PEM file (repeatable)"}))
	system := fs.Bool("system-roots", false, c.pick([2]string{"tin cả các CA gốc của hệ điều hành", "also trust the operating system's root CAs"}))
	noVN := fs.Bool("no-vn-roots", false, c.pick([2]string{"không dùng các CA gốc Việt Nam đi kèm kyso", "do not use the Vietnamese roots shipped with kyso"}))
	lang := fs.String("lang", "", c.pick([2]string{"ngôn ngữ báo cáo: vi hoặc en", "report language: vi or en"}))
	timeout := fs.Duration("timeout", 15*time.Second, c.pick([2]string{"thời gian chờ tối đa mỗi truy vấn OCSP/CRL", "how long each OCSP/CRL request may take"}))
	if code, done := c.parseArgs(fs, "verify", fileFirst(args), 1); done {
		return code
	}
	if *lang != "" {
		if *lang != "vi" && *lang != "en" {
			c.usageError("verify", "--lang: vi | en")
			return exitUsage
		}
		c.lang = i18n.Parse(*lang)
	}
	cfg := agent.VerifyConfig{
		Offline:           *offline,
		SystemRoots:       *system,
		NoShippedRoots:    *noVN,
		RevocationTimeout: *timeout,
		Lang:              string(c.lang),
	}
	for _, p := range trust {
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("verify.trust.read", p, err))
			return exitUsage
		}
		cfg.TrustPEM = append(cfg.TrustPEM, data)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	path := fs.Arg(0)
	rep, err := agent.VerifyFile(ctx, path, cfg)
	if err != nil {
		var pe *pades.Error
		var pathErr *iofs.PathError
		switch {
		case errors.As(err, &pe):
			fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("verify.bad.document", path, c.describe(err)))
		case errors.As(err, &pathErr):
			fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("verify.bad.file", path, pathErr.Err))
		case errors.Is(err, context.Canceled):
			fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("err.CANCELLED"))
			return exitFailure
		default:
			fmt.Fprintln(c.stderr, "kyso: "+err.Error())
			return exitFailure
		}
		return exitUsage
	}
	if *jsonOut {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return exitFailure
		}
	} else if err := rep.WriteText(c.stdout, string(c.lang)); err != nil {
		return exitFailure
	}
	switch rep.Verdict {
	case pades.Valid:
		return exitOK
	case pades.Invalid:
		return exitVerifyInvalid
	}
	return exitVerifyIndeterminate
}
