package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func record(i int) AuditRecord {
	return AuditRecord{
		Time:        time.Date(2026, 11, 22, 9, 0, i, 0, time.UTC),
		Caller:      "https://qlvb.example.gov.vn",
		Method:      "signPdf",
		Profile:     "approved",
		Document:    fmt.Sprintf("Công văn %d.pdf", i),
		SHA256:      strings.Repeat("ab", 32),
		Certificate: strings.Repeat("cd", 32),
		Signer:      "Nguyễn Văn A",
		Result:      "ok",
	}
}

func TestAuditConcurrentWriters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := OpenAuditLog(dir, AuditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := record(i)
				r.Document = fmt.Sprintf("w%d-%d.pdf\nwith a newline", w, i)
				if err := l.Record(r); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Record(record(0)); err == nil {
		t.Error("Record after Close succeeded")
	}

	path := filepath.Join(dir, AuditFileName)
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("audit log mode %v, want 0600", fi.Mode().Perm())
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	lines := 0
	seen := map[string]bool{}
	for sc.Scan() {
		lines++
		var r AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d is not a record: %v: %s", lines, err, sc.Text())
		}
		seen[r.Document] = true
	}
	if lines != writers*each || len(seen) != writers*each {
		t.Errorf("%d lines, %d distinct records; want %d", lines, len(seen), writers*each)
	}
}

