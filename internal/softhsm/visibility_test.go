package softhsm

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

// slotTokens maps each slot the process can see to its token label ("" for
// the free, uninitialised slot).
func slotTokens(t *testing.T, p *pkcs11.Ctx) map[uint]string {
	t.Helper()
	slots, err := p.GetSlotList(false)
	if err != nil {
		t.Fatalf("C_GetSlotList: %v", err)
	}
	m := make(map[uint]string, len(slots))
	for _, s := range slots {
		info, err := p.GetTokenInfo(s)
		if err != nil {
			t.Fatalf("C_GetTokenInfo(%d): %v", s, err)
		}
		if info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			m[s] = ""
			continue
		}
		m[s] = strings.TrimRight(info.Label, " ")
	}
	return m
}

// slotOf returns the slot holding the token labelled label ("" finds the
// free slot).
func slotOf(m map[uint]string, label string) (uint, bool) {
	for s, l := range m {
		if l == label {
			return s, true
		}
	}
	return 0, false
}

// TestTokenVisibilityAfterInitialize pins down the SoftHSM behaviour the
// package documentation describes and that the helpers are designed around.
// It is one sequential test because the module state is process-wide.
func TestTokenVisibilityAfterInitialize(t *testing.T) {
	ctx := testContext(t)
	modPath, err := ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	p := pkcs11.New(modPath)
	if p == nil {
		t.Fatalf("cannot load %s", modPath)
	}
	// Deliberately no Finalize/Destroy until the last step: that is how
	// long-lived kyso code treats the module.
	if err := p.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		t.Fatalf("C_Initialize: %v", err)
	}

	// 1. A token created before C_Initialize is visible.
	before := slotTokens(t, p)
	if _, ok := slotOf(before, preloadedLabel); !ok {
		t.Fatalf("token %q created before C_Initialize is not visible: %v", preloadedLabel, before)
	}

	// 2. A second C_Initialize in the same process is refused and shares
	// the first initialisation.
	p2 := pkcs11.New(modPath)
	if err := p2.Initialize(); !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		t.Errorf("second C_Initialize = %v, want CKR_CRYPTOKI_ALREADY_INITIALIZED", err)
	}

	// 3. A token created by softhsm2-util after C_Initialize is invisible
	// to this process, although a child process sees it.
	// Random labels keep the test repeatable under -count=N, which reuses
	// the token directory TestMain made.
	childLabel := uniqueLabel(t, "child-late-")
	if err := processEnv.InitToken(ctx, childLabel, testSOPIN, testUserPIN); err != nil {
		t.Fatal(err)
	}
	if ok, err := processEnv.HasToken(ctx, childLabel); err != nil || !ok {
		t.Fatalf("softhsm2-util does not see its own token: %v, %v", ok, err)
	}
	afterChild := slotTokens(t, p)
	if _, ok := slotOf(afterChild, childLabel); ok {
		t.Errorf("token created by a child after C_Initialize is visible; the package documentation is wrong")
	}

	// 4. C_InitToken on the free slot from inside the process makes the
	// token visible at once, in that slot, and a new free slot appears.
	free, ok := slotOf(afterChild, "")
	if !ok {
		t.Fatalf("no free slot: %v", afterChild)
	}
	inProcLabel := uniqueLabel(t, "in-process-")
	if err := p.InitToken(free, testSOPIN, inProcLabel); err != nil {
		t.Fatalf("C_InitToken: %v", err)
	}
	afterInit := slotTokens(t, p)
	if s, ok := slotOf(afterInit, inProcLabel); !ok || s != free {
		t.Errorf("in-process token: slot %d (found %v), want the former free slot %d: %v", s, ok, free, afterInit)
	}
	newFree, ok := slotOf(afterInit, "")
	if !ok || newFree == free {
		t.Errorf("no new free slot after C_InitToken: %v", afterInit)
	}
	if len(afterInit) != len(afterChild)+1 {
		t.Errorf("slot count %d after C_InitToken, want %d", len(afterInit), len(afterChild)+1)
	}

	// 5. Only C_Finalize + C_Initialize rescans the token directory (and
	// renumbers the in-process token). Nothing else in this test binary
	// uses the module, so finalising is safe here and only here.
	if err := p.Finalize(); err != nil {
		t.Fatalf("C_Finalize: %v", err)
	}
	if err := p.Initialize(); err != nil {
		t.Fatalf("C_Initialize after C_Finalize: %v", err)
	}
	rescanned := slotTokens(t, p)
	if _, ok := slotOf(rescanned, childLabel); !ok {
		t.Errorf("child token still invisible after re-initialisation: %v", rescanned)
	}
	if s, ok := slotOf(rescanned, inProcLabel); !ok || s == free {
		t.Errorf("in-process token after re-initialisation: slot %d (found %v), want a serial-derived slot other than %d", s, ok, free)
	}
}

// uniqueLabel returns prefix followed by random hex digits.
func uniqueLabel(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}
