package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kyso-vn/kyso/agent"
)

var auditSummary = [2]string{"thống kê nhật ký ký số theo ngày, loại ký, chứng thư và trang web", "summarise the signing audit log per day, profile, certificate and site"}

func runAudit(c *cli, args []string) int {
	fs := c.flagSet("audit", auditSummary, "[--dir DIR] [--json]")
	dir := fs.String("dir", defaultAuditDir(), c.pick([2]string{"thư mục nhật ký", "audit log folder"}))
	jsonOut := fs.Bool("json", false, c.pick([2]string{"in kết quả JSON", "print JSON"}))
	if code, done := c.parse(fs, "audit", args); done {
		return code
	}
	records, skipped, err := agent.ReadAudit(*dir)
	if err != nil {
		fmt.Fprintln(c.stderr, "kyso: "+err.Error())
		return exitFailure
	}
	sum := agent.Summarize(records)
	if *jsonOut {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Schema  string `json:"schema"`
			Skipped int    `json:"skippedLines"`
			agent.AuditSummary
		}{"kyso.audit-summary/v1", skipped, sum}); err != nil {
			return exitFailure
		}
		return exitOK
	}
	vn := time.FixedZone("GMT+7", 7*3600)
	if sum.Total == 0 {
		fmt.Fprintln(c.stdout, c.lang.T("audit.none", *dir))
	} else {
		fmt.Fprintln(c.stdout, c.lang.T("audit.total", sum.Total, sum.First.In(vn).Format("02/01/2006 15:04"), sum.Last.In(vn).Format("02/01/2006 15:04")))
	}
	for _, sec := range []struct {
		key string
		m   map[string]int
	}{{"audit.byDay", sum.ByDay}, {"audit.byProfile", sum.ByProfile}, {"audit.bySigner", sum.BySigner}, {"audit.byOrigin", sum.ByOrigin}, {"audit.byResult", sum.ByResult}} {
		if len(sec.m) == 0 {
			continue
		}
		fmt.Fprintln(c.stdout, "\n"+c.lang.T(sec.key))
		for _, cnt := range agent.SortedCounts(sec.m) {
			name := cnt.Key
			if name == "" {
				name = "-"
			}
			fmt.Fprintf(c.stdout, "  %-40s %6d\n", name, cnt.N)
		}
	}
	if skipped > 0 {
		fmt.Fprintln(c.stderr, "kyso: "+c.lang.T("audit.skipped", skipped))
	}
	return exitOK
}
