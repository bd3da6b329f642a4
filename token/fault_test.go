package token

import (
	"context"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/internal/p11fault"
)

// Tests against the fault-injecting module, for token behaviour SoftHSM
// cannot show. They run one after another: the module is one per process
// and its control file is shared.

// hangBound is how long a test waits before declaring the layer hung. It is
// a guard against deadlock, not a timing assertion.
const hangBound = 20 * time.Second

func faultSigner(t *testing.T, m *Manager, pins PINSource) Signer {
	t.Helper()
	c, tok := certOnModule(t, m, fx.fault, "kyso-fault", "fault-rsa")
	s, err := m.SignerOn(testContext(t), tok.ID, c.Handle, pins)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signOnce(t *testing.T, s Signer) error {
	t.Helper()
	digest := digestOf(crypto.SHA256, "fault test")
	sig, err := s.SignContext(testContext(t), digest, crypto.SHA256)
	if err == nil {
		if verr := verifyGo(s.Public(), digest, sig, crypto.SHA256); verr != nil {
			t.Fatalf("signature does not verify: %v", verr)
		}
	}
	return err
}

func TestWrongPINCountsDownToLock(t *testing.T) {
	fx.steer.Set(t, p11fault.Control{Present: true, MaxTries: 3})
	m := newManager(t, fx.fault)
	lockAll(t, m)
	wrong := newPINCounter("000000")
	s := faultSigner(t, m, wrong)

	var before int
	steps := []struct {
		want     Code
		finalTry bool
		retries  int
	}{
		{CodePINIncorrect, false, -1}, // count low, token does not say how many
		{CodePINIncorrect, true, 1},   // final try
		{CodePINLocked, false, 0},
	}
	for i, st := range steps {
		before = fx.steer.Calls(t, "C_Login")
		err := signOnce(t, s)
		var te *Error
		if !errors.As(err, &te) || te.Code != st.want {
			t.Fatalf("attempt %d: err = %v, want %s", i+1, err, st.want)
		}
		if te.PIN == nil {
			t.Fatalf("attempt %d: no PIN state in the error", i+1)
		}
		if te.PIN.FinalTry != st.finalTry || te.PIN.RetriesLeft() != st.retries || !te.PIN.CountLow && !te.PIN.Locked {
			t.Errorf("attempt %d: PIN state %+v (retries %d)", i+1, *te.PIN, te.PIN.RetriesLeft())
		}
		if te.RV == 0 {
			t.Errorf("attempt %d: no PKCS#11 return value in the error", i+1)
		}
		if got := fx.steer.Calls(t, "C_Login") - before; got != 1 {
			t.Errorf("attempt %d: %d C_Login calls, want exactly 1", i+1, got)
		}
	}
	if got := wrong.calls.Load(); got != 3 {
		t.Errorf("PIN source asked %d times, want 3", got)
	}

	// Locked: the next attempt is refused from the token's flags, without
	// asking the user or touching the token's counter.
	right := newPINCounter(userPIN)
	s = faultSigner(t, m, right)
	before = fx.steer.Calls(t, "C_Login")
	if err := signOnce(t, s); !errors.Is(err, ErrPINLocked) {
		t.Fatalf("after lock: err = %v, want PIN_LOCKED", err)
	}
	if right.calls.Load() != 0 || fx.steer.Calls(t, "C_Login") != before {
		t.Errorf("a locked token was asked for a PIN (%d) or sent C_Login (%d)", right.calls.Load(), fx.steer.Calls(t, "C_Login")-before)
	}
	toks, _ := m.Tokens(testContext(t))
	for _, tk := range toks {
		if tk.Label == "kyso-fault" && !tk.PIN.Locked {
			t.Errorf("token listing does not show the lock: %+v", tk.PIN)
		}
	}
}

func TestCorrectPINAfterWrongOneResetsCount(t *testing.T) {
	fx.steer.Set(t, p11fault.Control{Present: true, MaxTries: 3})
	m := newManager(t, fx.fault)
	lockAll(t, m)
	if err := signOnce(t, faultSigner(t, m, newPINCounter("111111"))); !errors.Is(err, ErrPINIncorrect) {
		t.Fatalf("err = %v, want PIN_INCORRECT", err)
	}
	if err := signOnce(t, faultSigner(t, m, newPINCounter(userPIN))); err != nil {
		t.Fatalf("right PIN after a wrong one: %v", err)
	}
	toks, _ := m.Tokens(testContext(t))
	for _, tk := range toks {
		if tk.Label == "kyso-fault" && (tk.PIN.CountLow || tk.PIN.FinalTry) {
			t.Errorf("PIN state after a good login = %+v", tk.PIN)
		}
	}
}

func TestFunctionFailedIsNotAWrongPIN(t *testing.T) {
	tests := []struct {
		name string
		fail map[string]uint
		want Code
	}{
		{"C_Login CKR_FUNCTION_FAILED", map[string]uint{"C_Login": 0x6}, CodeFunctionFailed},
		{"C_Login CKR_DEVICE_ERROR", map[string]uint{"C_Login": 0x30}, CodeFunctionFailed},
		{"C_Login CKR_GENERAL_ERROR", map[string]uint{"C_Login": 0x5}, CodeFunctionFailed},
		{"C_Sign CKR_FUNCTION_FAILED", map[string]uint{"C_Sign": 0x6}, CodeFunctionFailed},
		{"C_SignInit CKR_MECHANISM_INVALID", map[string]uint{"C_SignInit": 0x70}, CodeMechanismNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx.steer.Set(t, p11fault.Control{Present: true, MaxTries: 3, Fail: tt.fail})
			m := newManager(t, fx.fault)
			lockAll(t, m)
			pins := newPINCounter(userPIN)
			err := signOnce(t, faultSigner(t, m, pins))
			if CodeOf(err) != tt.want {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
			if errors.Is(err, ErrPINIncorrect) || errors.Is(err, ErrPINLocked) {
				t.Fatalf("a driver failure was reported as a PIN problem: %v", err)
			}
			if n := fx.steer.Calls(t, "C_Login"); n > 1 {
				t.Errorf("%d C_Login calls: the layer retried", n)
			}
		})
	}
}

func TestTokenRemovedDuringSignatureThenReinserted(t *testing.T) {
	fx.steer.Set(t, p11fault.Control{Present: true, SignDelay: 3 * time.Second})
	m := newManager(t, fx.fault)
	lockAll(t, m)
	pins := newPINCounter(userPIN)
	s := faultSigner(t, m, pins)

	done := make(chan error, 1)
	go func() { done <- signOnce(t, s) }()
	waitForCallOrDone(t, "C_Sign", 2, done) // the length query, then the delayed signature
	setFaultControl(t, p11fault.Control{Present: false, SignDelay: 3 * time.Second})
	select {
	case err := <-done:
		if !errors.Is(err, ErrTokenRemoved) {
			t.Fatalf("err = %v, want TOKEN_REMOVED", err)
		}
	case <-time.After(hangBound):
		t.Fatal("signing hung after the token was removed")
	}

	// While the token is out, signing says so at once.
	if err := signOnce(t, s); !errors.Is(err, ErrTokenAbsent) && !errors.Is(err, ErrTokenRemoved) {
		t.Fatalf("token out: err = %v, want TOKEN_ABSENT or TOKEN_REMOVED", err)
	}

	// Plugged back in: the same signer works in the same process. The
	// removal logged the token out, so the PIN is asked again.
	setFaultControl(t, p11fault.Control{Present: true})
	before := pins.calls.Load()
	if err := signOnce(t, s); err != nil {
		t.Fatalf("after re-insertion: %v", err)
	}
	if pins.calls.Load() != before+1 {
		t.Errorf("PIN asked %d times after re-insertion, want 1", pins.calls.Load()-before)
	}
}

func TestAlwaysAuthenticateAsksPINForEverySignature(t *testing.T) {
	fx.steer.Set(t, p11fault.Control{Present: true, AlwaysAuth: true})
	m := newManager(t, fx.fault)
	lockAll(t, m)
	pins := newPINCounter(userPIN)
	s := faultSigner(t, m, pins)
	const n = 3
	for i := range n {
		if err := signOnce(t, s); err != nil {
			t.Fatalf("signature %d: %v", i+1, err)
		}
	}
	if got := pins.contextSpecific.Load(); got != n {
		t.Errorf("context-specific PIN asked %d times for %d signatures", got, n)
	}
	if got := pins.calls.Load(); got != n+1 {
		t.Errorf("PIN asked %d times, want %d (one login, then one per signature)", got, n+1)
	}
	if got := fx.steer.Calls(t, "C_Login"); got != n+1 {
		t.Errorf("C_Login called %d times, want %d", got, n+1)
	}

	// A wrong context-specific PIN fails that one signature and leaves the
	// session usable.
	wrong := PINFunc(func(_ context.Context, req PINRequest) ([]byte, error) {
		if req.ContextSpecific {
			return []byte("999999"), nil
		}
		return []byte(userPIN), nil
	})
	s2, err := m.Signer(testContext(t), s.Certificate().Handle, wrong)
	if err != nil {
		t.Fatal(err)
	}
	if err := signOnce(t, s2); !errors.Is(err, ErrPINIncorrect) {
		t.Fatalf("wrong context PIN: err = %v, want PIN_INCORRECT", err)
	}
	if err := signOnce(t, s); err != nil {
		t.Fatalf("signature after a wrong context PIN: %v", err)
	}
}

func TestPinpadLogsInWithoutAskingForPIN(t *testing.T) {
	fx.steer.Set(t, p11fault.Control{Present: true, Pinpad: true})
	m := newManager(t, fx.fault)
	lockAll(t, m)
	_, tok := certOn(t, m, "kyso-fault", "fault-rsa")
	if !tok.Flags.ProtectedAuthPath {
		t.Fatal("token does not report a protected authentication path")
	}
	pins := newPINCounter("must-not-be-used")
	if err := signOnce(t, faultSigner(t, m, pins)); err != nil {
		t.Fatal(err)
	}
	if pins.calls.Load() != 0 {
		t.Errorf("PIN source asked %d times on a pinpad reader", pins.calls.Load())
	}
	if fx.steer.Calls(t, "C_Login") != 1 {
		t.Errorf("C_Login calls = %d, want 1", fx.steer.Calls(t, "C_Login"))
	}
}

func TestSlowTokenDoesNotBlockOthers(t *testing.T) {
	fx.steer.Set(t, p11fault.Control{Present: true, SignDelay: 4 * time.Second})
	m := newManager(t, fx.fault, fx.softhsm)
	slow := faultSigner(t, m, newPINCounter(userPIN))
	fast, _ := certOnModule(t, m, fx.softhsm, "kyso-main", "personal-rsa")

	slowDone := make(chan error, 1)
	go func() { slowDone <- signOnce(t, slow) }()
	waitForCallOrDone(t, "C_Sign", 2, slowDone)

	// Listing every token and certificate and signing on another token both
	// finish while the slow signature is still running.
	certs, err := m.Certificates(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) == 0 {
		t.Fatal("no certificates listed")
	}
	fs, err := m.SignerOn(testContext(t), fast.TokenID, fast.Handle, newPINCounter(userPIN))
	if err != nil {
		t.Fatal(err)
	}
	if err := signOnce(t, fs); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-slowDone:
		t.Fatalf("the slow signature finished first (%v): the test proves nothing", err)
	default:
	}
	select {
	case err := <-slowDone:
		if err != nil {
			t.Fatalf("slow signature: %v", err)
		}
	case <-time.After(hangBound):
		t.Fatal("slow signature hung")
	}
}

