package doctor

import (
	"context"
	"errors"
	"time"

	"github.com/kyso-vn/kyso/cms"
)

// checkTSA reports the timestamp authority the agent would use and, with
// Config.TSACheck, whether it hands out a timestamp.
//
// The check asks for a real RFC 3161 timestamp over a digest of a fixed
// string, one attempt, within tsaTimeout, through cms.TSA as signing does.
// A HEAD request or a TCP connection would say little: TSAs answer HEAD
// with 405 or nothing, and a proxy accepts connections for hosts it cannot
// reach; only a checked token shows that B-T signatures will work. It is
// never done by default, because it reaches the network and some
// commercial TSAs count every timestamp.
func checkTSA(ctx context.Context, e *env) []Finding {
	url := e.settings.TSA
	level := e.settings.DefaultLevel
	d := map[string]any{"url": url, "defaultLevel": level}
	if url == "" {
		return []Finding{{ID: "tsa.none", Severity: SeverityInfo, Message: T("doctor.tsa.none", level), Fix: T("doctor.tsa.none.fix"), Details: d}}
	}
	if !e.cfg.TSACheck {
		return []Finding{{ID: "tsa.unchecked", Severity: SeverityInfo, Message: T("doctor.tsa.unchecked", url), Fix: T("doctor.tsa.unchecked.fix"), Details: d}}
	}
	tsa := &cms.TSA{URL: url, Timeout: tsaTimeout, Attempts: 1, HTTPClient: e.cfg.HTTPClient}
	start := time.Now()
	_, err := tsa.Timestamp(ctx, []byte("kyso doctor"))
	ms := time.Since(start).Milliseconds()
	d["milliseconds"] = ms
	if err == nil {
		return []Finding{{ID: "tsa.ok", Severity: SeverityOK, Message: T("doctor.tsa.ok", url, ms), Details: d}}
	}
	d["error"] = err.Error()
	var te *cms.TSAError
	if errors.As(err, &te) {
		d["code"] = te.Code
	}
	if errors.Is(err, cms.ErrTSAInvalid) {
		return []Finding{{ID: "tsa.invalid", Severity: SeverityError, Message: T("doctor.tsa.invalid", url, err.Error()), Fix: T("doctor.tsa.invalid.fix"), Details: d}}
	}
	// Unreachable within the check's few seconds is not proof of an outage
	// (the government TSA has taken two minutes), so it is a warning.
	return []Finding{{ID: "tsa.unreachable", Severity: SeverityWarning, Message: T("doctor.tsa.unreachable", url, err.Error()), Fix: T("doctor.tsa.unreachable.fix"), Details: d}}
}
