package agent

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AuditFileName is the current audit log in its folder; rotated logs are
// named audit-YYYYMMDD-HHMMSS.jsonl (UTC time of the rotation, with
// "-N" appended when several rotations fall in one second).
const AuditFileName = "audit.jsonl"

// Audit log defaults.
const (
	DefaultAuditMaxBytes = 10 << 20
	DefaultAuditKeep     = 10
)

// AuditOptions tune an AuditLog; zero values take the defaults.
type AuditOptions struct {
	// MaxBytes rotates the log before a record would take it past this
	// size (default 10 MB).
	MaxBytes int64
	// Keep is how many rotated files are kept, the oldest removed first
	// (default 10; negative keeps them all).
	Keep int
	// Clock names the time of records without one and of rotations
	// (default time.Now).
	Clock func() time.Time
	// SyncDelay, when positive, groups fsyncs: a record is written (one
	// write(2), so it survives the agent being killed) before Record
	// returns, and made durable against power loss within SyncDelay,
	// together with the records that came meanwhile. Zero fsyncs every
	// record before Record returns.
	SyncDelay time.Duration
}

// AuditLog appends AuditRecords as JSON lines to dir/audit.jsonl. Each
// record is one write(2) of one complete line on a file opened O_APPEND,
// followed by fsync (at once, or grouped: AuditOptions.SyncDelay), so a
// crash loses at most the record being written
// and leaves at most a torn last line, which ReadAudit skips. One process
// (the agent) writes a folder; AuditLog is safe for concurrent use within
// it.
type AuditLog struct {
	dir  string
	opts AuditOptions

	mu     sync.Mutex
	f      *os.File
	size   int64
	closed bool
	// dirty: written since the last fsync; syncing: a delayed fsync is
	// scheduled (SyncDelay > 0).
	dirty, syncing bool
	timer          *time.Timer
}

// OpenAuditLog opens (creating as needed, folder 0700, file 0600) the
// audit log in dir. If the last line was torn by a crash it is ended
// with a newline first, so that the next record starts a line of its own
// instead of being glued to the fragment.
func OpenAuditLog(dir string, opts AuditOptions) (*AuditLog, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultAuditMaxBytes
	}
	if opts.Keep == 0 {
		opts.Keep = DefaultAuditKeep
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: audit log: %w", err)
	}
	l := &AuditLog{dir: dir, opts: opts}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *AuditLog) path() string { return filepath.Join(l.dir, AuditFileName) }

// open opens the current file and repairs a torn last line.
func (l *AuditLog) open() error {
	f, err := os.OpenFile(l.path(), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("agent: audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("agent: audit log: %w", err)
	}
	// A file created by something else with a looser mode is tightened:
	// the log names documents and signers.
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			f.Close()
			return fmt.Errorf("agent: audit log: %w", err)
		}
	}
	size := fi.Size()
	if size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			f.Close()
			return fmt.Errorf("agent: audit log: %w", err)
		}
		if last[0] != '\n' {
			n, err := f.Write([]byte{'\n'})
			size += int64(n)
			if err == nil {
				err = f.Sync()
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("agent: audit log: end torn line: %w", err)
			}
		}
	}
	l.f, l.size = f, size
	return nil
}

// Record appends r, stamping it with the current time when r.Time is
// zero, and returns once it is on disk.
func (l *AuditLog) Record(r AuditRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("agent: audit log: record after close")
	}
	if r.Time.IsZero() {
		r.Time = l.opts.Clock()
	}
	line, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("agent: audit log: encode: %w", err)
	}
	// json.Marshal escapes control characters in strings, so line holds
	// no newline before this one.
	line = append(line, '\n')
	if l.size > 0 && l.size+int64(len(line)) > l.opts.MaxBytes {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	n, err := l.f.Write(line)
	l.size += int64(n)
	if err != nil {
		return fmt.Errorf("agent: audit log: write: %w", err)
	}
	if l.opts.SyncDelay <= 0 {
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("agent: audit log: sync: %w", err)
		}
		return nil
	}
	l.dirty = true
	if !l.syncing {
		l.syncing = true
		l.timer = time.AfterFunc(l.opts.SyncDelay, l.flush)
	}
	return nil
}

// flush is the delayed fsync. It runs outside the lock so that records
// keep being written meanwhile; rotate and Close sync before closing the
// file, so a sync that loses the race to them has nothing left to do.
func (l *AuditLog) flush() {
	l.mu.Lock()
	f := l.f
	l.syncing, l.dirty = false, false
	l.mu.Unlock()
	if f == nil {
		return
	}
	if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
		// Nothing to return it to; the next record schedules another try.
		l.mu.Lock()
		l.dirty = true
		l.mu.Unlock()
	}
}

// rotate renames the current file aside, opens a fresh one and removes
// the oldest rotated files beyond Keep. l.mu held.
func (l *AuditLog) rotate() error {
	if l.dirty {
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("agent: audit log: sync for rotation: %w", err)
		}
		l.dirty = false
	}
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("agent: audit log: close for rotation: %w", err)
	}
	l.f = nil
	stamp := l.opts.Clock().UTC().Format("20060102-150405")
	name := "audit-" + stamp + ".jsonl"
	for i := 1; ; i++ {
		if _, err := os.Lstat(filepath.Join(l.dir, name)); errors.Is(err, os.ErrNotExist) {
			break
		}
		name = "audit-" + stamp + "-" + strconv.Itoa(i) + ".jsonl"
	}
	if err := os.Rename(l.path(), filepath.Join(l.dir, name)); err != nil {
		// Keep logging to the same file rather than losing records.
		if oerr := l.open(); oerr != nil {
			return errors.Join(fmt.Errorf("agent: audit log: rotate: %w", err), oerr)
		}
		return fmt.Errorf("agent: audit log: rotate: %w", err)
	}
	if err := l.open(); err != nil {
		return err
	}
	if l.opts.Keep > 0 {
		rotated, err := rotatedAuditFiles(l.dir)
		if err != nil {
			return err
		}
		for len(rotated) > l.opts.Keep {
			if err := os.Remove(filepath.Join(l.dir, rotated[0])); err != nil {
				return fmt.Errorf("agent: audit log: remove old log: %w", err)
			}
			rotated = rotated[1:]
		}
	}
	return nil
}