func TestAuditRotation(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	line, _ := json.Marshal(record(0))
	// Room for three records per file.
	opts := AuditOptions{MaxBytes: int64(3*(len(line)+1) + 10), Keep: 2, Clock: clock.now}
	l, err := OpenAuditLog(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if err := l.Record(record(i)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 && i < 6 {
			clock.advance(time.Second)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rotated, err := rotatedAuditFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Rotations at records 3, 6 and 9 (the last two in the same second);
	// only the newest two are kept.
	want := []string{"audit-20261122-090002.jsonl", "audit-20261122-090002-1.jsonl"}
	if strings.Join(rotated, " ") != strings.Join(want, " ") {
		t.Errorf("rotated = %v, want %v", rotated, want)
	}
	recs, skipped, err := ReadAudit(dir)
	if err != nil || skipped != 0 {
		t.Fatalf("ReadAudit: %v, %d skipped", err, skipped)
	}
	if len(recs) != 9 {
		t.Fatalf("%d records, want 9 (three files of three)", len(recs))
	}
	for i, r := range recs {
		if want := fmt.Sprintf("Công văn %d.pdf", i+3); r.Document != want {
			t.Errorf("record %d is %q, want %q (oldest first)", i, r.Document, want)
		}
	}
}

func TestParseRotatedName(t *testing.T) {
	cases := []struct {
		name  string
		stamp string
		seq   int
		ok    bool
	}{
		{"audit-20261122-090002.jsonl", "20261122-090002", 0, true},
		{"audit-20261122-090002-3.jsonl", "20261122-090002", 3, true},
		{"audit.jsonl", "", 0, false},
		{"audit-20261122-090002-0.jsonl", "", 0, false},
		{"audit-20261122-090002x.jsonl", "", 0, false},
		{"audit-2026112-0900021.jsonl", "", 0, false},
		{"audit-20261122-090002.jsonl.tmp", "", 0, false},
	}
	for _, c := range cases {
		stamp, seq, ok := parseRotatedName(c.name)
		if stamp != c.stamp || seq != c.seq || ok != c.ok {
			t.Errorf("parseRotatedName(%q) = %q, %d, %v", c.name, stamp, seq, ok)
		}
	}
}

func TestAuditTornLine(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenAuditLog(dir, AuditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Record(record(i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// A crash in the middle of a write leaves part of a line.
	path := filepath.Join(dir, AuditFileName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"time":"2026-11-22T09:00:09Z","caller":"https://q`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	recs, skipped, err := ReadAudit(dir)
	if err != nil || len(recs) != 3 || skipped != 0 {
		t.Fatalf("after a torn write: %d records, %d skipped, %v; want 3, 0", len(recs), skipped, err)
	}

	// The agent restarts: the fragment is closed off so that the next
	// record is a line of its own, and the fragment counts as damage.
	l, err = OpenAuditLog(dir, AuditOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Record(record(4)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	recs, skipped, err = ReadAudit(dir)
	if err != nil || len(recs) != 4 || skipped != 1 {
		t.Fatalf("after restart: %d records, %d skipped, %v; want 4, 1", len(recs), skipped, err)
	}
	if recs[3].Document != "Công văn 4.pdf" {
		t.Errorf("last record = %+v", recs[3])
	}

	if recs, skipped, err := ReadAudit(filepath.Join(dir, "none")); err != nil || recs != nil || skipped != 0 {
		t.Errorf("missing folder: %v, %d, %v", recs, skipped, err)
	}
}

func TestSummarize(t *testing.T) {
	recs := []AuditRecord{
		{Time: time.Date(2026, 11, 21, 16, 30, 0, 0, time.UTC), Caller: "https://a.gov.vn", Profile: "approved", Signer: "Nguyễn Văn A", Result: "ok"},
		// 17:30 UTC is 00:30 the next day in Vietnam.
		{Time: time.Date(2026, 11, 21, 17, 30, 0, 0, time.UTC), Caller: "https://a.gov.vn", Profile: "issued", Signer: "Sở X", Result: "ok"},
		{Time: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC), Caller: "local", Profile: "approved", Signer: "Nguyễn Văn A", Result: "PIN_INCORRECT"},
		{Time: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), Caller: "https://b.gov.vn", Certificate: "abcd", Result: "USER_CANCELLED"},
	}
	s := Summarize(recs)
	checks := []struct {
		name string
		got  map[string]int
		want map[string]int
	}{
		{"day", s.ByDay, map[string]int{"2026-11-21": 1, "2026-11-22": 3}},
		{"profile", s.ByProfile, map[string]int{"approved": 2, "issued": 1, "": 1}},
		{"signer", s.BySigner, map[string]int{"Nguyễn Văn A": 2, "Sở X": 1, "abcd": 1}},
		{"origin", s.ByOrigin, map[string]int{"https://a.gov.vn": 2, "local": 1, "https://b.gov.vn": 1}},
		{"result", s.ByResult, map[string]int{"ok": 2, "PIN_INCORRECT": 1, "USER_CANCELLED": 1}},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("by %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.Total != 4 || !s.First.Equal(recs[0].Time) || !s.Last.Equal(recs[3].Time) {
		t.Errorf("total %d, %v → %v", s.Total, s.First, s.Last)
	}
	sorted := SortedCounts(s.ByResult)
	if sorted[0] != (Count{"ok", 2}) || sorted[1] != (Count{"PIN_INCORRECT", 1}) {
		t.Errorf("SortedCounts = %v", sorted)
	}
}

// TestAuditGroupedSync: with SyncDelay a record is in the file as soon as
// Record returns (what survives the agent being killed), and Close leaves
// nothing unsynced behind.
func TestAuditGroupedSync(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenAuditLog(dir, AuditOptions{SyncDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := l.Record(AuditRecord{Caller: "local", Method: "signHash", SHA256: "aa", Result: "ok"}); err != nil {
			t.Fatal(err)
		}
		recs, skipped, err := ReadAudit(dir)
		if err != nil || skipped != 0 || len(recs) != i+1 {
			t.Fatalf("after record %d: %d records, %d skipped, %v", i+1, len(recs), skipped, err)
		}
	}
	l.mu.Lock()
	dirty := l.dirty
	l.mu.Unlock()
	if !dirty {
		t.Error("the records are marked synced although the delayed sync has not run")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.dirty {
		t.Error("Close left records unsynced")
	}
}
