package agent

import (
	"errors"
	"testing"
)

func TestParseOrigin(t *testing.T) {
	good := []struct{ in, want string }{
		{"https://gov.vn", "https://gov.vn"},
		{"https://qlvb.example.gov.vn", "https://qlvb.example.gov.vn"},
		{"https://dms.example.vn:8443", "https://dms.example.vn:8443"},
		{"https://gov.vn:443", "https://gov.vn"},
		{"HTTPS://QLVB.Example.GOV.VN", "https://qlvb.example.gov.vn"},
		{"https://xn--b-hn-zqa.vn", "https://xn--b-hn-zqa.vn"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://localhost:3000", "http://localhost:3000"},
		{"http://localhost:80", "http://localhost"},
		{"http://[::1]:5173", "http://[::1]:5173"},
		{"http://[0:0:0:0:0:0:0:1]:5173", "http://[::1]:5173"},
		{"https://10.0.0.5", "https://10.0.0.5"},
		{"https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"},
		{"https://dms_intranet.local", "https://dms_intranet.local"},
	}
	for _, c := range good {
		t.Run("ok "+c.in, func(t *testing.T) {
			o, err := ParseOrigin(c.in)
			if err != nil {
				t.Fatalf("ParseOrigin(%q): %v", c.in, err)
			}
			if got := o.String(); got != c.want {
				t.Errorf("ParseOrigin(%q) = %q, want %q", c.in, got, c.want)
			}
			again, err := ParseOrigin(o.String())
			if err != nil || again != o {
				t.Errorf("String does not round-trip: %q → %v, %v", o.String(), again, err)
			}
		})
	}

	bad := []string{
		"",
		"null",
		"gov.vn",
		"//gov.vn",
		"https://",
		"https://:443",
		"ftp://gov.vn",
		"ws://gov.vn",
		"file://",
		"http://gov.vn",          // http only for loopback
		"http://127.0.0.2",       // not one of the three loopback names
		"http://dms.localhost",   // ditto
		"http://10.0.0.5",        // intranet over http
		"https://gov.vn/",        // path, even "/"
		"https://gov.vn/path",    //
		"https://gov.vn?x=1",     // query
		"https://gov.vn#top",     // fragment
		"https://user@gov.vn",    // userinfo
		"https://user:pw@gov.vn", //
		"https://evil.com@gov.vn",
		"https://gov.vn.",      // trailing dot
		"https://gov..vn",      // empty label
		"https://.gov.vn",      //
		"https://bộ.vn",        // IDN in Unicode
		"https://gov.vn\u200b", // zero-width space
		" https://gov.vn",      // whitespace
		"https://gov.vn ",      //
		"https://gov.vn\n",     //
		"https://gov.vn\t",     //
		"https://gov.vn:",      // empty port
		"https://gov.vn:0",     //
		"https://gov.vn:65536",
		"https://gov.vn:0443", // leading zero
		"https://gov.vn:+443",
		"https://gov.vn:44a",
		"https://gov.vn:443:443",
		"https://*.gov.vn", // wildcard outside the policy
		"https://a*.gov.vn",
		"https://127.1",       // non-canonical IPv4
		"https://0x7f.0.0.1",  //
		"https://127.000.0.1", //
		"https://gov.0x1",
		"https://[::1",
		"https://[fe80::1%25eth0]",
		"https://[::ffff:127.0.0.1]",
		"https://[::1]x",
		`https://gov.vn\evil.com`,
		"https://gov%2evn",
		"https://gov.vn;x",
		"https://-\x00.vn",
	}
	for _, in := range bad {
		t.Run("bad "+in, func(t *testing.T) {
			o, err := ParseOrigin(in)
			if err == nil {
				t.Fatalf("ParseOrigin(%q) = %q, want an error", in, o)
			}
			if !errors.Is(err, ErrInvalidOrigin) {
				t.Errorf("error %v does not wrap ErrInvalidOrigin", err)
			}
		})
	}
}

func TestOriginEquality(t *testing.T) {
	base := mustOrigin(t, "https://gov.vn")
	cases := []struct {
		in   string
		same bool
	}{
		{"https://gov.vn", true},
		{"https://gov.vn:443", true},
		{"https://GOV.VN", true},
		{"https://gov.vn.evil.com", false},
		{"https://evilgov.vn", false},
		{"https://sub.gov.vn", false},
		{"https://gov.vn:444", false},
		{"https://gov.vn:80", false},
		{"http://localhost", false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			if got := mustOrigin(t, c.in) == base; got != c.same {
				t.Errorf("%s == %s is %v, want %v", c.in, base, got, c.same)
			}
		})
	}
}

