package instance

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// testDir returns a fresh private folder for an instance. It is a child of
// t.TempDir() made 0700 explicitly, because t.TempDir() itself follows the
// umask and is group-writable under the common 002 umask, which Acquire
// rightly refuses.
func testDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "k")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// recorder is a handler that remembers the requests it saw.
type recorder struct {
	info Info
	mu   sync.Mutex
	reqs []Request
}

func (r *recorder) handle(req Request) Info {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return r.info
}

func (r *recorder) requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// mustAcquire acquires dir with a recorder answering info, closing it when
// the test ends.
func mustAcquire(t *testing.T, dir string, info Info) (*Instance, *recorder) {
	t.Helper()
	rec := &recorder{info: info}
	inst, err := Acquire(dir, rec.handle)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", dir, err)
	}
	t.Cleanup(func() { inst.Close() })
	return inst, rec
}

// signalCtx bounds Signal calls that are expected to succeed, so a bug shows
// up as a failure rather than as the whole test binary timing out.
func signalCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// mustSignal sends a show request and checks the reply is want.
func mustSignal(t *testing.T, dir string, want Info) {
	t.Helper()
	got, err := Signal(signalCtx(t), dir, Request{Command: CommandShow})
	if err != nil {
		t.Fatalf("Signal: %v", err)
	}
	if got != want {
		t.Fatalf("Signal = %+v, want %+v", got, want)
	}
}

func TestAcquireTwiceInSameDirIsRunning(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	want := Info{PID: 1, Port: 8765, Version: "first"}
	mustAcquire(t, dir, want)

	inst, err := Acquire(dir, func(Request) Info { return Info{Version: "second"} })
	if !errors.Is(err, ErrRunning) {
		if inst != nil {
			inst.Close()
		}
		t.Fatalf("second Acquire: err = %v, want ErrRunning", err)
	}
	// The failed attempt must not have disturbed the first instance's socket.
	mustSignal(t, dir, want)
}

// TestLockConflictsWithinProcess pins down the OS behaviour the package
// relies on: a lock taken through one open of the file conflicts with a lock
// through another open, even in the same process, and releasing it lets the
// other open take it.
func TestLockConflictsWithinProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(testDir(t), lockName)
	open := func() *os.File {
		t.Helper()
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	a, b := open(), open()
	if err := lockFile(a); err != nil {
		t.Fatalf("lock a: %v", err)
	}
	if err := lockFile(b); !errors.Is(err, ErrRunning) {
		t.Fatalf("lock b while a holds it: err = %v, want ErrRunning", err)
	}
	if held, err := lockHeld(path); err != nil || !held {
		t.Fatalf("lockHeld while a holds it = %v, %v; want true", held, err)
	}
	if err := unlockFile(a); err != nil {
		t.Fatalf("unlock a: %v", err)
	}
	if held, err := lockHeld(path); err != nil || held {
		t.Fatalf("lockHeld after unlock = %v, %v; want false", held, err)
	}
	if err := lockFile(b); err != nil {
		t.Fatalf("lock b after a unlocked: %v", err)
	}
}

func TestConcurrentAcquireHasOneWinner(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "k") // created by the racers
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []*Instance
		errs    []error
	)
	for range n {
		wg.Go(func() {
			inst, err := Acquire(dir, func(Request) Info { return Info{} })
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				winners = append(winners, inst)
			} else if !errors.Is(err, ErrRunning) {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	for _, w := range winners {
		t.Cleanup(func() { w.Close() })
	}
	if len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent Acquires succeeded, want exactly 1", len(winners), n)
	}
}

func TestSignalReachesHandler(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	want := Info{PID: os.Getpid(), Port: 8765, Version: "1.2.3"}
	_, rec := mustAcquire(t, dir, want)

	reqs := []Request{
		{Command: CommandShow},
		{Command: CommandShow, Args: []string{"--open", "/home/an/Hợp đồng số 1.pdf"}},
		{Command: CommandStatus},
	}
	for _, req := range reqs {
		got, err := Signal(signalCtx(t), dir, req)
		if err != nil {
			t.Fatalf("Signal(%+v): %v", req, err)
		}
		if got != want {
			t.Errorf("Signal(%+v) = %+v, want %+v", req, got, want)
		}
	}
	if got := rec.requests(); !reflect.DeepEqual(got, reqs) {
		t.Errorf("handler saw %+v, want %+v", got, reqs)
	}
}

func TestSignalNotRunning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the dir to signal
	}{
		{"missing folder", func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "never-created")
		}},
		{"empty folder", testDir},
		{"lock file left by a closed instance", func(t *testing.T) string {
			dir := testDir(t)
			inst, err := Acquire(dir, func(Request) Info { return Info{} })
			if err != nil {
				t.Fatal(err)
			}
			if err := inst.Close(); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
		{"stale socket and lock file", func(t *testing.T) string {
			dir := testDir(t)
			abandonSocket(t, filepath.Join(dir, socketName))
			if err := os.WriteFile(filepath.Join(dir, lockName), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return dir
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := tt.setup(t)
			_, err := Signal(signalCtx(t), dir, Request{Command: CommandShow})
			if !errors.Is(err, ErrNotRunning) {
				t.Fatalf("Signal: err = %v, want ErrNotRunning", err)
			}
		})
	}
}

func TestCloseReleasesEverything(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	inst, err := Acquire(dir, func(Request) Info { return Info{Version: "old"} })
	if err != nil {
		t.Fatal(err)
	}
	if err := inst.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := inst.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, socketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Close: Lstat err = %v, want not exist", err)
	}
	if _, err := Signal(signalCtx(t), dir, Request{Command: CommandShow}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Signal after Close: err = %v, want ErrNotRunning", err)
	}
	want := Info{Version: "new"}
	mustAcquire(t, dir, want)
	mustSignal(t, dir, want)
}

