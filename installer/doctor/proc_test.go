package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeProc builds a /proc tree: the socket tables and, per pid, its
// descriptors (name → link target), comm and cmdline.
type fakeProc struct {
	tcp, tcp6 []string // table lines after the header
	procs     map[int]fakeProcess
}

type fakeProcess struct {
	comm, cmdline string
	fds           map[string]string
	private       bool // fd folder unreadable, as another user's
}

func (fp fakeProc) write(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	writeFile(t, root, "net/tcp", []byte(header+strings.Join(fp.tcp, "\n")+"\n"))
	writeFile(t, root, "net/tcp6", []byte(header+strings.Join(fp.tcp6, "\n")+"\n"))
	writeFile(t, root, "self/comm", []byte("doctor.test\n"))
	for pid, p := range fp.procs {
		dir := filepath.Join(root, fmt.Sprint(pid))
		writeFile(t, dir, "comm", []byte(p.comm+"\n"))
		writeFile(t, dir, "cmdline", []byte(p.cmdline))
		fd := filepath.Join(dir, "fd")
		if err := os.MkdirAll(fd, 0o755); err != nil {
			t.Fatal(err)
		}
		for n, target := range p.fds {
			if err := os.Symlink(target, filepath.Join(fd, n)); err != nil {
				t.Fatal(err)
			}
		}
		if p.private {
			// Not readable even by root: a file in place of the folder.
			if err := os.RemoveAll(fd); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "fd", nil)
		}
	}
	return root
}

// tcpLine is a /proc/net/tcp line for a socket of uid in state st.
func tcpLine(local string, st string, uid, inode int) string {
	return fmt.Sprintf("   0: %s 00000000:0000 %s 00000000:00000000 00:00000000 00000000 %5d        0 %d 1 0000000000000000 100 0 0 10 0", local, st, uid, inode)
}

func TestPortOwners(t *testing.T) {
	// Port 19571 is 0x4C73. 127.0.0.1 is 0100007F in the table on a
	// little-endian machine; the test only runs its addresses there.
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" && runtime.GOARCH != "386" {
		return
	}
	nginx := fakeProcess{comm: "nginx", cmdline: "nginx: master process\x00-g\x00daemon off;\x00", fds: map[string]string{"0": "/dev/null", "6": "socket:[4242]"}}
	other := fakeProcess{comm: "bash", fds: map[string]string{"0": "/dev/pts/0", "3": "socket:[999]"}}
	tests := []struct {
		name    string
		proc    fakeProc
		want    []Process
		wantErr string
	}{
		{"IPv4 loopback listener", fakeProc{
			tcp:   []string{tcpLine("0100007F:4C73", "0A", 33, 4242), tcpLine("0100007F:4C73", "01", 33, 777)},
			procs: map[int]fakeProcess{1234: nginx, 99: other},
		}, []Process{{PID: 1234, Name: "nginx", Cmdline: "nginx: master process -g daemon off;"}}, ""},
		{"IPv4 wildcard listener", fakeProc{
			tcp:   []string{tcpLine("00000000:4C73", "0A", 33, 4242)},
			procs: map[int]fakeProcess{1234: nginx},
		}, []Process{{PID: 1234, Name: "nginx", Cmdline: "nginx: master process -g daemon off;"}}, ""},
		{"IPv6 wildcard listener", fakeProc{
			tcp6:  []string{tcpLine("00000000000000000000000000000000:4C73", "0A", 33, 4242)},
			procs: map[int]fakeProcess{1234: nginx},
		}, []Process{{PID: 1234, Name: "nginx", Cmdline: "nginx: master process -g daemon off;"}}, ""},
		{"listener on another address", fakeProc{
			tcp:   []string{tcpLine("0101A8C0:4C73", "0A", 33, 4242)},
			procs: map[int]fakeProcess{1234: nginx},
		}, nil, ""},
		{"another port", fakeProc{
			tcp:   []string{tcpLine("0100007F:4C74", "0A", 33, 4242)},
			procs: map[int]fakeProcess{1234: nginx},
		}, nil, ""},
		{"another user's process", fakeProc{
			tcp:   []string{tcpLine("0100007F:4C73", "0A", 0, 4242)},
			procs: map[int]fakeProcess{1: {comm: "systemd", private: true}},
		}, nil, "uid 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PortOwners(tc.proc.write(t), 19571)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("owners %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestPortOwnerInFinding: the finding for a port held by another program
// names it, read from the (fake) process table.
func TestPortOwnerInFinding(t *testing.T) {
	port := plainListener(t)
	local := fmt.Sprintf("0100007F:%04X", port)
	cfg := isolated(t)
	cfg.Ports = []int{port}
	cfg.ProcRoot = fakeProc{
		tcp:   []string{tcpLine(local, "0A", 1000, 5555)},
		procs: map[int]fakeProcess{2468: {comm: "print-agent", cmdline: "/opt/print/agent\x00", fds: map[string]string{"9": "socket:[5555]"}}},
	}.write(t)
	rep := Run(context.Background(), cfg)
	vi, _ := render(t, rep)
	fs := rep.ByID("port.other")
	if len(fs) != 1 {
		t.Fatalf("findings %v", ids(rep.Findings))
	}
	if !strings.Contains(vi, "print-agent (tiến trình 2468)") {
		t.Errorf("the program is not named:\n%s", vi)
	}
	if procs, _ := fs[0].Details["processes"].([]Process); len(procs) != 1 || procs[0].PID != 2468 {
		t.Errorf("details %+v", fs[0].Details)
	}
}

// TestPortOwnerReal finds this test process holding a listener through
// the real /proc.
func TestPortOwnerReal(t *testing.T) {
	if runtime.GOOS != "linux" {
		return
	}
	port := plainListener(t)
	got, err := PortOwners("/proc", port)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].PID != os.Getpid() {
		t.Fatalf("owners %+v, want this process (%d)", got, os.Getpid())
	}
}
