package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/bridge"
	"github.com/kyso-vn/kyso/internal/i18n"
	"github.com/kyso-vn/kyso/internal/instance"
)

// plainListener is "another program": a TCP listener on 127.0.0.1 that
// accepts connections and closes them without a word.
func plainListener(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// helloServer answers GET /v1/hello with body, as a kyso bridge (or an
// impostor) would.
func helloServer(t *testing.T, status int, body string) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/hello" || r.Header.Get("Origin") != "" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func TestProbePort(t *testing.T) {
	tests := []struct {
		name    string
		port    int
		want    PortState
		version string
	}{
		{"free", freePort(t), PortFree, ""},
		{"plain TCP listener", plainListener(t), PortOther, ""},
		{"kyso", helloServer(t, http.StatusOK, `{"product":"kyso","protocols":[1],"version":"1.4.2"}`), PortKyso, "1.4.2"},
		{"another HTTP server", helloServer(t, http.StatusOK, `{"product":"printer-agent"}`), PortOther, ""},
		{"HTTP 404", helloServer(t, http.StatusNotFound, "no"), PortOther, ""},
		{"not JSON", helloServer(t, http.StatusOK, "<html>"), PortOther, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ProbePort(context.Background(), tc.port)
			if got.State != tc.want || got.Version != tc.version {
				t.Fatalf("%+v, want %s %q", got, tc.want, tc.version)
			}
			if tc.want == PortOther && got.Err == nil {
				t.Error("no reason for another program")
			}
		})
	}
}

// quietAgent is an agent.Service for a bridge that only answers hello:
// its one event stream ends with the bridge.
type quietAgent struct{ agent.Service }

func (quietAgent) Events(ctx context.Context) <-chan agent.Event {
	ch := make(chan agent.Event)
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch
}

// TestProbeRealBridge probes kyso's own bridge, so the probe and the hello
// endpoint cannot drift apart.
func TestProbeRealBridge(t *testing.T) {
	srv, err := bridge.New(bridge.Config{Service: quietAgent{}, Version: "9.8.7"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	got := ProbePort(context.Background(), ln.Addr().(*net.TCPAddr).Port)
	if got.State != PortKyso || got.Version != "9.8.7" {
		t.Fatalf("%+v, want kyso 9.8.7", got)
	}
}

func TestAgentFindings(t *testing.T) {
	kyso := helloServer(t, http.StatusOK, `{"product":"kyso","version":"test"}`)
	tests := []struct {
		name  string
		info  instance.Info
		err   error
		ports []int
		want  []string
		exit  int
	}{
		{"running", instance.Info{PID: 4321, Port: kyso, Version: "test"}, nil, []int{kyso},
			[]string{"agent.running:ok", "port.kyso:ok"}, 0},
		{"running on a port of its own", instance.Info{PID: 4321, Port: kyso, Version: "test"}, nil, []int{freePort(t)},
			[]string{"agent.running:ok", "port.free:ok", "port.kyso:ok"}, 0},
		{"running another version", instance.Info{PID: 4321, Port: kyso, Version: "0.9"}, nil, []int{kyso},
			[]string{"agent.running:info", "port.kyso:ok"}, 0},
		{"not running, ports free", instance.Info{}, instance.ErrNotRunning, []int{freePort(t), freePort(t)},
			[]string{"agent.not-running:warning", "port.free:ok", "port.free:ok"}, 0},
		{"kyso serve on the port", instance.Info{}, instance.ErrNotRunning, []int{kyso},
			[]string{"agent.serving:info", "port.kyso:ok"}, 0},
		{"primary port taken, fallback free", instance.Info{}, instance.ErrNotRunning, []int{plainListener(t), freePort(t)},
			[]string{"agent.not-running:warning", "port.other:warning", "port.free:ok"}, 0},
		{"every port taken", instance.Info{}, instance.ErrNotRunning, []int{plainListener(t), plainListener(t)},
			[]string{"agent.not-running:warning", "port.other:error", "port.other:error"}, 1},
		{"instance wedged", instance.Info{}, errors.New("instance: signal: instance is running but not answering"), []int{freePort(t)},
			[]string{"agent.unreachable:warning", "port.free:ok"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := isolated(t)
			cfg.Ports = tc.ports
			cfg.Agent = func(context.Context) (instance.Info, error) { return tc.info, tc.err }
			rep := Run(context.Background(), cfg)
			render(t, rep)
			got := ids(append(only(rep, "agent."), only(rep, "port.")...))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
			for _, f := range only(rep, "port.other") {
				if f.Fix.Key == "" {
					t.Errorf("port.other without a fix: %+v", f)
				}
			}
			// The whole report's exit code follows the worst finding; only
			// the agent part varies here.
			if rep.ExitCode() != tc.exit {
				t.Errorf("exit code %d, want %d (%v)", rep.ExitCode(), tc.exit, ids(rep.Findings))
			}
		})
	}
}

// TestInstanceSignal uses the real instance lock: a kyso run holding it
// answers with its pid, port and version; an empty folder is "not
// running".
func TestInstanceSignal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "instance")
	port := freePort(t)
	cfg := isolated(t)
	cfg.Agent = nil
	cfg.InstanceDir = dir
	cfg.Ports = []int{port}
	rep := Run(context.Background(), cfg)
	if got := ids(only(rep, "agent.")); len(got) != 1 || got[0] != "agent.not-running:warning" {
		t.Fatalf("no instance: %v", got)
	}

	inst, err := instance.Acquire(dir, func(instance.Request) instance.Info {
		return instance.Info{PID: os.Getpid(), Port: port, Version: "test"}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	rep = Run(context.Background(), cfg)
	fs := rep.ByID("agent.running")
	if len(fs) != 1 || fs[0].Details["pid"] != os.Getpid() || fs[0].Details["port"] != port {
		t.Fatalf("running: %v %+v", ids(rep.Findings), fs)
	}
	if msg := fs[0].Message.String(i18n.Vietnamese); !strings.Contains(msg, "đang chạy") {
		t.Errorf("message %q", msg)
	}
}
