package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/internal/p11fault"
)

// TestServeFault takes batches through `kyso serve` on a token behind the
// fault-injecting PKCS#11 module: the token pulled out in the middle, and
// the page cancelling in the middle. Either way the batch stops, the page
// gets exactly the documents that were signed, each one whole, and the
// audit log says the same.
func TestServeFault(t *testing.T) {
	f := newServeFixture(t)
	dir := filepath.Join(t.TempDir(), "fault")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	module, err := p11fault.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	control := p11fault.ControlPath(module)
	set := func(present bool) {
		t.Helper()
		// Each signature takes a while, so that the removal lands while
		// the batch is still running.
		c := p11fault.Control{Target: f.module, Present: present, SignDelay: 150 * time.Millisecond}
		if err := c.Write(control); err != nil {
			t.Fatal(err)
		}
	}
	set(true)
	srv := f.startServer(t, serverSpec{
		name:   "fault",
		policy: agent.Policy{AllowedOrigins: []string{qlvbOrigin}},
		script: serveScript{PIN: servePIN},
		module: module,
	})
	const n, at = 8, 2
	docs := make([]wsDoc, n)
	for i := range docs {
		docs[i] = wsDoc{Name: fmt.Sprintf("cv-%d.pdf", i+1), Data: f.letter}
	}

	// checkStopped checks what a stopped batch returned against the audit
	// log: only whole documents, in order, each with an "ok" record.
	checkStopped := func(t *testing.T, a wsAnswer, code, method string) {
		t.Helper()
		if a.Err == nil || a.Err.Code != code {
			t.Fatalf("answer %+v, want %s", a.Err, code)
		}
		if len(a.Docs) < at || len(a.Docs) >= n {
			t.Fatalf("%d documents back, want at least %d and fewer than %d", len(a.Docs), at, n)
		}
		for i, d := range a.Docs {
			checkIntact(t, docs[i].Name, d, 1)
		}
		signed, _ := a.Err.Details["signed"].([]any)
		if len(signed) != len(a.Docs) {
			t.Errorf("details.signed lists %d documents, %d came back: %v", len(signed), len(a.Docs), a.Err.Details)
		}
		for i, name := range signed {
			if name != docs[i].Name {
				t.Errorf("details.signed[%d] = %v, want %s", i, name, docs[i].Name)
			}
		}
		ok := 0
		for _, r := range srv.audit(t) {
			if r.Method == method && r.Result == "ok" {
				ok++
			}
		}
		if ok != len(a.Docs) {
			t.Errorf("%d audit records of signatures, %d documents came back", ok, len(a.Docs))
		}
	}

	t.Run("TokenRemovedMidBatch", func(t *testing.T) {
		set(true)
		c := srv.connect(t, qlvbOrigin)
		call := c.start("signPdfs", map[string]any{"options": signOpts("certificate", f.org)}, docs)
		for p := range call.progressCh {
			if p.Done == at {
				set(false)
				break
			}
		}
		a := c.wait(call)
		checkStopped(t, a, "TOKEN_REMOVED", "signPdfs")
		set(true)
	})

	t.Run("CancelMidBatch", func(t *testing.T) {
		set(true)
		before := len(srv.audit(t))
		c := srv.connect(t, qlvbOrigin)
		call := c.start("signPdfs", map[string]any{"options": signOpts("certificate", f.org)}, docs)
		for p := range call.progressCh {
			if p.Done == at {
				if ca := c.call("cancel", map[string]any{"id": call.id}, nil); ca.Err != nil {
					t.Fatalf("cancel: %v", ca.Err)
				}
				break
			}
		}
		a := c.wait(call)
		// The audit log now also holds the first subtest's records.
		ok := 0
		for _, r := range srv.audit(t)[before:] {
			if r.Result == "ok" {
				ok++
			}
		}
		if ok != len(a.Docs) {
			t.Errorf("%d new audit records of signatures, %d documents came back", ok, len(a.Docs))
		}
		if a.Err == nil || a.Err.Code != "CANCELLED" {
			t.Fatalf("answer %+v, want CANCELLED", a.Err)
		}
		if len(a.Docs) < at || len(a.Docs) >= n {
			t.Fatalf("%d documents back, want at least %d and fewer than %d", len(a.Docs), at, n)
		}
		for i, d := range a.Docs {
			checkIntact(t, docs[i].Name, d, 1)
		}
	})
}
