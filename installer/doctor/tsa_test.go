package doctor

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/devpki"
	"github.com/kyso-vn/kyso/internal/tsatest"
)

// TestTSA asks a local RFC 3161 TSA on 127.0.0.1 for a timestamp: an
// honest one is ok, an HTTP failure is a warning (it may be a slow
// moment), a wrong token an error; without --tsa-check nothing is sent.
func TestTSA(t *testing.T) {
	pki, err := devpki.New(devpki.Options{KeyKind: devpki.ECP384})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		opts  tsatest.Options
		check bool
		want  string
		sent  int
	}{
		{"not asked", tsatest.Options{}, false, "tsa.unchecked:info", 0},
		{"honest", tsatest.Options{}, true, "tsa.ok:ok", 1},
		{"HTTP 503", tsatest.Options{HTTPStatus: http.StatusServiceUnavailable}, true, "tsa.unreachable:warning", 1},
		{"wrong imprint", tsatest.Options{WrongImprint: true}, true, "tsa.invalid:error", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := tsatest.Start(t, pki, tc.opts)
			cfg := isolated(t)
			cfg.TSACheck = tc.check
			cfg.HTTPClient = &http.Client{Transport: &http.Transport{Proxy: nil}}
			cfg.LoadPolicy = func() (*agent.Policy, error) {
				return &agent.Policy{Schema: agent.PolicySchema, TSA: srv.URL, DefaultLevel: "B-T"}, nil
			}
			rep := Run(context.Background(), cfg)
			vi, _ := render(t, rep)
			got := ids(only(rep, "tsa."))
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("findings %v, want %s", got, tc.want)
			}
			if srv.Requests() != tc.sent {
				t.Errorf("%d requests sent, want %d", srv.Requests(), tc.sent)
			}
			if !strings.Contains(vi, srv.URL) {
				t.Errorf("the TSA is not named:\n%s", vi)
			}
		})
	}
}

func TestNoTSA(t *testing.T) {
	rep := Run(context.Background(), isolated(t))
	if got := ids(only(rep, "tsa.")); len(got) != 1 || got[0] != "tsa.none:info" {
		t.Errorf("findings %v", got)
	}
}
