package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"github.com/kyso-vn/kyso/bridge"
	"github.com/kyso-vn/kyso/internal/instance"
)

func versionFinding(version string) Finding {
	if version == "" {
		version = "dev"
	}
	return Finding{ID: "version", Severity: SeverityInfo, Message: T("doctor.version", version, runtime.GOOS, runtime.GOARCH, runtime.Version()),
		Details: map[string]any{"version": version, "os": runtime.GOOS, "arch": runtime.GOARCH, "go": runtime.Version()}}
}

// PortState is what answers on a loopback port.
type PortState string

// The states of a port.
const (
	// PortFree: nothing listens; kyso can take it.
	PortFree PortState = "free"
	// PortKyso: a kyso agent answers GET /v1/hello.
	PortKyso PortState = "kyso"
	// PortOther: something listens that is not kyso.
	PortOther PortState = "other"
	// PortUnknown: the port could not be probed (a firewall dropping
	// loopback connections, a resource limit).
	PortUnknown PortState = "unknown"
)

// PortProbe is what ProbePort found on one port.
type PortProbe struct {
	Port  int
	State PortState
	// Version is the kyso version told by hello (PortKyso).
	Version string
	// Err says why the port could not be probed (PortUnknown), or what
	// the program on it answered instead of hello (PortOther).
	Err error
}

// hello is the part of the bridge's GET /v1/hello answer that says it is
// kyso.
type hello struct {
	Product string `json:"product"`
	Version string `json:"version"`
}

// ProbePort tells a free port from kyso and from another program: it
// connects to 127.0.0.1:port and, when something accepts, asks it
// GET /v1/hello, which a kyso bridge answers with {"product":"kyso",…}
// to a request without Origin. It never sends anything but that GET, so
// probing a port someone else's program holds is harmless.
func ProbePort(ctx context.Context, port int) PortProbe {
	p := PortProbe{Port: port}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if refused(err) {
			p.State = PortFree
			return p
		}
		p.State, p.Err = PortUnknown, fmt.Errorf("connect %s: %w", addr, err)
		return p
	}
	conn.Close()

	p.State = PortOther
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/hello", nil)
	if err != nil {
		p.Err = fmt.Errorf("hello request: %w", err)
		return p
	}
	// A client of its own: no proxy (a proxy would answer for the port),
	// no keep-alive left behind.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		p.Err = fmt.Errorf("GET /v1/hello: %w", err)
		return p
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		p.Err = fmt.Errorf("GET /v1/hello: HTTP %s", resp.Status)
		return p
	}
	var h hello
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h); err != nil {
		p.Err = fmt.Errorf("GET /v1/hello: %w", err)
		return p
	}
	if h.Product != "kyso" {
		p.Err = fmt.Errorf("GET /v1/hello: product %q", h.Product)
		return p
	}
	p.State, p.Version = PortKyso, h.Version
	return p
}

// ports returns the ports to probe.
func (c Config) ports() []int {
	if len(c.Ports) > 0 {
		return c.Ports
	}
	return []int{bridge.DefaultPort, bridge.DefaultFallbackPort}
}

// askInstance asks the running kyso run who it is.
func (c Config) askInstance(ctx context.Context) (instance.Info, error) {
	if c.Agent != nil {
		return c.Agent(ctx)
	}
	dir := c.InstanceDir
	if dir == "" {
		var err error
		if dir, err = instance.DefaultDir(); err != nil {
			return instance.Info{}, err
		}
	}
	return instance.Signal(ctx, dir, instance.Request{Command: instance.CommandStatus})
}

