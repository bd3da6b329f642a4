package vnroots

import (
	"testing"
	"time"

	"github.com/kyso-vn/kyso/cms"
)

func TestShippedRoots(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 7 {
		t.Fatalf("%d certificates shipped, want 7", len(all))
	}
	var roots, legacy int
	for _, c := range all {
		if c.Root {
			roots++
		}
		if c.Legacy {
			legacy++
			if c.Cert.SignatureAlgorithm.String() != "SHA1-RSA" {
				t.Errorf("%s: legacy root signed with %v", c.File, c.Cert.SignatureAlgorithm)
			}
		}
	}
	if roots != 3 || legacy != 1 {
		t.Errorf("roots %d legacy %d, want 3 and 1", roots, legacy)
	}
	s := cms.NewTrustStore()
	inter, err := AddTo(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(inter) != 4 || len(s.Roots()) != 3 {
		t.Fatalf("%d intermediates, %d roots", len(inter), len(s.Roots()))
	}
	// Every shipped sub-CA chains to its root through the store, the G1
	// sub-CA with the legacy warning.
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range inter {
		ch, err := s.Verify(c, nil, at)
		if err != nil {
			t.Errorf("%s: %v", c.Subject.CommonName, err)
			continue
		}
		g1 := c.SignatureAlgorithm.String() == "SHA1-RSA"
		if ch.LegacySHA1 != g1 {
			t.Errorf("%s: LegacySHA1 %v", c.Subject.CommonName, ch.LegacySHA1)
		}
	}
}
