package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
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
	"testing"
	"time"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/bridge"
	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/softhsm"
	"github.com/kyso-vn/kyso/token"
)

// Whole-process benchmarks of `kyso serve`: the kysotest binary (scripted
// dialogs) on its own SoftHSM token, driven over WebSocket by this
// process, as in TestServe. Each runs once whatever b.N is (the setup
// builds the binary and a PKI); run them with -benchtime 1x, as `make
// bench` does. Targets are reported, never asserted: timings on a shared
// 2-core machine are not a test.

const (
	loadConns      = 200 // concurrent WebSocket connections
	loadPerConn    = 20  // signHash requests on each, one after another
	sequentialRuns = 500 // single-connection signHash latency samples
	rawRuns        = 500 // token signatures without the agent
	idleFor        = 60 * time.Second
)

// BenchmarkServeLoad measures `kyso serve` signing digests for many pages
// at once within a PIN session (policy pinSessionSeconds 600, so after one
// PIN every request shows a confirmation only): one signHash with the PIN
// to warm up, then loadConns connections × loadPerConn signHash each with
// the token's EC P-256 key, all of which must succeed. It reports the
// latency p50 and p99 under load, requests/s, the server's peak RSS, and
// the agent's own cost per request at p50: a single connection's signHash
// latency minus the bare token signature with the same key through the
// token layer in this process.
//
// A page may hold at most bridge.DefaultMaxConnsPerOrigin connections, so
// the connections come from enough origins, all allowed to sign digests.
func BenchmarkServeLoad(b *testing.B) {
	f := newServeFixture(b)
	perOrigin := bridge.DefaultMaxConnsPerOrigin
	var origins []string
	for i := range (loadConns + perOrigin - 1) / perOrigin {
		origins = append(origins, fmt.Sprintf("https://dms-%02d.example.gov.vn", i+1))
	}
	policy := agent.Policy{
		AllowedOrigins:     append([]string{qlvbOrigin}, origins...),
		HashSigningOrigins: append([]string{qlvbOrigin}, origins...),
		PINSessionSeconds:  600,
	}
	// Exactly one PIN: a second PIN dialog would get none and fail the
	// request, so every request after the warm-up must have been a
	// confirmation.
	srv := f.startServer(b, serverSpec{name: "load", policy: policy, script: serveScript{PINs: []string{servePIN}},
		logLevel: "info", noDialogRecord: true})

	ctx := context.Background()
	seq := srv.connect(b, qlvbOrigin)
	waitForCertificate(b, seq, f.org)
	if _, err := benchSignHash(seq, f.org, "warm-up"); err != nil {
		b.Fatalf("warm-up signHash (with the PIN): %v", err)
	}

	// (a) One connection, one request at a time.
	seqLat := make([]time.Duration, 0, sequentialRuns)
	for i := range sequentialRuns {
		start := time.Now()
		der, err := benchSignHash(seq, f.org, "seq-"+strconv.Itoa(i))
		seqLat = append(seqLat, time.Since(start))
		if err != nil {
			b.Fatalf("sequential signHash %d: %v", i, err)
		}
		if i == 0 {
			checkCMS(b, der, "seq-0")
		}
	}

	// The server's own time for the same requests, from its request log
	// (the warm-up with its PIN left out): the rest of the sequential
	// latency is the WebSocket round trip and this client.
	srvLat := requestDurations(b, srv, qlvbOrigin)
	if len(srvLat) != sequentialRuns+1 {
		b.Fatalf("%d signHash requests of %s in the server log, want %d", len(srvLat), qlvbOrigin, sequentialRuns+1)
	}
	srvLat = srvLat[1:]

	// Under load: every connection negotiated first, then all send.
	conns := make([]*wsClient, loadConns)
	for i := range conns {
		conns[i] = srv.connect(b, origins[i/perOrigin])
	}
	var (
		mu     sync.Mutex
		lat    = make([]time.Duration, 0, loadConns*loadPerConn)
		errs   []error
		wg     sync.WaitGroup
		start  = make(chan struct{})
		sample []byte
	)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			local := make([]time.Duration, 0, loadPerConn)
			for j := range loadPerConn {
				what := fmt.Sprintf("load-%d-%d", i, j)
				t0 := time.Now()
				der, err := benchSignHash(c, f.org, what)
				local = append(local, time.Since(t0))
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("connection %d request %d: %w", i, j, err))
					mu.Unlock()
					return
				}
				if i == 0 && j == 0 {
					mu.Lock()
					sample = der
					mu.Unlock()
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	if len(errs) > 0 {
		b.Fatalf("%d connections failed under load; first: %v\n%s", len(errs), errs[0], srv.logTail())
	}
	if len(lat) != loadConns*loadPerConn {
		b.Fatalf("%d requests answered, want %d", len(lat), loadConns*loadPerConn)
	}
	checkCMS(b, sample, "load-0-0")
	status, err := procStatus(srv.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}

	// (b) The bare token signature: same key, same token, through the
	// token layer in this process.
	raw := rawTokenSignatures(b, ctx, f, rawRuns)

	b.ReportMetric(msOf(percentile(lat, 50)), "load-p50-ms")
	b.ReportMetric(msOf(percentile(lat, 99)), "load-p99-ms")
	b.ReportMetric(float64(len(lat))/wall.Seconds(), "req/s")
	b.ReportMetric(msOf(percentile(seqLat, 50)), "seq-p50-ms")
	b.ReportMetric(msOf(percentile(seqLat, 99)), "seq-p99-ms")
	b.ReportMetric(msOf(percentile(srvLat, 50)), "seq-server-p50-ms")
	b.ReportMetric(msOf(percentile(raw, 50)), "token-p50-ms")
	b.ReportMetric(msOf(percentile(seqLat, 50)-percentile(raw, 50)), "overhead-p50-ms")
	b.ReportMetric(float64(status["VmHWM"])/1024, "server-peak-RSS-MiB")
	fmt.Fprintf(os.Stderr, "BenchmarkServeLoad: %d×%d signHash in %s; targets: overhead-p50 ≤ 0.5 ms, peak RSS ≤ 100 MiB\n",
		loadConns, loadPerConn, wall.Round(time.Millisecond))
}

