package doctor

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Process is a program holding a port.
type Process struct {
	PID     int    `json:"pid"`
	Name    string `json:"name"`
	Cmdline string `json:"cmdline,omitempty"`
}

// tcpListenState is TCP_LISTEN in /proc/net/tcp's st column.
const tcpListenState = "0A"

// PortOwners names the processes listening where a connection to
// 127.0.0.1:port lands, from the Linux process table under procRoot
// (normally /proc): the listening sockets of procRoot/net/tcp and tcp6
// bound to 127.0.0.1, 0.0.0.0 or :: on that port, then the processes whose
// descriptors (procRoot/PID/fd/*) link to those sockets' inodes.
//
// It is best effort: the descriptors of another user's processes cannot
// be read without privileges, and then the error says whose socket it is.
func PortOwners(procRoot string, port int) ([]Process, error) {
	inodes := map[string]string{} // inode → uid
	var errs []error
	for _, name := range []string{"tcp", "tcp6"} {
		if err := listeningInodes(filepath.Join(procRoot, "net", name), port, inodes); err != nil {
			errs = append(errs, err)
		}
	}
	if len(inodes) == 0 {
		if len(errs) == 2 {
			return nil, fmt.Errorf("doctor: socket table: %w", errors.Join(errs...))
		}
		return nil, nil
	}
	entries, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("doctor: process table: %w", err)
	}
	var out []Process
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(procRoot, ent.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			// Another user's process, or one that just exited.
			continue
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			inode, ok := strings.CutPrefix(target, "socket:[")
			if !ok {
				continue
			}
			if _, hit := inodes[strings.TrimSuffix(inode, "]")]; hit {
				out = append(out, readProcess(procRoot, pid))
				break
			}
		}
	}
	if len(out) == 0 {
		var uids []string
		for _, u := range inodes {
			uids = append(uids, u)
		}
		return nil, fmt.Errorf("doctor: the socket on port %d belongs to a process of uid %s that this user cannot inspect", port, strings.Join(uids, ","))
	}
	return out, nil
}

// listeningInodes adds to inodes the sockets of one /proc/net table that
// listen on port where 127.0.0.1 reaches.
func listeningInodes(path string, port int, inodes map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != tcpListenState {
			continue
		}
		addr, p, ok := parseProcAddr(fields[1])
		if !ok || p != port || !reachesLoopback(addr) {
			continue
		}
		inodes[fields[9]] = fields[7]
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// parseProcAddr reads "0100007F:4C93": the address as the kernel's 32-bit
// words printed in hex in the machine's byte order, then the port in hex.
func parseProcAddr(s string) (netip.Addr, int, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, 0, false
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr, int(port), true
}

// reachesLoopback reports whether a socket bound to addr receives
// connections to 127.0.0.1: bound to it, or to every address (an IPv6
// wildcard socket also takes IPv4 unless it is v6only, which cannot be
// told from the table).
func reachesLoopback(addr netip.Addr) bool {
	addr = addr.Unmap()
	return addr == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || addr.IsUnspecified()
}

// readProcess reads a process's name and command line.
func readProcess(procRoot string, pid int) Process {
	p := Process{PID: pid}
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		p.Name = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		cmd := strings.TrimSpace(strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " "))
		if len(cmd) > 200 {
			cmd = strings.ToValidUTF8(cmd[:200], "") + "…"
		}
		p.Cmdline = cmd
	}
	if p.Name == "" {
		p.Name = "?"
	}
	return p
}
