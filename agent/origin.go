package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrInvalidOrigin is wrapped by every ParseOrigin and ParsePattern error.
var ErrInvalidOrigin = errors.New("invalid origin")

// Origin is a serialized web origin (RFC 6454): scheme, host and port.
// Two origins are the same site for kyso only when all three are equal;
// compare Origin values with ==. The zero Origin is not a valid origin.
type Origin struct {
	// Scheme is "https", or "http" for a loopback host.
	Scheme string
	// Host is a lowercase ASCII DNS name (IDNs in punycode), a dotted
	// IPv4 address, or an IPv6 address in brackets ("[::1]").
	Host string
	// Port is 0 for the scheme's default port (443 for https, 80 for
	// http), so "https://x:443" and "https://x" are the same Origin.
	Port int
}

// String serializes o the way a browser writes the Origin header.
func (o Origin) String() string {
	if o.Scheme == "" {
		return ""
	}
	s := o.Scheme + "://" + o.Host
	if o.Port != 0 {
		s += ":" + strconv.Itoa(o.Port)
	}
	return s
}

// DefaultPort is the scheme's port when a URL names none: 443 for https,
// 80 for http, 0 for any other scheme.
func DefaultPort(scheme string) int {
	switch scheme {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}

// EffectivePort is the port o is reached on: its Port, or the scheme's
// default when Port is 0.
func (o Origin) EffectivePort() int {
	if o.Port != 0 {
		return o.Port
	}
	return DefaultPort(o.Scheme)
}

// IsZero reports whether o is the zero Origin.
func (o Origin) IsZero() bool { return o == Origin{} }

// isLoopbackHost reports whether host may be served over plain http: a
// DMS demo or a local test page is on the user's own machine, where
// browsers treat http as a secure context.
func isLoopbackHost(host string) bool {
	return host == "127.0.0.1" || host == "localhost" || host == "[::1]"
}

// ParseOrigin reads a serialized origin, scheme://host[:port], as found in
// the Origin header and in policy and configuration files.
//
// It is strict, because origins are compared for exact equality and any
// leniency is a chance for a look-alike to pass: the scheme is https (or
// http for 127.0.0.1, localhost and [::1] only); no userinfo, path (not
// even "/"), query or fragment; no whitespace or control characters; no
// trailing dot; internationalised names must be written in punycode
// ("xn--..."), never in Unicode; "null" (sandboxed frames, file:// pages)
// is refused. Letter case is normalised to lowercase, since DNS names and
// schemes are case-insensitive and browsers always send lowercase; an
// explicit default port (https://x:443) is dropped.
func ParseOrigin(s string) (Origin, error) {
	o, err := parseOrigin(s, false)
	if err != nil {
		return Origin{}, err
	}
	return o.exact, nil
}

// OriginPattern is an entry of the machine policy's allowedOrigins: an
// exact origin, or "https://*.example.gov.vn", which matches every deeper
// subdomain of example.gov.vn (a.example.gov.vn, b.a.example.gov.vn) with
// the same scheme and port, but never example.gov.vn itself.
type OriginPattern struct {
	exact Origin
	// wildcard patterns keep the scheme and port in exact and the domain
	// after "*." in suffix.
	wildcard bool
	suffix   string
}

// ParsePattern reads a policy entry: an origin as ParseOrigin reads it,
// or one with exactly one leading "*." label. Wildcards need https and a
// domain of at least two labels ("*.vn" is refused), and never apply to
// IP addresses.
func ParsePattern(s string) (OriginPattern, error) {
	return parseOrigin(s, true)
}

// Match reports whether o is allowed by p: equal scheme, host and port,
// or for a wildcard, equal scheme and port and a host that is a proper
// subdomain of the pattern's domain (label-aligned, never a plain
// substring).
func (p OriginPattern) Match(o Origin) bool {
	if !p.wildcard {
		return !o.IsZero() && o == p.exact
	}
	if o.Scheme != p.exact.Scheme || o.Port != p.exact.Port {
		return false
	}
	// o came from ParseOrigin, so its host has only non-empty labels; the
	// pattern's domain ends in a non-numeric label, so an IPv4 address
	// cannot match, and an IPv6 host has no dot.
	return strings.HasSuffix(o.Host, "."+p.suffix) && len(o.Host) > len(p.suffix)+1
}

// Wildcard reports whether p is a "*." pattern.
func (p OriginPattern) Wildcard() bool { return p.wildcard }

// Origin returns the exact origin of a non-wildcard pattern, or the zero
// Origin for a wildcard one.
func (p OriginPattern) Origin() Origin {
	if p.wildcard {
		return Origin{}
	}
	return p.exact
}

// Scheme is the pattern's scheme.
func (p OriginPattern) Scheme() string { return p.exact.Scheme }

// Domain is a wildcard pattern's domain, the part after "*."
// ("example.gov.vn" for "https://*.example.gov.vn"); "" for an exact one.
func (p OriginPattern) Domain() string { return p.suffix }

// EffectivePort is the port the pattern's origins are reached on (its
// port, or the scheme's default).
func (p OriginPattern) EffectivePort() int { return p.exact.EffectivePort() }

// String serializes p as ParsePattern reads it.
func (p OriginPattern) String() string {
	if !p.wildcard {
		return p.exact.String()
	}
	return Origin{Scheme: p.exact.Scheme, Host: "*." + p.suffix, Port: p.exact.Port}.String()
}

func originError(s, reason string) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidOrigin, s, reason)
}