// abandonSocket leaves a bound socket file at path with nobody listening,
// which is what an instance killed with -9 leaves behind.
func abandonSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("abandoned socket is gone: %v", err)
	}
}

func TestStaleSocketDoesNotBlockAcquire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		leave func(t *testing.T, path string)
	}{
		{"regular file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("junk"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"abandoned socket", abandonSocket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testDir(t)
			tt.leave(t, filepath.Join(dir, socketName))
			want := Info{Port: 1}
			mustAcquire(t, dir, want)
			mustSignal(t, dir, want)
		})
	}
}

// childDirEnv marks the test binary as the child of TestCrossProcess and
// names the folder it should acquire.
const childDirEnv = "KYSO_INSTANCE_TEST_CHILD_DIR"

// childPort is what the child instance reports, to tell its replies apart.
const childPort = 4242

// TestMain runs the test binary as the child of TestCrossProcess when
// childDirEnv is set: a running instance until killed (or until its stdin
// closes, so that it cannot outlive a parent that died). Otherwise it runs
// the tests.
func TestMain(m *testing.M) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		os.Exit(m.Run())
	}
	inst, err := Acquire(dir, func(req Request) Info {
		return Info{PID: os.Getpid(), Port: childPort, Version: "child " + strings.Join(req.Args, " ")}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	inst.Close()
	os.Exit(0)
}

// startChild runs the test binary as a child instance in dir and waits until
// it holds the lock. The child is killed when the test ends.
func startChild(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	// Holding the pipe open keeps the child alive; see TestMain.
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "ready" {
			return cmd
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("child exited before it was ready: %s", stderr.String())
	return nil
}

func TestCrossProcess(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	child := startChild(t, dir)

	if inst, err := Acquire(dir, func(Request) Info { return Info{} }); !errors.Is(err, ErrRunning) {
		if inst != nil {
			inst.Close()
		}
		t.Fatalf("Acquire while the child runs: err = %v, want ErrRunning", err)
	}
	got, err := Signal(signalCtx(t), dir, Request{Command: CommandShow, Args: []string{"a.pdf"}})
	if err != nil {
		t.Fatalf("Signal the child: %v", err)
	}
	if want := (Info{PID: child.Process.Pid, Port: childPort, Version: "child a.pdf"}); got != want {
		t.Fatalf("Signal the child = %+v, want %+v", got, want)
	}

	// Kill it hard (SIGKILL on unix, TerminateProcess on Windows): no
	// Close, no cleanup, just the OS tearing the process down.
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait() // reports the kill; what matters is that the process is gone
	if _, err := os.Lstat(filepath.Join(dir, socketName)); err != nil {
		t.Fatalf("expected the killed child to leave its socket behind: %v", err)
	}
	if _, err := Signal(signalCtx(t), dir, Request{Command: CommandShow}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Signal after the child died: err = %v, want ErrNotRunning", err)
	}
	want := Info{PID: os.Getpid(), Version: "successor"}
	mustAcquire(t, dir, want)
	mustSignal(t, dir, want)
}

func TestBadRequestClosesConnection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
	}{
		{"empty", ""},
		{"not JSON", "show me\n"},
		{"binary", "\x00\xff\xfe\x01\n"},
		{"truncated JSON", `{"command":"show","args":["a`},
		{"wrong type", `{"command":42}` + "\n"},
		{"over 4 KiB", `{"command":"show","args":["` + strings.Repeat("a", maxRequest) + `"]}` + "\n"},
		{"endless whitespace", strings.Repeat(" ", 2*maxRequest)},
	}
	dir := testDir(t)
	want := Info{Version: "still here"}
	_, rec := mustAcquire(t, dir, want)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("unix", filepath.Join(dir, socketName))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The write may fail once the instance has hung up on an
			// over-long request; the read below is what matters.
			c.Write([]byte(tt.payload))
			c.(*net.UnixConn).CloseWrite()
			// Closing with our bytes unread can surface as a reset rather
			// than EOF, so only the absence of a reply is checked.
			got, _ := io.ReadAll(c)
			if len(got) != 0 {
				t.Errorf("got reply %q to a bad request, want the connection closed", got)
			}
			mustSignal(t, dir, want)
		})
	}
	if n := len(rec.requests()); n != len(tests) {
		t.Errorf("handler called %d times, want %d (once per good Signal only)", n, len(tests))
	}
}

