package demodms

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kyso-vn/kyso/pades"
)

// tinyPDF is enough of a PDF for the store: the server checks the header
// and the incremental-update prefix, not the structure.
func tinyPDF(tag string) []byte {
	return []byte("%PDF-1.4\n% " + tag + "\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
}

func testAgencies() []Agency {
	return []Agency{
		{ID: "ubnd", Name: "UBND tỉnh Bình Phước"},
		{ID: "snv", Name: "Sở Nội vụ tỉnh Bình Phước"},
	}
}

// start runs a demo DMS with two agencies on ephemeral ports.
func start(t *testing.T, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{Agencies: testAgencies()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func get(t *testing.T, u string) response {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// post sends a multipart form: files maps field → (filename, bytes).
func post(t *testing.T, u string, fields map[string]string, fileField, filename string, data []byte) response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if fileField != "" {
		fw, err := mw.CreateFormFile(fileField, filename)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	mw.Close()
	req, err := http.NewRequest("POST", u, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return do(t, req)
}

func upload(t *testing.T, base, name string, data []byte) Document {
	t.Helper()
	r := post(t, base+"api/documents", nil, "file", name, data)
	if r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var d Document
	r.json(t, &d)
	return d
}

func listDocs(t *testing.T, base string) []Document {
	t.Helper()
	r := get(t, base+"api/documents")
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	var l struct{ Documents []Document }
	r.json(t, &l)
	return l.Documents
}

func TestURLsAndOrigins(t *testing.T) {
	s := start(t, nil)
	urls, origins := s.URLs(), s.Origins()
	if len(urls) != 2 || len(origins) != 2 {
		t.Fatalf("URLs %v, origins %v", urls, origins)
	}
	for i := range urls {
		if !strings.HasPrefix(urls[i], "http://127.0.0.1:") || urls[i] != origins[i]+"/" || strings.HasSuffix(origins[i], ":0") {
			t.Errorf("URL %q, origin %q", urls[i], origins[i])
		}
	}
	if origins[0] == origins[1] {
		t.Errorf("both agencies on %s", origins[0])
	}
	r := get(t, urls[1]+"api/agency")
	var a struct {
		ID, Name, URL, Place string
		Others               []struct{ ID, URL string }
	}
	r.json(t, &a)
	if a.ID != "snv" || a.Name != "Sở Nội vụ tỉnh Bình Phước" || a.URL != urls[1] || a.Place != "Bình Phước" ||
		len(a.Others) != 1 || a.Others[0].ID != "ubnd" || a.Others[0].URL != urls[0] {
		t.Errorf("agency: %+v", a)
	}
	if err := s.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Error("second Close:", err)
	}
	if _, err := http.Get(urls[0]); err == nil {
		t.Error("server still answers after Close")
	}
}

func TestContextEndsServer(t *testing.T) {
	s, err := New(Config{Agencies: testAgencies()[:1]})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	u := s.URLs()[0]
	if r := get(t, u); r.status != 200 {
		t.Fatalf("index: %d", r.status)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(u)
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still answers after the context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewRejects(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no agency":      {},
		"duplicate ID":   {Agencies: []Agency{{ID: "a", Name: "A"}, {ID: "a", Name: "B"}}},
		"bad ID":         {Agencies: []Agency{{ID: "Sở", Name: "A"}}},
		"no name":        {Agencies: []Agency{{ID: "a"}}},
		"duplicate port": {Agencies: []Agency{{ID: "a", Name: "A", Port: 19580}, {ID: "b", Name: "B", Port: 19580}}},
		"bad port":       {Agencies: []Agency{{ID: "a", Name: "A", Port: 70000}}},
		"sample not PDF": {Agencies: []Agency{{ID: "a", Name: "A"}}, Samples: map[string][]byte{"x.pdf": []byte("hello")}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestStartPortTaken(t *testing.T) {
	first := start(t, nil)
	u, _ := url.Parse(first.Origins()[0])
	port := 0
	fmt.Sscan(u.Port(), &port)
	s, err := New(Config{Agencies: []Agency{{ID: "x", Name: "X"}, {ID: "y", Name: "Y", Port: port}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err == nil {
		s.Close()
		t.Fatal("Start on a taken port succeeded")
	}
}

func TestUploadFetchAndSignedVersions(t *testing.T) {
	s := start(t, nil)
	base := s.URLs()[0]
	orig := tinyPDF("a")
	d := upload(t, base, "Quyết định 1.pdf", orig)
	if d.State != StateNew || d.Name != "Quyết định 1.pdf" || d.Size != len(orig) || d.Agency != "ubnd" {
		t.Fatalf("uploaded: %+v", d)
	}

	r := get(t, base+"files/"+d.ID)
	if r.status != 200 || r.header.Get("Content-Type") != "application/pdf" || !bytes.Equal(r.body, orig) {
		t.Fatalf("files: %d %q", r.status, r.header.Get("Content-Type"))
	}

	// An incremental update: the old bytes, then more.
	signed := append(append([]byte{}, orig...), []byte("1 0 obj\n<< >>\nendobj\n%%EOF\n")...)
	r = post(t, base+"api/documents/"+d.ID+"/signed", map[string]string{"profile": "approved", "user": "lanhdao"}, "file", "x.pdf", signed)
	if r.status != 200 {
		t.Fatalf("signed: %d %s", r.status, r.body)
	}
	var got Document
	r.json(t, &got)
	if got.State != StateApproved || got.StateVi == "" || len(got.History) != 1 {
		t.Fatalf("after approval: %+v", got)
	}
	h := got.History[0]
	if h.Profile != "approved" || h.ProfileVi != "Ký phê duyệt" || h.User != "lanhdao" || h.Via != "sdk" || h.Agency != "ubnd" ||
		h.Size != len(signed) || h.At.IsZero() || h.SHA256 != digest(signed) {
		t.Errorf("history: %+v", h)
	}
	if r := get(t, base+"files/"+d.ID); !bytes.Equal(r.body, signed) {
		t.Error("files does not serve the signed version")
	}
	r = get(t, base+"api/documents/"+d.ID)
	var meta Document
	r.json(t, &meta)
	if meta.SHA256 != digest(signed) || len(meta.History) != 1 {
		t.Errorf("metadata: %+v", meta)
	}

	// Not an extension of the current version: refused, nothing changes.
	for name, data := range map[string][]byte{
		"other file":  append(tinyPDF("b"), "more"...),
		"older":       append(append([]byte{}, orig...), "different tail"...),
		"same bytes":  signed,
		"truncated":   signed[:len(signed)-3],
		"other start": append([]byte("%PDF-1.7\n"), signed...),
	} {
		r := post(t, base+"api/documents/"+d.ID+"/signed", map[string]string{"profile": "issued"}, "file", "x.pdf", data)
		var e apiError
		r.json(t, &e)
		if r.status != http.StatusConflict || e.Code != "NOT_INCREMENTAL" || e.Message == "" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if r := get(t, base+"files/"+d.ID); !bytes.Equal(r.body, signed) {
		t.Error("a refused version replaced the file")
	}

	more := append(append([]byte{}, signed...), "issued\n"...)
	checks := []struct {
		name, id, profile string
		data              []byte
		status            int
	}{
		{"unknown profile", d.ID, "stamp", more, 400},
		{"unknown document", "999", "issued", more, 404},
		{"not a PDF", d.ID, "issued", []byte("hello"), 415},
	}
	for _, c := range checks {
		r := post(t, base+"api/documents/"+c.id+"/signed", map[string]string{"profile": c.profile}, "file", "x.pdf", c.data)
		if r.status != c.status {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	if r := post(t, base+"api/documents/"+d.ID+"/signed", map[string]string{"profile": "issued"}, "", "", nil); r.status != 400 {
		t.Errorf("no file: %d", r.status)
	}
	if r := post(t, base+"api/documents", nil, "file", "x.pdf", []byte("not a pdf")); r.status != 415 {
		t.Errorf("upload of a non-PDF: %d", r.status)
	}
	if r := get(t, base+"files/999"); r.status != 404 {
		t.Errorf("missing file: %d", r.status)
	}

	// The organisation's signature: the state follows, the number is used.
	r = post(t, base+"api/documents/"+d.ID+"/signed", map[string]string{"profile": "issued", "docNumber": "1/QĐ-UBND"}, "file", "x.pdf", more)
	r.json(t, &got)
	if r.status != 200 || got.State != StateIssued || len(got.History) != 2 || got.History[1].DocNumber != "1/QĐ-UBND" {
		t.Fatalf("issued: %d %+v", r.status, got)
	}
	r = get(t, base+"api/next-number?kind=issued")
	var n struct{ Number, Date, Place string }
	r.json(t, &n)
	if n.Number != "2/QĐ-UBND" || n.Place != "Bình Phước" || len(n.Date) != 10 {
		t.Errorf("next number: %+v", n)
	}
	r = get(t, s.URLs()[1]+"api/next-number")
	r.json(t, &n)
	if n.Number != "1/QĐ-SNV" {
		t.Errorf("next number of the other agency: %+v", n)
	}
	r = get(t, base+"api/next-number?kind=income")
	r.json(t, &n)
	if n.Number != "1" {
		t.Errorf("next arrival number: %+v", n)
	}
}

func TestDocumentsArePerAgency(t *testing.T) {
	s := start(t, nil)
	a, b := s.URLs()[0], s.URLs()[1]
	d := upload(t, a, "a.pdf", tinyPDF("a"))
	if r := get(t, b+"api/documents/"+d.ID); r.status != 404 {
		t.Errorf("agency B sees A's document: %d", r.status)
	}
	if r := get(t, b+"files/"+d.ID); r.status != 404 {
		t.Errorf("agency B serves A's file: %d", r.status)
	}
	if r := post(t, b+"api/documents/"+d.ID+"/signed", map[string]string{"profile": "approved"}, "file", "x.pdf", append(tinyPDF("a"), 'x')); r.status != 404 {
		t.Errorf("agency B signs A's document: %d", r.status)
	}
	if docs := listDocs(t, b); len(docs) != 0 {
		t.Errorf("agency B lists %d documents", len(docs))
	}
}

func TestSamplesSeedEveryAgency(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sample", "quyet-dinh-chua-so.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, func(c *Config) {
		c.Samples = map[string][]byte{"quyet-dinh-chua-so.pdf": sample, "b.pdf": tinyPDF("b")}
	})
	for _, u := range s.URLs() {
		docs := listDocs(t, u)
		if len(docs) != 2 {
			t.Fatalf("%s: %d documents", u, len(docs))
		}
		var found bool
		for _, d := range docs {
			if d.Name == "quyet-dinh-chua-so.pdf" {
				found = true
				if d.Pages < 1 || d.Size != len(sample) || d.State != StateNew {
					t.Errorf("%s: sample %+v", u, d)
				}
				if r := get(t, u+"files/"+d.ID); !bytes.Equal(r.body, sample) {
					t.Errorf("%s: sample bytes differ", u)
				}
			}
		}
		if !found {
			t.Errorf("%s: no sample", u)
		}
	}
}

// TestSignerReadFromPDF signs for real and checks the history names the
// signer from the new signature's certificate.
func TestSignerReadFromPDF(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sample", "quyet-dinh-chua-so.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "Nguyễn Văn An", Organization: []string{"UBND tỉnh Bình Phước"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(in, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := pades.SignFile(t.Context(), in, out, key, cert, pades.Options{}); err != nil {
		t.Fatal(err)
	}
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, func(c *Config) { c.Samples = map[string][]byte{"qd.pdf": sample} })
	base := s.URLs()[0]
	d := listDocs(t, base)[0]
	r := post(t, base+"api/documents/"+d.ID+"/signed", map[string]string{"profile": "approved", "signer": "claimed by the page"}, "file", "qd.pdf", signed)
	var got Document
	r.json(t, &got)
	if r.status != 200 || len(got.History) != 1 || got.History[0].Signer != "Nguyễn Văn An" || got.History[0].Org != "UBND tỉnh Bình Phước" {
		t.Fatalf("%d %+v", r.status, got)
	}
}

func TestIncumbentUploadHandler(t *testing.T) {
	s := start(t, nil)
	base := s.URLs()[0]
	orig := tinyPDF("vgca")
	d := upload(t, base, "cong-van.pdf", orig)

	// FileName as DMS code builds it, with the credentials it forwards.
	req, _ := http.NewRequest("GET", base+"download?docId="+d.ID+"&SessionId=abc&JWTToken=eyJ", nil)
	req.Header.Set("Authorization", "Bearer eyJ")
	req.Header.Set("SessionId", "abc")
	r := do(t, req)
	if r.status != 200 || r.header.Get("Content-Type") != "application/pdf" || !bytes.Equal(r.body, orig) ||
		!strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("download: %d %v", r.status, r.header)
	}

	signed := append(append([]byte{}, orig...), "% signed by the plugin\n%%EOF\n"...)
	meta := `[{"Key":"profile","Value":"issued"},{"Key":"DocNumber","Value":79},{"Key":"SoVanBan","Value":"123/BCY-CTSBMTT"}]`
	r = post(t, base+"upload?docId="+d.ID+"&user=vanthu&SessionId=&JWTToken=", map[string]string{"MetaData": meta}, "uploadfile", "cong-van.pdf", signed)
	var rep fileServerReply
	r.json(t, &rep)
	if r.status != 200 || rep.Status != 0 || rep.DocId != d.ID || rep.FileName != base+"download?docId="+d.ID {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	// The reply's field names are the incumbent's.
	var raw map[string]any
	r.json(t, &raw)
	for _, k := range []string{"Status", "Message", "FileName", "DocId"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("reply lacks %s: %s", k, r.body)
		}
	}
	r = get(t, rep.FileName)
	if !bytes.Equal(r.body, signed) {
		t.Error("the uploaded file is not stored")
	}
	r = get(t, base+"api/documents/"+d.ID)
	var got Document
	r.json(t, &got)
	if got.State != StateIssued || len(got.History) != 1 {
		t.Fatalf("after upload: %+v", got)
	}
	h := got.History[0]
	if h.Via != "vgca" || h.User != "vanthu" || h.DocNumber != "79" || len(h.Meta) != 3 || h.Meta[2] != (KeyValue{"SoVanBan", "123/BCY-CTSBMTT"}) {
		t.Errorf("history: %+v", h)
	}

	// A file that does not extend the current one.
	r = post(t, base+"upload?docId="+d.ID+"&user=vanthu", map[string]string{"MetaData": "[]"}, "uploadfile", "x.pdf", append(tinyPDF("zz"), "x"...))
	r.json(t, &rep)
	if r.status != http.StatusConflict || rep.Status == 0 || rep.Message == "" {
		t.Errorf("non-incremental upload: %d %s", r.status, r.body)
	}
	// Bad MetaData, missing file, unknown document.
	if r := post(t, base+"upload?docId="+d.ID, map[string]string{"MetaData": "{not json"}, "uploadfile", "x.pdf", append(signed, 'x')); r.status != 400 {
		t.Errorf("bad MetaData: %d", r.status)
	}
	if r := post(t, base+"upload?docId="+d.ID, map[string]string{"MetaData": "[]"}, "", "", nil); r.status != 400 {
		t.Errorf("no uploadfile: %d", r.status)
	}
	if r := post(t, base+"upload?docId=999", nil, "uploadfile", "x.pdf", signed); r.status != 404 {
		t.Errorf("unknown docId: %d", r.status)
	}
	if r := get(t, base+"download?docId=999"); r.status != 404 {
		t.Errorf("download of an unknown document: %d", r.status)
	}

	// Without a document id the file is a new document; the id may also
	// come from MetaData.
	r = post(t, base+"upload?user=vanthu", nil, "uploadfile", "bao-cao.pdf", tinyPDF("new"))
	r.json(t, &rep)
	if r.status != 200 || rep.Status != 0 || rep.DocId == "" || rep.DocId == d.ID {
		t.Fatalf("new document: %d %s", r.status, r.body)
	}
	newID := rep.DocId
	r = get(t, base+"api/documents/"+newID)
	r.json(t, &got)
	if got.Name != "bao-cao.pdf" || got.State != StateNew {
		t.Errorf("new document: %+v", got)
	}
	meta = `[{"Key":"docId","Value":"` + newID + `"},{"Key":"profile","Value":"approved"}]`
	r = post(t, base+"upload", map[string]string{"MetaData": meta}, "uploadfile", "bao-cao.pdf", append(tinyPDF("new"), "sig"...))
	r.json(t, &rep)
	if r.status != 200 || rep.Status != 0 || rep.DocId != newID {
		t.Fatalf("docId from MetaData: %d %s", r.status, r.body)
	}
}

func TestForward(t *testing.T) {
	s := start(t, nil)
	a, b := s.URLs()[0], s.URLs()[1]
	orig := tinyPDF("lien-thong")
	d := upload(t, a, "ke-hoach-lien-nganh.pdf", orig)
	issued := append(append([]byte{}, orig...), "issued\n"...)
	if r := post(t, a+"api/documents/"+d.ID+"/signed", map[string]string{"profile": "issued"}, "file", "x.pdf", issued); r.status != 200 {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}

	req, _ := http.NewRequest("POST", a+"api/forward/"+d.ID+"?to=snv", nil)
	r := do(t, req)
	if r.status != 200 {
		t.Fatalf("forward: %d %s", r.status, r.body)
	}
	var fw struct {
		Document Document
		Incoming Document
		URL      string
	}
	r.json(t, &fw)
	if fw.Document.State != StateForwarded || len(fw.Document.ForwardedTo) != 1 || fw.Document.ForwardedTo[0] != "snv" {
		t.Errorf("sender's copy: %+v", fw.Document)
	}
	in := fw.Incoming
	if in.Agency != "snv" || in.State != StateIncoming || in.From == nil || in.From.Agency != "ubnd" ||
		in.From.Name != "UBND tỉnh Bình Phước" || in.From.Document != d.ID || len(in.History) != 1 || in.Name != d.Name {
		t.Errorf("incoming: %+v", in)
	}
	if fw.URL != b+"interagency?doc="+in.ID {
		t.Errorf("url %q", fw.URL)
	}
	docs := listDocs(t, b)
	if len(docs) != 1 || docs[0].ID != in.ID {
		t.Fatalf("B's documents: %+v", docs)
	}
	if r := get(t, b+"files/"+in.ID); !bytes.Equal(r.body, issued) {
		t.Error("B's copy differs")
	}
	if r := get(t, a+"files/"+in.ID); r.status != 404 {
		t.Errorf("A serves B's copy: %d", r.status)
	}

	// B stamps its receipt; A's document is untouched.
	received := append(append([]byte{}, issued...), "income\n"...)
	r = post(t, b+"api/documents/"+in.ID+"/signed", map[string]string{"profile": "income", "docNumber": "1"}, "file", "x.pdf", received)
	var got Document
	r.json(t, &got)
	if r.status != 200 || got.State != StateReceived || len(got.History) != 2 || got.History[1].Agency != "snv" {
		t.Fatalf("income: %d %+v", r.status, got)
	}
	if r := get(t, a+"files/"+d.ID); !bytes.Equal(r.body, issued) {
		t.Error("A's file changed with B's receipt")
	}
	r = get(t, b+"api/next-number?kind=income")
	var n struct{ Number string }
	r.json(t, &n)
	if n.Number != "2" {
		t.Errorf("next arrival number %q", n.Number)
	}
	r = get(t, b+"api/next-number?kind=issued")
	r.json(t, &n)
	if n.Number != "1/QĐ-SNV" {
		t.Errorf("B's next number counts A's issue: %q", n.Number)
	}

	for name, u := range map[string]string{
		"unknown agency":   a + "api/forward/" + d.ID + "?to=bocongan",
		"to itself":        a + "api/forward/" + d.ID + "?to=ubnd",
		"no target":        a + "api/forward/" + d.ID,
		"unknown document": a + "api/forward/999?to=snv",
		"other's document": a + "api/forward/" + in.ID + "?to=snv",
	} {
		req, _ := http.NewRequest("POST", u, nil)
		if r := do(t, req); r.status != 400 && r.status != 404 {
			t.Errorf("%s: %d", name, r.status)
		}
	}
}

func pagePaths() []string {
	return []string{"/", "/approve", "/issue", "/appendix", "/copy", "/interagency", "/verify", "/incumbent"}
}

func TestPagesAndCSP(t *testing.T) {
	sdk := filepath.Join(t.TempDir(), "kyso.iife.js")
	if err := os.WriteFile(sdk, []byte("var Kyso = {};\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := start(t, func(c *Config) { c.SDKPath = sdk })
	base := strings.TrimSuffix(s.URLs()[0], "/")
	ids := map[string][]string{
		"/":            {`id="documents"`, `id="upload-file"`, `id="btn-upload"`, `href="/approve"`, `href="/incumbent"`},
		"/approve":     {`id="doc"`, `id="page"`, `id="cert"`, `id="btn-certs"`, `id="btn-approve"`},
		"/issue":       {`id="doc-number"`, `id="issued-date"`, `id="place"`, `id="seal-mm"`, `id="btn-check"`, `id="btn-issue"`, `value="Bình Phước"`},
		"/appendix":    {`id="doc-number"`, `id="btn-appendix"`},
		"/copy":        {`id="copy-form"`, `SAO Y`, `id="btn-copy"`},
		"/interagency": {`id="btn-issue"`, `id="to"`, `<option value="snv">Sở Nội vụ tỉnh Bình Phước</option>`, `id="btn-forward"`, `id="inbox"`, `id="arrival-number"`, `id="btn-verify-incoming"`, `id="btn-income"`},
		"/verify":      {`id="verify-file"`, `id="btn-verify"`},
		"/incumbent":   {`/sdk/vgcaplugin-compat.js`, `/static/incumbent.js`, `id="btn-vgca-approve"`, `id="btn-vgca-issue"`, `id="plugin-status"`, `id="reply"`},
	}
	for _, p := range pagePaths() {
		r := get(t, base+p)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %q", p, r.status, r.header.Get("Content-Type"))
			continue
		}
		csp := r.header.Values("Content-Security-Policy")
		if len(csp) != 1 {
			t.Errorf("%s: CSP %q", p, csp)
			continue
		}
		for _, want := range []string{"connect-src 'self' ws://127.0.0.1:19571 ws://127.0.0.1:19572 http://127.0.0.1:*", "script-src 'self'", "default-src 'self'"} {
			if !strings.Contains(csp[0], want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp[0], want)
			}
		}
		if strings.Contains(csp[0], "treat-as-public-address") || strings.Contains(csp[0], "unsafe-inline") || strings.Contains(csp[0], "https:") {
			t.Errorf("%s: CSP %q", p, csp[0])
		}
		html := string(r.body)
		for _, want := range append([]string{`id="agency-name">UBND tỉnh Bình Phước<`, `<script src="/sdk/kyso.js">`, `id="status"`, `id="result"`, `lang="vi"`}, ids[p]...) {
			if !strings.Contains(html, want) {
				t.Errorf("%s: page lacks %s", p, want)
			}
		}
		if strings.Contains(html, "sdk-missing") {
			t.Errorf("%s: SDK notice shown although the SDK exists", p)
		}
		// No inline scripts or handlers: the CSP forbids them.
		if strings.Contains(html, "<script>") || strings.Contains(html, "onclick=") || strings.Contains(html, "style=") {
			t.Errorf("%s: inline script or style", p)
		}
	}
	// The API and files carry the header too.
	if r := get(t, base+"/api/documents"); r.header.Get("Content-Security-Policy") == "" {
		t.Error("API answer without CSP")
	}
	// Static assets are served, templates are not.
	for _, f := range []string{"app.js", "incumbent.js", "app.css"} {
		if r := get(t, base+"/static/"+f); r.status != 200 || len(r.body) == 0 {
			t.Errorf("static %s: %d", f, r.status)
		}
	}
	for _, f := range []string{"partials.tmpl", "index.html", "..%2fstore.go"} {
		if r := get(t, base+"/static/"+f); r.status != 404 {
			t.Errorf("static %s: %d", f, r.status)
		}
	}
	if r := get(t, base+"/nowhere"); r.status != 404 {
		t.Errorf("unknown page: %d", r.status)
	}
}

func TestTreatAsPublic(t *testing.T) {
	s := start(t, func(c *Config) { c.TreatAsPublic = true })
	for _, p := range pagePaths() {
		r := get(t, strings.TrimSuffix(s.URLs()[1], "/")+p)
		csp := r.header.Values("Content-Security-Policy")
		if len(csp) != 2 || !strings.Contains(csp[0], "connect-src") || csp[1] != "treat-as-public-address" {
			t.Errorf("%s: CSP %q", p, csp)
		}
	}
}

func TestSDKServedAndNotice(t *testing.T) {
	dir := t.TempDir()
	sdk := filepath.Join(dir, "kyso.iife.js")
	s := start(t, func(c *Config) { c.SDKPath = sdk })
	base := s.URLs()[0]

	// Not built yet: a 404 the browser will not run, and a notice on
	// every page.
	r := get(t, base+"sdk/kyso.js")
	if r.status != 404 || !strings.Contains(string(r.body), "make demo") {
		t.Errorf("missing SDK: %d %q", r.status, r.body)
	}
	for _, p := range pagePaths() {
		r := get(t, strings.TrimSuffix(base, "/")+p)
		if html := string(r.body); !strings.Contains(html, `id="sdk-missing"`) || !strings.Contains(html, "make demo") {
			t.Errorf("%s: no notice", p)
		}
	}
	if r := get(t, base+"sdk/vgcaplugin-compat.js"); r.status != 404 {
		t.Errorf("missing facade: %d", r.status)
	}

	// Built while the server runs: served at once.
	const js = "var Kyso = (function () { return {}; })();\n//# sourceMappingURL=kyso.iife.js.map\n"
	os.WriteFile(sdk, []byte(js), 0o644)
	os.WriteFile(filepath.Join(dir, "vgcaplugin-compat.js"), []byte("window.vgca_sign_approved = function () {};\n"), 0o644)
	os.WriteFile(sdk+".map", []byte(`{"version":3}`), 0o644)
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("no"), 0o644)
	r = get(t, base+"sdk/kyso.js")
	if r.status != 200 || string(r.body) != js || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") {
		t.Errorf("SDK: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	r = get(t, base+"sdk/vgcaplugin-compat.js")
	if r.status != 200 || !strings.Contains(string(r.body), "vgca_sign_approved") {
		t.Errorf("facade: %d %q", r.status, r.body)
	}
	if r := get(t, base+"sdk/kyso.iife.js.map"); r.status != 200 {
		t.Errorf("source map: %d", r.status)
	}
	for _, f := range []string{"secret.txt", "kyso.iife.js", "..%2fsecret.txt"} {
		if r := get(t, base+"sdk/"+f); r.status != 404 {
			t.Errorf("sdk/%s: %d", f, r.status)
		}
	}
	if r := get(t, base); strings.Contains(string(r.body), "sdk-missing") {
		t.Error("notice still shown after the build")
	}

	// No SDK path at all.
	s2 := start(t, nil)
	if r := get(t, s2.URLs()[0]+"sdk/kyso.js"); r.status != 404 || !strings.Contains(string(r.body), "make demo") {
		t.Errorf("no SDK path: %d", r.status)
	}
	if r := get(t, s2.URLs()[0]); !strings.Contains(string(r.body), "sdk-missing") {
		t.Error("no notice without an SDK path")
	}
}

func TestImages(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n0000")
	s := start(t, func(c *Config) { c.SignatureImage = png })
	base := s.URLs()[0]
	r := get(t, base+"assets/signature.png")
	if r.status != 200 || !bytes.Equal(r.body, png) || r.header.Get("Content-Type") != "image/png" {
		t.Errorf("signature: %d %q", r.status, r.header.Get("Content-Type"))
	}
	if r := get(t, base+"assets/seal.png"); r.status != 404 {
		t.Errorf("absent seal: %d", r.status)
	}
	if r := get(t, base+"approve"); !strings.Contains(string(r.body), `data-has-signature="true"`) || !strings.Contains(string(r.body), `data-has-seal="false"`) {
		t.Error("page does not say which images exist")
	}
}

func TestHostAndOriginChecks(t *testing.T) {
	s := start(t, nil)
	base := s.URLs()[0]
	u, _ := url.Parse(base)

	req, _ := http.NewRequest("GET", base, nil)
	req.Host = "evil.example:" + u.Port()
	if r := do(t, req); r.status != 403 {
		t.Errorf("foreign Host: %d", r.status)
	}
	req, _ = http.NewRequest("GET", base, nil)
	req.Host = "localhost:" + u.Port()
	if r := do(t, req); r.status != 200 {
		t.Errorf("localhost Host: %d", r.status)
	}

	d := upload(t, base, "a.pdf", tinyPDF("a"))
	// Another origin (even the other agency) may not write here.
	req, _ = http.NewRequest("POST", base+"api/forward/"+d.ID+"?to=snv", nil)
	req.Header.Set("Origin", s.Origins()[1])
	if r := do(t, req); r.status != 403 {
		t.Errorf("cross-origin POST: %d", r.status)
	}
	req, _ = http.NewRequest("POST", base+"api/forward/"+d.ID+"?to=snv", nil)
	req.Header.Set("Origin", s.Origins()[0])
	if r := do(t, req); r.status != 200 {
		t.Errorf("same-origin POST: %d %s", r.status, r.body)
	}
}

// TestConcurrentRequests drives the shared store from both agencies at
// once; run with -race. Signers race to extend the same document: every
// accepted version extends the one before it.
func TestConcurrentRequests(t *testing.T) {
	s := start(t, nil)
	a, b := s.URLs()[0], s.URLs()[1]
	d := upload(t, a, "a.pdf", tinyPDF("race"))

	const workers = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, conflicts := 0, 0
	errs := make(chan string, workers*20)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{}
			for i := range 5 {
				resp, err := client.Get(a + "files/" + d.ID)
				if err != nil {
					errs <- err.Error()
					return
				}
				cur, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				next := append(cur, fmt.Sprintf("%% w%d i%d\n", w, i)...)
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				mw.WriteField("profile", "comment")
				fw, _ := mw.CreateFormFile("file", "a.pdf")
				fw.Write(next)
				mw.Close()
				resp, err = client.Post(a+"api/documents/"+d.ID+"/signed", mw.FormDataContentType(), &buf)
				if err != nil {
					errs <- err.Error()
					return
				}
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case 200:
					accepted++
				case 409:
					conflicts++
				default:
					errs <- fmt.Sprintf("status %d", resp.StatusCode)
				}
				mu.Unlock()
				// Readers and writers elsewhere meanwhile.
				for _, u := range []string{a + "api/documents", b + "api/documents", a + "api/documents/" + d.ID, a + "api/next-number"} {
					resp, err := client.Get(u)
					if err != nil {
						errs <- err.Error()
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				var up bytes.Buffer
				mw = multipart.NewWriter(&up)
				fw, _ = mw.CreateFormFile("file", "b.pdf")
				fw.Write(tinyPDF(fmt.Sprint(w, i)))
				mw.Close()
				resp, err = client.Post(b+"api/documents", mw.FormDataContentType(), &up)
				if err != nil {
					errs <- err.Error()
					return
				}
				var nd Document
				json.NewDecoder(resp.Body).Decode(&nd)
				resp.Body.Close()
				resp, err = client.Post(b+"api/forward/"+nd.ID+"?to=ubnd", "", nil)
				if err != nil {
					errs <- err.Error()
					return
				}
				if resp.StatusCode != 200 {
					errs <- fmt.Sprintf("forward: %d", resp.StatusCode)
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if accepted == 0 || accepted+conflicts != workers*5 {
		t.Fatalf("accepted %d, conflicts %d", accepted, conflicts)
	}
	r := get(t, a+"api/documents/"+d.ID)
	var got Document
	r.json(t, &got)
	if len(got.History) != accepted {
		t.Errorf("history has %d entries, %d versions accepted", len(got.History), accepted)
	}
	for i := 1; i < len(got.History); i++ {
		if got.History[i].Size <= got.History[i-1].Size {
			t.Errorf("version %d is not longer than the one before", i)
		}
	}
	if n := len(listDocs(t, a)); n != 1+workers*5 {
		t.Errorf("A has %d documents", n)
	}
	if n := len(listDocs(t, b)); n != workers*5 {
		t.Errorf("B has %d documents", n)
	}
}

func TestFrameAncestors(t *testing.T) {
	s := start(t, func(c *Config) { c.FrameAncestors = []string{"http://127.0.0.1:1234"} })
	r := get(t, strings.TrimSuffix(s.URLs()[0], "/")+"/approve")
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self' http://127.0.0.1:1234;") {
		t.Errorf("CSP %q", csp)
	}
	if _, err := New(Config{Agencies: testAgencies(), FrameAncestors: []string{"http://a; script-src *"}}); err == nil {
		t.Error("a frame ancestor with a ';' accepted")
	}
}