func TestParsePattern(t *testing.T) {
	bad := []string{
		"http://*.gov.vn",        // wildcards need https
		"https://*.vn",           // too broad
		"https://*",              //
		"https://*.",             //
		"https://*.*.gov.vn",     // one wildcard label only
		"https://a.*.gov.vn",     //
		"https://*gov.vn",        //
		"https://*.gov.vn.",      // trailing dot
		"https://*.0.1",          // IP addresses
		"https://*.gov.vn/",      // path
		"https://*.bộ.gov.vn",    // Unicode
		"https://user@*.gov.vn",  //
		"https://*.gov.vn:0",     //
		"https://*.gov.vn:70000", //
	}
	for _, in := range bad {
		t.Run("bad "+in, func(t *testing.T) {
			if p, err := ParsePattern(in); err == nil {
				t.Fatalf("ParsePattern(%q) = %s, want an error", in, p)
			}
		})
	}

	cases := []struct {
		pattern string
		origin  string
		match   bool
	}{
		{"https://*.example.gov.vn", "https://qlvb.example.gov.vn", true},
		{"https://*.example.gov.vn", "https://a.b.example.gov.vn", true},
		{"https://*.example.gov.vn", "https://QLVB.example.gov.vn:443", true},
		{"https://*.example.gov.vn", "https://example.gov.vn", false}, // never the bare domain
		{"https://*.example.gov.vn", "https://evilexample.gov.vn", false},
		{"https://*.example.gov.vn", "https://example.gov.vn.evil.com", false},
		{"https://*.example.gov.vn", "https://qlvb.example.gov.vn.evil.com", false},
		{"https://*.example.gov.vn", "https://qlvb.example.gov.vn:8443", false}, // port
		{"https://*.example.gov.vn:8443", "https://qlvb.example.gov.vn:8443", true},
		{"https://*.example.gov.vn:8443", "https://qlvb.example.gov.vn", false},
		{"https://*.example.gov.vn", "https://xn--qlvb-abc.example.gov.vn", true},
		{"https://*.gov.vn", "https://evil.com", false},
		{"https://gov.vn", "https://gov.vn", true},
		{"https://gov.vn", "https://gov.vn:443", true},
		{"https://gov.vn", "https://www.gov.vn", false},
		{"https://gov.vn", "https://gov.vn:8443", false},
		{"https://gov.vn", "https://evilgov.vn", false},
		{"http://localhost:3000", "http://localhost:3000", true},
		{"http://localhost:3000", "http://127.0.0.1:3000", false},
		{"https://*.example.gov.vn", "https://10.0.0.1", false},
	}
	for _, c := range cases {
		t.Run(c.pattern+" "+c.origin, func(t *testing.T) {
			p, err := ParsePattern(c.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Match(mustOrigin(t, c.origin)); got != c.match {
				t.Errorf("%s matches %s: %v, want %v", c.pattern, c.origin, got, c.match)
			}
		})
	}

	// Strings that are not origins never get as far as Match: the gate
	// parses first. "https://evil.com/.gov.vn" is the classic suffix
	// trick.
	for _, in := range []string{"https://evil.com/.gov.vn", "https://evil.com?.example.gov.vn", "https://evil.com#.example.gov.vn"} {
		if _, err := ParseOrigin(in); err == nil {
			t.Errorf("ParseOrigin(%q) succeeded", in)
		}
	}

	p, err := ParsePattern("HTTPS://*.Example.GOV.VN:443")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.String(), "https://*.example.gov.vn"; got != want || !p.Wildcard() || !p.Origin().IsZero() {
		t.Errorf("pattern = %q (wildcard %v, origin %v), want %q", got, p.Wildcard(), p.Origin(), want)
	}
	var zero OriginPattern
	if zero.Match(Origin{}) {
		t.Error("the zero pattern matches the zero origin")
	}
}

func mustOrigin(t *testing.T, s string) Origin {
	t.Helper()
	o, err := ParseOrigin(s)
	if err != nil {
		t.Fatalf("ParseOrigin(%q): %v", s, err)
	}
	return o
}

func TestPatternParts(t *testing.T) {
	tests := []struct {
		in             string
		scheme, domain string
		port           int
		host           string
	}{
		{"https://*.example.gov.vn", "https", "example.gov.vn", 443, ""},
		{"https://*.example.gov.vn:8443", "https", "example.gov.vn", 8443, ""},
		{"https://dms.example.vn", "https", "", 443, "dms.example.vn"},
		{"https://dms.example.vn:444", "https", "", 444, "dms.example.vn"},
		{"http://127.0.0.1", "http", "", 80, "127.0.0.1"},
	}
	for _, tc := range tests {
		p, err := ParsePattern(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if p.Scheme() != tc.scheme || p.Domain() != tc.domain || p.EffectivePort() != tc.port || p.Origin().Host != tc.host {
			t.Errorf("%s: scheme %q domain %q port %d host %q", tc.in, p.Scheme(), p.Domain(), p.EffectivePort(), p.Origin().Host)
		}
	}
	for scheme, want := range map[string]int{"https": 443, "http": 80, "ftp": 0} {
		if got := DefaultPort(scheme); got != want {
			t.Errorf("DefaultPort(%s) = %d, want %d", scheme, got, want)
		}
	}
}