func TestHotPlugEvents(t *testing.T) {
	tests := []struct {
		name   string
		module func(t *testing.T) string
	}{
		{"C_WaitForSlotEvent", func(*testing.T) string { return fx.fault }},
		{"polling", pollingFaultModule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.module(t)
			conf := path + ".conf"
			write := func(present bool) {
				t.Helper()
				c := p11fault.Control{Present: present, PIN: userPIN, WaitEvents: path == fx.fault}
				if err := c.Write(conf); err != nil {
					t.Fatal(err)
				}
			}
			write(true)
			t.Cleanup(func() { write(true) })
			m := newManager(t, path)
			wantEvents := "poll"
			if path == fx.fault {
				wantEvents = "wait"
			}
			if got := m.Modules()[0].SlotEvents; got != wantEvents {
				t.Fatalf("slot events = %s, want %s", got, wantEvents)
			}
			ctx := testContext(t)
			events := m.Watch(ctx)
			c, _ := certOn(t, m, "kyso-fault", "fault-rsa")

			write(false)
			expectEvent(t, events, EventTokenRemoved, "kyso-fault")
			if toks, _ := m.Tokens(ctx); hasToken(toks, "kyso-fault") {
				t.Error("removed token still listed")
			}
			write(true)
			expectEvent(t, events, EventTokenInserted, "kyso-fault")
			e := expectEvent(t, events, EventCertificatesChanged, "kyso-fault")
			found := false
			for _, ce := range e.Certificates {
				found = found || ce.Handle == c.Handle
			}
			if !found {
				t.Error("certificate list not refreshed after re-insertion")
			}
		})
	}
}