func parseOrigin(s string, allowWildcard bool) (OriginPattern, error) {
	if s == "" {
		return OriginPattern{}, originError(s, "empty")
	}
	if s == "null" {
		return OriginPattern{}, originError(s, `"null" is the origin of sandboxed frames and local files, which cannot be trusted`)
	}
	for _, r := range s {
		// Only printable ASCII: whitespace, control characters and
		// Unicode (IDN look-alikes, bidi controls) are all refused here.
		if r <= ' ' || r >= 0x7f {
			if r > 0x7f {
				return OriginPattern{}, originError(s, "non-ASCII character; write internationalised domain names in punycode (xn--…)")
			}
			return OriginPattern{}, originError(s, "whitespace or control character")
		}
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return OriginPattern{}, originError(s, "not scheme://host[:port]")
	}
	scheme = strings.ToLower(scheme)
	if scheme != "https" && scheme != "http" {
		return OriginPattern{}, originError(s, "scheme must be https")
	}
	if i := strings.IndexAny(rest, "/?#@\\"); i >= 0 {
		switch rest[i] {
		case '/', '\\':
			return OriginPattern{}, originError(s, "an origin has no path, not even a trailing /")
		case '?':
			return OriginPattern{}, originError(s, "an origin has no query")
		case '#':
			return OriginPattern{}, originError(s, "an origin has no fragment")
		default:
			return OriginPattern{}, originError(s, "an origin has no user name or password")
		}
	}
	host, port, err := splitHostPort(rest)
	if err != nil {
		return OriginPattern{}, originError(s, err.Error())
	}
	if port == defaultPort(scheme) {
		port = 0
	}
	host = strings.ToLower(host)

	var p OriginPattern
	if strings.HasPrefix(host, "*.") {
		if !allowWildcard {
			return OriginPattern{}, originError(s, "wildcards are only allowed in the machine policy's allowedOrigins")
		}
		if scheme != "https" {
			return OriginPattern{}, originError(s, "a wildcard needs https")
		}
		domain := host[2:]
		if err := checkDNSName(domain); err != nil {
			return OriginPattern{}, originError(s, err.Error())
		}
		if !strings.Contains(domain, ".") {
			return OriginPattern{}, originError(s, "a wildcard needs a domain of at least two labels")
		}
		if looksNumeric(domain[strings.LastIndexByte(domain, '.')+1:]) {
			return OriginPattern{}, originError(s, "a wildcard cannot cover IP addresses")
		}
		p.wildcard, p.suffix = true, domain
		p.exact = Origin{Scheme: scheme, Port: port}
		return p, nil
	}
	if strings.Contains(host, "*") {
		return OriginPattern{}, originError(s, `"*" is only allowed as the whole first label ("https://*.example.gov.vn")`)
	}
	host, err = checkHost(host)
	if err != nil {
		return OriginPattern{}, originError(s, err.Error())
	}
	if scheme == "http" && !isLoopbackHost(host) {
		return OriginPattern{}, originError(s, "http is only allowed for 127.0.0.1, localhost and [::1]; use https")
	}
	p.exact = Origin{Scheme: scheme, Host: host, Port: port}
	return p, nil
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// splitHostPort splits host[:port]; port is 0 when absent.
func splitHostPort(s string) (host string, port int, err error) {
	hostEnd := len(s)
	if strings.HasPrefix(s, "[") {
		i := strings.IndexByte(s, ']')
		if i < 0 {
			return "", 0, errors.New("unclosed [ in IPv6 address")
		}
		hostEnd = i + 1
		if hostEnd < len(s) && s[hostEnd] != ':' {
			return "", 0, errors.New("unexpected characters after the IPv6 address")
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		hostEnd = i
	}
	host = s[:hostEnd]
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	if hostEnd == len(s) {
		return host, 0, nil
	}
	ps := s[hostEnd+1:]
	if ps == "" {
		return "", 0, errors.New("empty port")
	}
	for _, c := range ps {
		if c < '0' || c > '9' {
			return "", 0, fmt.Errorf("bad port %q", ps)
		}
	}
	if len(ps) > 1 && ps[0] == '0' {
		return "", 0, fmt.Errorf("port %q has a leading zero", ps)
	}
	n, err := strconv.Atoi(ps)
	if err != nil || n < 1 || n > 65535 {
		return "", 0, fmt.Errorf("port %q out of range", ps)
	}
	return host, n, nil
}

// checkHost validates a lowercase host and returns its canonical form.
func checkHost(host string) (string, error) {
	if strings.HasPrefix(host, "[") {
		a, err := netip.ParseAddr(strings.TrimSuffix(host[1:], "]"))
		if err != nil || !a.Is6() || a.Zone() != "" || a.Is4In6() {
			return "", fmt.Errorf("bad IPv6 address %s", host)
		}
		return "[" + a.String() + "]", nil
	}
	// A host whose last label is a number is an IPv4 address to a
	// browser, which rewrites forms like 127.1 or 0x7f.0.0.1; accept only
	// the canonical dotted quad so what is compared is what was meant.
	last := host[strings.LastIndexByte(host, '.')+1:]
	if looksNumeric(last) {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() || a.String() != host {
			return "", fmt.Errorf("bad IPv4 address %s (write it as four decimal numbers)", host)
		}
		return host, nil
	}
	if err := checkDNSName(host); err != nil {
		return "", err
	}
	return host, nil
}

func looksNumeric(label string) bool {
	if label == "" {
		return false
	}
	if strings.HasPrefix(label, "0x") {
		return true
	}
	for _, c := range label {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkDNSName accepts lowercase LDH names (and "_", which intranet names
// use): labels of 1 to 63 characters, 253 in all, no empty label, hence
// no trailing dot.
func checkDNSName(name string) error {
	if len(name) > 253 {
		return errors.New("host name too long")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			if strings.HasSuffix(name, ".") {
				return errors.New("trailing dot in host name")
			}
			return errors.New("empty label in host name")
		}
		if len(label) > 63 {
			return errors.New("host name label longer than 63 characters")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("character %q not allowed in a host name", c)
			}
		}
	}
	return nil
}