// Close closes the log; later Records fail.
func (l *AuditLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
	if l.f == nil {
		return nil
	}
	if l.dirty {
		if err := l.f.Sync(); err != nil {
			l.f.Close()
			return fmt.Errorf("agent: audit log: sync: %w", err)
		}
		l.dirty = false
	}
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("agent: audit log: %w", err)
	}
	return nil
}

// rotatedAuditFiles lists the rotated logs in dir, oldest first.
func rotatedAuditFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("agent: audit log: %w", err)
	}
	type rotated struct {
		name, stamp string
		seq         int
	}
	var list []rotated
	for _, e := range entries {
		stamp, seq, ok := parseRotatedName(e.Name())
		if ok && e.Type().IsRegular() {
			list = append(list, rotated{e.Name(), stamp, seq})
		}
	}
	// The fixed-width stamp sorts as text; "-N" suffixes come after the
	// plain name of the same second, in numeric order.
	slices.SortFunc(list, func(a, b rotated) int {
		return cmp.Or(strings.Compare(a.stamp, b.stamp), cmp.Compare(a.seq, b.seq))
	})
	names := make([]string, len(list))
	for i, r := range list {
		names[i] = r.name
	}
	return names, nil
}

// parseRotatedName reads audit-YYYYMMDD-HHMMSS[-N].jsonl.
func parseRotatedName(name string) (stamp string, seq int, ok bool) {
	rest, ok1 := strings.CutPrefix(name, "audit-")
	rest, ok2 := strings.CutSuffix(rest, ".jsonl")
	if !ok1 || !ok2 || len(rest) < 15 {
		return "", 0, false
	}
	stamp = rest[:15]
	if _, err := time.Parse("20060102-150405", stamp); err != nil {
		return "", 0, false
	}
	if rest = rest[15:]; rest != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(rest, "-"))
		if !strings.HasPrefix(rest, "-") || err != nil || n < 1 {
			return "", 0, false
		}
		seq = n
	}
	return stamp, seq, true
}

// ReadAudit reads every record in dir, rotated files first, oldest
// first. A missing folder holds no records. A last line without its
// newline (a record being written, or torn by a crash) is skipped
// silently; skipped counts the complete lines that are not valid records
// (damage or tampering), which are skipped too.
func ReadAudit(dir string) (records []AuditRecord, skipped int, err error) {
	names, err := rotatedAuditFiles(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	names = append(names, AuditFileName)
	for _, name := range names {
		recs, bad, err := readAuditFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		records = append(records, recs...)
		skipped += bad
	}
	return records, skipped, nil
}

func readAuditFile(path string) (records []AuditRecord, bad int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("agent: audit log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			// A fragment without its newline is not a record yet.
			return records, bad, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("agent: audit log %s: %w", path, err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue // the newline that ended a torn line
		}
		var r AuditRecord
		if err := json.Unmarshal(line, &r); err != nil || r.Time.IsZero() {
			bad++
			continue
		}
		records = append(records, r)
	}
}

// AuditSummary counts records for `kyso audit`.
type AuditSummary struct {
	Total       int
	First, Last time.Time
	// ByDay is keyed by the date in Vietnam (GMT+7), YYYY-MM-DD.
	ByDay map[string]int
	// ByProfile is keyed by profile; "" is a plain signature.
	ByProfile map[string]int
	// BySigner is keyed by the certificate's CN, or its handle when the
	// record has no CN.
	BySigner map[string]int
	// ByOrigin is keyed by caller: an origin or "local".
	ByOrigin map[string]int
	// ByResult is keyed by "ok" or the error code.
	ByResult map[string]int
}

// Summarize counts records per day, profile, signer, origin and result.
func Summarize(records []AuditRecord) AuditSummary {
	s := AuditSummary{
		ByDay:     map[string]int{},
		ByProfile: map[string]int{},
		BySigner:  map[string]int{},
		ByOrigin:  map[string]int{},
		ByResult:  map[string]int{},
	}
	for _, r := range records {
		s.Total++
		if s.First.IsZero() || r.Time.Before(s.First) {
			s.First = r.Time
		}
		if r.Time.After(s.Last) {
			s.Last = r.Time
		}
		s.ByDay[r.Time.In(vietnamTime).Format(time.DateOnly)]++
		s.ByProfile[r.Profile]++
		s.BySigner[cmp.Or(r.Signer, r.Certificate)]++
		s.ByOrigin[r.Caller]++
		s.ByResult[r.Result]++
	}
	return s
}

// Count is one line of a summary table.
type Count struct {
	Key string
	N   int
}

// SortedCounts lists m by decreasing count, then by key.
func SortedCounts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{k, n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.N, a.N), strings.Compare(a.Key, b.Key))
	})
	return out
}
