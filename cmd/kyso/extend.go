package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades"
)

var extendSummary = [2]string{"bổ sung dữ liệu kiểm tra dài hạn (PAdES B-LT, B-LTA) vào tệp đã ký", "add long-term validation data (PAdES B-LT, B-LTA) to a signed file"}

// ltvFlags are the flags extension shares with kyso sign.
type ltvFlags struct {
	trust     stringList
	system    bool
	noVN      bool
	revTimout time.Duration
}

func (l *ltvFlags) register(c *cli, fs *flag.FlagSet) {
	fs.Var(&l.trust, "trust", c.pick([2]string{"thêm CA gốc tin cậy từ tệp PEM (lặp lại được)", "trust the root CAs in this PEM file (repeatable)"}))
	fs.BoolVar(&l.system, "system-roots", false, c.pick([2]string{"tin cả các CA gốc của hệ điều hành", "also trust the operating system's root CAs"}))
	fs.BoolVar(&l.noVN, "no-vn-roots", false, c.pick([2]string{"không dùng các CA gốc Việt Nam đi kèm kyso", "do not use the Vietnamese roots shipped with kyso"}))
	fs.DurationVar(&l.revTimout, "revocation-timeout", 15*time.Second, c.pick([2]string{"thời gian chờ tối đa mỗi truy vấn OCSP/CRL", "how long each OCSP/CRL request may take"}))
}

func (l *ltvFlags) config(level pades.Level, tsa *cms.TSA) (agent.ExtendConfig, error) {
	cfg := agent.ExtendConfig{Level: level, TSA: tsa, NoShippedRoots: l.noVN, SystemRoots: l.system, RevocationTimeout: l.revTimout}
	for _, p := range l.trust {
		data, err := os.ReadFile(p)
		if err != nil {
			return cfg, usageErr("--trust %s: %v", p, err)
		}
		cfg.TrustPEM = append(cfg.TrustPEM, data)
	}
	return cfg, nil
}

// parseLTVLevel reads B-LT or B-LTA, the levels extension reaches.
func parseLTVLevel(s string) (pades.Level, bool) {
	lv, err := agent.ParseLevel(s)
	return lv, err == nil && (lv == pades.LevelBLT || lv == pades.LevelBLTA)
}

func runExtend(c *cli, args []string) int {
	fs := c.flagSet("extend", extendSummary, "FILE --level B-LT|B-LTA [--out OUT.pdf] [--tsa URL] [--trust PEM]...")
	level := fs.String("level", "B-LT", c.pick([2]string{"mức PAdES: B-LT hoặc B-LTA (thêm dấu thời gian văn bản)", "PAdES level: B-LT or B-LTA (adds a document timestamp)"}))
	out := fs.String("out", "", c.pick([2]string{"tệp kết quả; mặc định cập nhật ngay tệp vào (chỉ nối thêm, không sửa nội dung cũ)", "output file; default updates FILE itself (appended only, nothing earlier changes)"}))
	tsaURL := fs.String("tsa", "", c.pick([2]string{"máy chủ cấp dấu thời gian (RFC 3161) cho B-LTA", "RFC 3161 timestamp authority URL for B-LTA"}))
	tsaTimeout := fs.Duration("tsa-timeout", 150*time.Second, c.pick([2]string{"thời gian chờ tối đa máy chủ dấu thời gian", "how long to wait for the timestamp authority"}))
	var lf ltvFlags
	lf.register(c, fs)
	args = fileFirst(args)
	if code, done := c.parseArgs(fs, "extend", args, 1); done {
		return code
	}
	in := fs.Arg(0)
	lv, ok := parseLTVLevel(*level)
	if !ok {
		c.usageError("extend", fmt.Sprintf("--level %s: use B-LT or B-LTA", *level))
		return exitUsage
	}
	var tsa *cms.TSA
	if *tsaURL != "" {
		tsa = &cms.TSA{URL: *tsaURL, Timeout: *tsaTimeout}
	} else if lv == pades.LevelBLTA {
		c.usageError("extend", "--level B-LTA needs --tsa URL")
		return exitUsage
	}
	cfg, err := lf.config(lv, tsa)
	if err != nil {
		return c.fail("extend", err)
	}
	dst := *out
	if dst == "" {
		dst = in
	}
	// No checkPDF here: it refuses documents certified with P=1, which
	// PAdES lets receive validation data and document timestamps.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := agent.ExtendFile(ctx, in, dst, cfg)
	if err != nil {
		fmt.Fprintf(c.stderr, "kyso: %s: %s\n", in, c.describe(err))
		return exitCodeFor(err)
	}
	fmt.Fprintln(c.stdout, c.lang.T("extend.done", dst, string(lv), res.Signatures))
	return exitOK
}

// fileFirst moves a leading FILE argument after the flags: the synopsis
// puts it first, the flag package stops at the first non-flag.
func fileFirst(args []string) []string {
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		return append(append([]string(nil), args[1:]...), args[0])
	}
	return args
}
