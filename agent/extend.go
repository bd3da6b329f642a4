package agent

import (
	"context"
	"net/http"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades"
)

// ExtendConfig is how a signed document is extended to B-LT or B-LTA.
type ExtendConfig struct {
	Level pades.Level
	// TSA is the timestamp authority of B-LTA's document timestamp.
	TSA *cms.TSA
	// TrustPEM, NoShippedRoots and SystemRoots choose the anchors the
	// chains are built to, as for verification.
	TrustPEM          [][]byte
	NoShippedRoots    bool
	SystemRoots       bool
	HTTPClient        *http.Client
	RevocationTimeout time.Duration
}

// ExtendFile adds long-term validation data to the signed PDF at inPath
// and writes the result to outPath (which may be inPath); see
// pades.ExtendFile.
func ExtendFile(ctx context.Context, inPath, outPath string, cfg ExtendConfig) (*pades.ExtendResult, error) {
	vo, err := verifyOptions(VerifyConfig{
		TrustPEM:          cfg.TrustPEM,
		NoShippedRoots:    cfg.NoShippedRoots,
		SystemRoots:       cfg.SystemRoots,
		RevocationTimeout: cfg.RevocationTimeout,
	})
	if err != nil {
		return nil, err
	}
	return pades.ExtendFile(ctx, inPath, outPath, pades.ExtendOptions{
		Level:             cfg.Level,
		Trust:             vo.Trust,
		Intermediates:     vo.Intermediates,
		HTTPClient:        cfg.HTTPClient,
		RevocationTimeout: vo.RevocationTimeout,
		TSA:               cfg.TSA,
	})
}