// BenchmarkServeIdle measures `kyso serve` doing nothing: the token
// inserted, one client connected (hello done) and idle for idleFor. It
// reports the server's RSS at the end and the CPU time it used meanwhile
// (user + system, from /proc), which includes polling the token's slot
// list every second (SoftHSM has no slot events). It takes a minute.
// Targets: RSS ≤ 30 MiB, CPU near zero.
func BenchmarkServeIdle(b *testing.B) {
	f := newServeFixture(b)
	srv := f.startServer(b, serverSpec{name: "idle", policy: agent.Policy{AllowedOrigins: []string{qlvbOrigin}},
		script: serveScript{PIN: servePIN}, logLevel: "info", noDialogRecord: true})
	measureIdle(b, srv, "BenchmarkServeIdle")
}

// measureIdle holds one approved connection open to srv for idleFor and
// reports the server's RSS and CPU over that time.
func measureIdle(b *testing.B, srv *kysoServer, name string) {
	b.Helper()
	c := srv.connect(b, qlvbOrigin)
	if a := c.call("status", nil, nil); a.Err != nil {
		b.Fatalf("status: %v", a.Err)
	}
	pid := srv.cmd.Process.Pid
	before, err := procCPUTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	time.Sleep(idleFor)
	after, err := procCPUTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	wall := time.Since(t0)
	status, err := procStatus(pid)
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-c.done:
		b.Fatalf("the idle connection ended: %v", c.err())
	default:
	}
	// USER_HZ is 100 on every Linux kyso targets.
	cpu := float64(after-before) / 100
	b.ReportMetric(float64(status["VmRSS"])/1024, "server-RSS-MiB")
	b.ReportMetric(float64(status["VmHWM"])/1024, "server-peak-RSS-MiB")
	b.ReportMetric(cpu, "cpu-s")
	b.ReportMetric(100*cpu/wall.Seconds(), "cpu-%")
	fmt.Fprintf(os.Stderr, "%s: idle for %s; targets: RSS ≤ 30 MiB, CPU near zero\n", name, wall.Round(time.Second))
}

// benchSignHash signs a digest of what with cert over c and returns the
// CMS. Unlike wsClient.call it reports failures instead of ending the
// test, so it can run on many goroutines.
func benchSignHash(c *wsClient, cert token.Handle, what string) ([]byte, error) {
	digest := sha256.Sum256([]byte(what))
	c.mu.Lock()
	c.seq++
	id := "h" + strconv.Itoa(c.seq)
	call := &wsCall{id: id, docs: map[int]*bytes.Buffer{}, progressCh: make(chan wsProgress, 1), answer: make(chan wsAnswer, 1)}
	c.calls[id] = call
	c.mu.Unlock()
	msg, err := json.Marshal(map[string]any{"id": id, "method": "signHash", "params": map[string]any{
		"certificate": cert, "digest": base64.StdEncoding.EncodeToString(digest[:]), "hash": "sha256"}})
	if err != nil {
		return nil, err
	}
	if err := c.writeText(msg); err != nil {
		return nil, err
	}
	var a wsAnswer
	select {
	case a = <-call.answer:
	case <-c.done:
		return nil, fmt.Errorf("the connection ended: %v", c.err())
	case <-time.After(wsWait):
		return nil, fmt.Errorf("no answer within %s", wsWait)
	}
	if a.Err != nil {
		return nil, a.Err
	}
	var r struct {
		CMS []byte `json:"cms"`
	}
	if err := json.Unmarshal(a.Result, &r); err != nil || len(r.CMS) == 0 {
		return nil, fmt.Errorf("result %s: %v", a.Result, err)
	}
	return r.CMS, nil
}