// checkAgent reports whether kyso run answers on its instance socket and
// what listens on each agent port, concurrently.
func checkAgent(ctx context.Context, e *env) []Finding {
	ports := e.cfg.ports()
	probes := make([]PortProbe, len(ports))
	var info instance.Info
	var ierr error
	var wg sync.WaitGroup
	wg.Go(func() {
		ictx, cancel := context.WithTimeout(ctx, instanceTimeout)
		defer cancel()
		info, ierr = e.cfg.askInstance(ictx)
	})
	for i, p := range ports {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			defer cancel()
			probes[i] = ProbePort(pctx, p)
		})
	}
	wg.Wait()
	// kyso run started with --port listens where the default probes do
	// not look: probe what it says too.
	if ierr == nil && info.Port > 0 && !slices.Contains(ports, info.Port) {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		probes = append(probes, ProbePort(pctx, info.Port))
		cancel()
	}

	var out []Finding
	kysoOn := 0
	for _, p := range probes {
		if p.State == PortKyso && kysoOn == 0 {
			kysoOn = p.Port
		}
	}
	switch {
	case ierr == nil:
		d := map[string]any{"pid": info.PID, "port": info.Port, "version": info.Version}
		f := Finding{ID: "agent.running", Severity: SeverityOK, Message: T("doctor.agent.running", info.PID, info.Port, info.Version), Details: d}
		if info.Version != "" && e.cfg.Version != "" && info.Version != e.cfg.Version {
			f.Severity = SeverityInfo
			f.Message = T("doctor.agent.running.other", info.PID, info.Port, info.Version, e.cfg.Version)
			f.Fix = T("doctor.agent.running.other.fix")
		}
		out = append(out, f)
	case errors.Is(ierr, instance.ErrNotRunning) && kysoOn != 0:
		// kyso serve, or another user's kyso run, holds the port.
		out = append(out, Finding{ID: "agent.serving", Severity: SeverityInfo, Message: T("doctor.agent.serving", kysoOn),
			Fix: T("doctor.agent.serving.fix"), Details: map[string]any{"port": kysoOn}})
	case errors.Is(ierr, instance.ErrNotRunning):
		out = append(out, Finding{ID: "agent.not-running", Severity: SeverityWarning, Message: T("doctor.agent.notRunning"),
			Fix: T("doctor.agent.notRunning.fix"), Details: map[string]any{}})
	default:
		out = append(out, Finding{ID: "agent.unreachable", Severity: SeverityWarning, Message: T("doctor.agent.unreachable", ierr.Error()),
			Fix: T("doctor.agent.unreachable.fix"), Details: map[string]any{"error": ierr.Error()}})
	}

	// A port held by another program is an error only when the agent has
	// nowhere left to listen.
	allOther := true
	for _, p := range probes {
		if p.State != PortOther {
			allOther = false
		}
	}
	for _, p := range probes {
		d := map[string]any{"port": p.Port, "state": string(p.State)}
		switch p.State {
		case PortFree:
			out = append(out, Finding{ID: "port.free", Severity: SeverityOK, Message: T("doctor.port.free", p.Port), Details: d})
		case PortKyso:
			d["version"] = p.Version
			addOwners(d, e.cfg, p.Port)
			out = append(out, Finding{ID: "port.kyso", Severity: SeverityOK, Message: T("doctor.port.kyso", p.Port, p.Version), Details: d})
		case PortOther:
			d["error"] = errString(p.Err)
			owners := addOwners(d, e.cfg, p.Port)
			who := T("doctor.port.owner.unknown")
			if len(owners) > 0 {
				who = T("doctor.port.owner", owners[0].Name, owners[0].PID)
			}
			sev := SeverityWarning
			if allOther && ierr != nil {
				sev = SeverityError
			}
			out = append(out, Finding{ID: "port.other", Severity: sev, Message: T("doctor.port.other", p.Port, who),
				Fix: T("doctor.port.other.fix"), Details: d})
		default:
			d["error"] = errString(p.Err)
			out = append(out, Finding{ID: "port.unknown", Severity: SeverityWarning, Message: T("doctor.port.unknown", p.Port, errString(p.Err)),
				Fix: T("doctor.port.unknown.fix"), Details: d})
		}
	}
	return out
}

// addOwners looks up the processes listening on port and records them in
// d; best effort, nothing when they cannot be known.
func addOwners(d map[string]any, c Config, port int) []Process {
	procRoot := c.ProcRoot
	if procRoot == "" {
		if runtime.GOOS != "linux" {
			// No process table to read; the message says how to look.
			return nil
		}
		procRoot = "/proc"
	}
	owners, err := PortOwners(procRoot, port)
	if err != nil {
		d["ownerError"] = err.Error()
	}
	if len(owners) > 0 {
		d["processes"] = owners
	}
	return owners
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
