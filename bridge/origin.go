package bridge

import (
	"net/netip"
	"strconv"
	"strings"
)

// maxOriginBytes bounds an Origin header; real ones are far shorter.
const maxOriginBytes = 300

// wellFormedOrigin reports whether origin is exactly what a browser sends
// as a serialized tuple origin: "http" or "https", "://", a lowercase
// host (DNS name in ASCII/punycode, dotted IPv4, or bracketed IPv6 in
// canonical form), and a port only when it is not the scheme's default.
// Nothing is normalised: browsers already send this form, so anything
// else (upper case, a path, a trailing slash, userinfo, ":443" on https)
// did not come from a browser and is refused rather than guessed at.
func wellFormedOrigin(origin string) bool {
	if len(origin) > maxOriginBytes {
		return false
	}
	scheme, rest, ok := strings.Cut(origin, "://")
	if !ok {
		return false
	}
	var defaultPort string
	switch scheme {
	case "https":
		defaultPort = "443"
	case "http":
		defaultPort = "80"
	default:
		return false
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return false
		}
		host, port = rest[:end+1], rest[end+1:]
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
			if port == "" {
				return false
			}
		}
		if !validIPv6Host(host) {
			return false
		}
	} else {
		if i := strings.LastIndexByte(rest, ':'); i >= 0 {
			host, port = rest[:i], rest[i+1:]
			if port == "" {
				return false
			}
		}
		if !validHostName(host) {
			return false
		}
	}
	if port != "" {
		if port == defaultPort || !validPort(port) {
			return false
		}
	}
	return true
}

// validPort accepts 1–65535 written without leading zeros.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// validIPv6Host accepts "[addr]" where addr is in the canonical form a
// browser serializes (RFC 5952 compression, hexadecimal pieces only, no
// zone: the URL standard never writes an embedded dotted IPv4).
func validIPv6Host(h string) bool {
	if len(h) < 3 || h[0] != '[' || h[len(h)-1] != ']' || strings.Contains(h, ".") {
		return false
	}
	a, err := netip.ParseAddr(h[1 : len(h)-1])
	return err == nil && a.Is6() && a.Zone() == "" && a.String() == h[1:len(h)-1]
}

// validHostName accepts a lowercase ASCII DNS name or a canonical dotted
// IPv4 address. A name whose last label is numeric must be such an
// address: browsers turn "1.2.3" or "0x7f.1" into dotted IPv4 before
// serializing, so those spellings never come from one.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	last := labels[len(labels)-1]
	if isNumericLabel(last) {
		a, err := netip.ParseAddr(h)
		return err == nil && a.Is4() && a.String() == h
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func isNumericLabel(l string) bool {
	if l == "" {
		return false
	}
	if strings.HasPrefix(l, "0x") || strings.HasPrefix(l, "0X") {
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

// hostAllowed reports whether the Host header names this agent exactly:
// 127.0.0.1, localhost or [::1] with the port the connection arrived on.
// Any other name may be an attacker's domain rebound to 127.0.0.1.
func hostAllowed(host string, port int) bool {
	p := strconv.Itoa(port)
	return host == "127.0.0.1:"+p || host == "localhost:"+p || host == "[::1]:"+p
}