// requestDurations reads the durations of the signHash requests of origin
// from the server's request log lines, in order.
func requestDurations(b *testing.B, srv *kysoServer, origin string) []time.Duration {
	b.Helper()
	var out []time.Duration
	for _, line := range strings.Split(srv.log(b), "\n") {
		if !strings.Contains(line, " msg=request ") || !strings.Contains(line, " method=signHash ") || !strings.Contains(line, " origin="+origin+" ") {
			continue
		}
		_, v, ok := strings.Cut(line, " duration=")
		if !ok {
			b.Fatalf("request log line without a duration: %s", line)
		}
		v, _, _ = strings.Cut(v, " ")
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("request log line %q: %v", line, err)
		}
		out = append(out, d)
	}
	return out
}

// waitForCertificate waits until the server lists cert, as a page does
// before it signs. Right after the start the token layer's first scan of
// the slots (the event watcher's) may still be reading the token, and a
// request meanwhile sees no token at all.
func waitForCertificate(b *testing.B, c *wsClient, cert token.Handle) {
	b.Helper()
	deadline := time.Now().Add(wsWait)
	for {
		a := c.call("listCertificates", map[string]any{"handle": cert}, nil)
		if a.Err != nil {
			b.Fatalf("listCertificates: %v", a.Err)
		}
		var certs []json.RawMessage
		if err := json.Unmarshal(a.Result, &certs); err != nil {
			b.Fatalf("listCertificates: %s: %v", a.Result, err)
		}
		if len(certs) > 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("the server did not list %s within %s", cert, wsWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkCMS checks that der is a valid signature over the digest of what:
// fast answers that sign nothing measure nothing.
func checkCMS(b *testing.B, der []byte, what string) {
	b.Helper()
	sd, err := cms.Parse(der)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte(what))
	if len(sd.Signers) != 1 || !bytes.Equal(sd.Signers[0].MessageDigest, digest[:]) {
		b.Fatalf("the CMS of %s does not sign its digest", what)
	}
	if err := sd.Signers[0].VerifySignature(); err != nil {
		b.Fatalf("the CMS of %s: %v", what, err)
	}
}

// rawTokenSignatures signs n SHA-256 digests with the fixture's EC key
// through token.Manager in this process and returns each signature's time.
//
// SoftHSM reads its configuration once per process and the token package
// never finalises a module, so another benchmark of this package may have
// left SoftHSM initialised with its own, deleted, token directory. A copy
// of the library is a separate library to the dynamic loader (another
// file), with its own initialisation reading this fixture's configuration;
// the server process has SoftHSM loaded on the same token directory too,
// which SoftHSM allows across processes.
func rawTokenSignatures(b *testing.B, ctx context.Context, f *serveFixture, n int) []time.Duration {
	b.Helper()
	lib := filepath.Join(b.TempDir(), "libsofthsm2-bench.so")
	if err := copyFile(f.module, lib); err != nil {
		b.Fatal(err)
	}
	b.Setenv(softhsm.ConfEnvVar, f.conf)
	m := token.NewManager(token.Options{Modules: []string{lib}})
	defer m.Close()
	if m.Loaded() != 1 {
		b.Fatalf("the SoftHSM copy did not load: %+v", m.Modules())
	}
	certs, err := m.Certificates(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var tokenID string
	for _, c := range certs {
		if c.Handle == f.org {
			tokenID = c.TokenID
		}
	}
	if tokenID == "" {
		b.Fatalf("the organisation key is not on the token seen in this process (%d certificates)", len(certs))
	}
	pins := token.PINFunc(func(context.Context, token.PINRequest) ([]byte, error) { return []byte(servePIN), nil })
	s, err := m.SignerOn(ctx, tokenID, f.org, pins)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]time.Duration, 0, n)
	for i := range n + 1 {
		digest := sha256.Sum256([]byte("raw-" + strconv.Itoa(i)))
		t0 := time.Now()
		if _, err := s.SignContext(ctx, digest[:], crypto.SHA256); err != nil {
			b.Fatalf("token signature %d: %v", i, err)
		}
		if i > 0 { // the first one logs in
			out = append(out, time.Since(t0))
		}
	}
	if err := m.Lock(ctx, tokenID); err != nil {
		b.Logf("logging the token out: %v", err)
	}
	return out
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// percentile is the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// procStatus reads the kB values of /proc/PID/status (VmRSS, VmHWM, …).
func procStatus(pid int) (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if f := strings.Fields(v); len(f) == 2 && f[1] == "kB" {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				out[k] = n
			}
		}
	}
	if out["VmRSS"] == 0 {
		return nil, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
	}
	return out, nil
}

// procCPUTicks is the user plus system time of a process, in clock ticks
// (fields 14 and 15 of /proc/PID/stat, counted after the command name,
// which may hold spaces).
func procCPUTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("/proc/PID/stat without a command name")
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return u + s, nil
}