func TestUnknownCommandIsRefused(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	want := Info{Port: 2}
	_, rec := mustAcquire(t, dir, want)
	_, err := Signal(signalCtx(t), dir, Request{Command: "format-disk"})
	if err == nil || errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("Signal(unknown command): err = %v, want an unknown-command refusal", err)
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("handler called %d times for an unknown command", n)
	}
	mustSignal(t, dir, want)
}

func TestSignalRefusesOversizeRequest(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	_, rec := mustAcquire(t, dir, Info{})
	_, err := Signal(signalCtx(t), dir, Request{Command: CommandShow, Args: []string{strings.Repeat("x", maxRequest)}})
	if err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("Signal(oversize): err = %v, want a size error", err)
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("handler called %d times for an oversize request", n)
	}
}

// silentConn connects to the instance in dir and sends nothing.
func silentConn(t *testing.T, dir string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", filepath.Join(dir, socketName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSilentClientIsDropped(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	inst, err := acquire(dir, func(Request) Info { return Info{} }, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	c := silentConn(t, dir)
	// Returns only when the instance hangs up on us.
	if got, _ := io.ReadAll(c); len(got) != 0 {
		t.Fatalf("got %q from the instance, want it to hang up", got)
	}
}

func TestSilentClientDoesNotBlockOthersOrClose(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	// A timeout far beyond the test's own: if Close waited for silent
	// clients instead of cutting them off, this test would hang.
	inst, err := acquire(dir, func(Request) Info { return Info{Port: 3} }, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	silentConn(t, dir)
	silentConn(t, dir)
	mustSignal(t, dir, Info{Port: 3})
	if err := inst.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// holdLock takes dir's lock the way a starting instance does, without
// listening yet.
func holdLock(t *testing.T, dir string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

func TestSignalWaitsForListener(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	holdLock(t, dir)
	abandonSocket(t, filepath.Join(dir, socketName)) // a predecessor's debris

	type result struct {
		info Info
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := Signal(signalCtx(t), dir, Request{Command: CommandShow})
		done <- result{info, err}
	}()
	// Give Signal time to find nobody listening and start retrying. This
	// only makes the retry path likely to run; the outcome checked below
	// must be the same either way.
	time.Sleep(200 * time.Millisecond)

	ln, err := listen(filepath.Join(dir, socketName))
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Port: 99, Version: "late"}
	// Answer one request the way an instance would. If Signal gives up
	// instead of retrying, closing the listener below ends this.
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		var req Request
		if err := json.NewDecoder(c).Decode(&req); err != nil {
			served <- err
			return
		}
		served <- json.NewEncoder(c).Encode(reply{Info: want})
	}()
	r := <-done
	ln.Close()
	if r.err != nil || r.info != want {
		t.Fatalf("Signal = %+v, %v; want %+v", r.info, r.err, want)
	}
	if err := <-served; err != nil {
		t.Fatalf("serving the request: %v", err)
	}
}

func TestSignalGivesUpWhenContextEnds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"no socket yet", func(*testing.T, string) {}},
		{"stale socket", func(t *testing.T, dir string) { abandonSocket(t, filepath.Join(dir, socketName)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testDir(t)
			holdLock(t, dir)
			tt.setup(t, dir)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := Signal(ctx, dir, Request{Command: CommandShow})
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNotRunning) {
				t.Fatalf("Signal: err = %v, want context.Canceled (the lock is held)", err)
			}
		})
	}
}

func TestAcquireRejectsNilHandler(t *testing.T) {
	t.Parallel()
	if inst, err := Acquire(testDir(t), nil); err == nil {
		inst.Close()
		t.Fatal("Acquire(nil handler) succeeded")
	}
}