// pollingFaultModule is a copy of the fault module without slot events; as
// a separate file it is a separate module with its own control file.
func pollingFaultModule(t *testing.T) string {
	t.Helper()
	path := filepath.Join(fx.dir, "fault", "polling.so")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	data, err := os.ReadFile(fx.fault)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func expectEvent(t *testing.T, events <-chan Event, typ EventType, label string) Event {
	t.Helper()
	deadline := time.After(hangBound)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("event channel closed while waiting for %s", typ)
			}
			if e.Type == typ && e.Token.Label == label {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s event for %s", typ, label)
		}
	}
}

func hasToken(toks []TokenInfo, label string) bool {
	for _, tk := range toks {
		if tk.Label == label {
			return true
		}
	}
	return false
}

// setFaultControl changes the control within a test, keeping the epoch so
// PIN counters carry on.
func setFaultControl(t *testing.T, c p11fault.Control) {
	t.Helper()
	if err := fx.steer.Change(c); err != nil {
		t.Fatal(err)
	}
}

// waitForCallOrDone waits until the fault module has logged fn at least n
// times, failing if the operation behind done ends first.
func waitForCallOrDone(t *testing.T, fn string, n int, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(hangBound)
	for fx.steer.Calls(t, fn) < n {
		select {
		case err := <-done:
			t.Fatalf("operation ended (%v) before %s was called %d times", err, fn, n)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not called %d times", fn, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestListingRightAfterStartWaitsForTheFirstScan: an agent starts its
// event watcher (whose first scan reads every token) and a page asks for
// the certificates at the same moment. The listing must wait for that scan
// rather than answer from the half-filled state (seen as NO_CERTIFICATE
// right after `kyso serve` started).
func TestListingRightAfterStartWaitsForTheFirstScan(t *testing.T) {
	for i := 0; i < 30; i++ {
		m := NewManager(Options{Modules: []string{fx.softhsm}})
		ctx, cancel := context.WithCancel(testContext(t))
		// The agent's event hub starts watching on its own goroutine, while
		// requests come in.
		go m.Watch(ctx)
		// Give the watcher's goroutine a varying head start, so that some
		// attempts find its scan running (the scan itself takes
		// milliseconds); the assertion does not depend on the timing.
		time.Sleep(time.Duration(i%6) * 300 * time.Microsecond)
		certs, err := m.Certificates(ctx)
		cancel()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(certs) == 0 {
			t.Fatalf("attempt %d: no certificates listed while the watcher's first scan was running", i+1)
		}
	}
}
