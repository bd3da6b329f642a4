package demodms

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kyso-vn/kyso/pades"
	"github.com/kyso-vn/kyso/token"
)

// Limits of the demo's uploads: a scanned paper document (W1) in colour at
// 200 dpi runs to tens of megabytes; the agent takes up to 200 MiB.
const (
	maxUploadBytes     = 200<<20 + 1<<20
	maxMultipartMemory = 32 << 20
)

// The agent's loopback endpoints the pages may reach (docs/protocol.md).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self' ws://127.0.0.1:19571 ws://127.0.0.1:19572 http://127.0.0.1:*; " +
	"object-src 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"

// site is one agency's web application.
type site struct {
	s      *Server
	idx    int
	agency Agency
	origin string // http://127.0.0.1:port
	port   int
}

func (st *site) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", st.page("index"))
	for _, p := range pageNames() {
		if p != "index" {
			mux.HandleFunc("GET /"+p, st.page(p))
		}
	}
	mux.HandleFunc("GET /static/{file}", st.static)
	mux.HandleFunc("GET /assets/signature.png", st.image(func() []byte { return st.s.cfg.SignatureImage }))
	mux.HandleFunc("GET /assets/seal.png", st.image(func() []byte { return st.s.cfg.SealImage }))
	mux.HandleFunc("GET /sdk/{file}", st.sdk)

	mux.HandleFunc("GET /api/agency", st.apiAgency)
	mux.HandleFunc("GET /api/documents", st.apiList)
	mux.HandleFunc("GET /api/documents/{id}", st.apiGet)
	mux.HandleFunc("POST /api/documents", st.apiUpload)
	mux.HandleFunc("POST /api/documents/{id}/signed", st.apiSigned)
	mux.HandleFunc("POST /api/forward/{id}", st.apiForward)
	mux.HandleFunc("GET /api/next-number", st.apiNextNumber)
	mux.HandleFunc("GET /files/{id}", st.file)

	// The incumbent plugin's side of the server (domain-vn.md §6).
	mux.HandleFunc("POST /upload", st.vgcaUpload)
	mux.HandleFunc("GET /download", st.vgcaDownload)
	return st.guard(mux)
}

// guard answers only requests addressed to this site by its loopback
// name (no DNS rebinding), refuses cross-origin writes, sets the security
// headers and logs.
func (st *site) guard(next http.Handler) http.Handler {
	port := strconv.Itoa(st.port)
	csp := contentSecurityPolicy
	if len(st.s.cfg.FrameAncestors) > 0 {
		csp = strings.Replace(csp, "frame-ancestors 'self'", "frame-ancestors 'self' "+strings.Join(st.s.cfg.FrameAncestors, " "), 1)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		if st.s.cfg.TreatAsPublic {
			h.Add("Content-Security-Policy", "treat-as-public-address")
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.Host != "127.0.0.1:"+port && r.Host != "localhost:"+port {
			http.Error(w, "Địa chỉ không hợp lệ: hãy mở "+st.origin+"/", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// Browsers send Origin on every POST; the incumbent plugin's
			// native uploader sends none.
			if o := r.Header.Get("Origin"); o != "" && o != st.origin && o != "http://localhost:"+port {
				writeJSON(w, http.StatusForbidden, apiError{Code: "CROSS_ORIGIN", Message: "yêu cầu từ trang khác (" + o + ") bị từ chối"})
				return
			}
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		st.s.log.Debug("demodms", "agency", st.agency.ID, "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "ms", time.Since(start).Milliseconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// pageData is what the page templates see.
type pageData struct {
	Page       string
	Title      string
	Agency     Agency
	Place      string
	SDK        bool
	Others     []otherAgency
	HasSigImg  bool
	HasSealImg bool
}

type otherAgency struct {
	ID, Name, URL string
}

func (st *site) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := pageData{
			Page: name, Title: pageTitle(name), Agency: st.agency, Place: placeOf(st.agency.Name), SDK: st.sdkPresent(),
			HasSigImg: len(st.s.cfg.SignatureImage) > 0, HasSealImg: len(st.s.cfg.SealImage) > 0,
		}
		for i, a := range st.s.cfg.Agencies {
			if i != st.idx {
				d.Others = append(d.Others, otherAgency{ID: a.ID, Name: a.Name, URL: st.s.origin(i) + "/"})
			}
		}
		var buf bytes.Buffer
		if err := st.s.pages[name].Execute(&buf, d); err != nil {
			st.s.log.Error("demodms: page", "page", name, "err", err)
			http.Error(w, "lỗi hiển thị trang", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(buf.Bytes())
	}
}

// pageTitle is a page's Vietnamese title.
func pageTitle(name string) string {
	switch name {
	case "approve":
		return "Lãnh đạo ký phê duyệt"
	case "issue":
		return "Văn thư ký phát hành"
	case "appendix":
		return "Ký phụ lục"
	case "copy":
		return "Ký bản sao điện tử (SAO Y)"
	case "interagency":
		return "Văn bản liên thông (W5)"
	case "verify":
		return "Kiểm tra chữ ký số"
	case "incumbent":
		return "Trang dùng API của plugin VGCA"
	}
	return "Danh sách văn bản"
}

// placeOf is the place written in the issue date line: the province
// (or city) in the agency's name, "UBND tỉnh Bình Phước" → "Bình Phước".
func placeOf(name string) string {
	for _, k := range []string{"tỉnh ", "thành phố ", "Tỉnh ", "Thành phố "} {
		if i := strings.LastIndex(name, k); i >= 0 {
			return strings.TrimSpace(name[i+len(k):])
		}
	}
	return ""
}

func (st *site) sdkPresent() bool {
	if st.s.cfg.SDKPath == "" {
		return false
	}
	fi, err := os.Stat(st.s.cfg.SDKPath)
	return err == nil && fi.Mode().IsRegular()
}

// sdkMissingNotice is what /sdk/kyso.js answers while the bundle is not
// built (browsers do not run a script answered with 404).
const sdkMissingNotice = "Chưa có thư viện kyso cho trình duyệt (js-sdk/dist/kyso.iife.js). Hãy chạy `make demo` để dựng thư viện rồi tải lại trang.\n"

// sdk serves the SDK bundle and the files beside it.
func (st *site) sdk(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	sdkPath := st.s.cfg.SDKPath
	var path string
	switch {
	case file == "kyso.js":
		path = sdkPath
	case sdkPath == "":
	case file == "vgcaplugin-compat.js":
		path = filepath.Join(filepath.Dir(sdkPath), "vgcaplugin-compat.js")
	case file == filepath.Base(sdkPath)+".map":
		path = sdkPath + ".map"
	}
	if path == "" && file != "kyso.js" {
		http.NotFound(w, r)
		return
	}
	var data []byte
	err := os.ErrNotExist
	if path != "" {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		if file == "vgcaplugin-compat.js" {
			io.WriteString(w, "Chưa có lớp tương thích vgcaplugin-compat.js cạnh thư viện kyso. Hãy chạy `make demo`.\n")
		} else {
			io.WriteString(w, sdkMissingNotice)
		}
		return
	}
	if strings.HasSuffix(file, ".map") {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(data)
}

// static serves the pages' scripts and style sheet (not the templates).
func (st *site) static(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	var ctype string
	switch filepath.Ext(file) {
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	default:
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(staticFS, "static/"+file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(data)
}

func (st *site) image(get func() []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		data := get()
		if len(data) == 0 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", http.DetectContentType(data))
		w.Write(data)
	}
}

// apiError is the JSON API's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"` // Vietnamese
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (st *site) apiAgency(w http.ResponseWriter, r *http.Request) {
	type other struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		URL  string `json:"url"`
	}
	out := struct {
		ID     string  `json:"id"`
		Name   string  `json:"name"`
		URL    string  `json:"url"`
		Place  string  `json:"place"`
		SDK    bool    `json:"sdk"`
		Others []other `json:"others"`
	}{ID: st.agency.ID, Name: st.agency.Name, URL: st.origin + "/", Place: placeOf(st.agency.Name), SDK: st.sdkPresent(), Others: []other{}}
	for i, a := range st.s.cfg.Agencies {
		if i != st.idx {
			out.Others = append(out.Others, other{ID: a.ID, Name: a.Name, URL: st.s.origin(i) + "/"})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (st *site) apiList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"agency": st.agency.ID, "documents": st.s.store.list(st.agency.ID)})
}

func (st *site) apiGet(w http.ResponseWriter, r *http.Request) {
	d, _, err := st.s.store.get(st.agency.ID, r.PathValue("id"))
	if err != nil {
		st.notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (st *site) notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, apiError{Code: "NOT_FOUND", Message: "không tìm thấy văn bản"})
}

// readUpload reads the multipart request's file in one of fields.
func readUpload(w http.ResponseWriter, r *http.Request, fields ...string) (data []byte, filename string, status int, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
	if err := r.ParseMultipartForm(maxMultipartMemory); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, "", http.StatusRequestEntityTooLarge, fmt.Errorf("tệp quá lớn (tối đa %d MB)", maxUploadBytes>>20)
		}
		return nil, "", http.StatusBadRequest, errors.New("yêu cầu không phải multipart/form-data hợp lệ")
	}
	var fh *multipart.FileHeader
	for _, f := range fields {
		if fhs := r.MultipartForm.File[f]; len(fhs) > 0 {
			fh = fhs[0]
			break
		}
	}
	if fh == nil {
		return nil, "", http.StatusBadRequest, fmt.Errorf("thiếu tệp (trường %q)", fields[0])
	}
	f, err := fh.Open()
	if err != nil {
		return nil, "", http.StatusBadRequest, errors.New("không đọc được tệp gửi lên")
	}
	defer f.Close()
	data, err = io.ReadAll(f)
	if err != nil {
		return nil, "", http.StatusBadRequest, errors.New("không đọc được tệp gửi lên")
	}
	if !isPDF(data) {
		return nil, "", http.StatusUnsupportedMediaType, errors.New("tệp không phải PDF")
	}
	return data, fh.Filename, 0, nil
}

func isPDF(b []byte) bool {
	// The header may follow a little garbage (ISO 32000-1, 7.5.2 is strict,
	// readers are not); the demo accepts it within the first kilobyte.
	if len(b) > 1024 {
		b = b[:1024]
	}
	return bytes.Contains(b, []byte("%PDF-"))
}

func pageCount(b []byte) int {
	n, err := pades.PageCount(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return 0
	}
	return n
}

// cleanName keeps a file name's base and a .pdf extension.
func cleanName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return -1
		}
		return r
	}, name)
	if name == "" || name == "." || name == "/" {
		name = "van-ban.pdf"
	}
	if !strings.EqualFold(filepath.Ext(name), ".pdf") {
		name += ".pdf"
	}
	return name
}

func (st *site) apiUpload(w http.ResponseWriter, r *http.Request) {
	data, filename, status, err := readUpload(w, r, "file")
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	if err != nil {
		writeJSON(w, status, apiError{Code: "BAD_UPLOAD", Message: err.Error()})
		return
	}
	name := r.FormValue("name")
	if name == "" {
		name = filename
	}
	d := st.s.store.add(st.agency.ID, cleanName(name), data, pageCount(data), nil, nil)
	writeJSON(w, http.StatusCreated, d)
}

// newSigner reads who made the newest signature that data adds after
// the first oldSize bytes; empty strings when the PDF cannot be read.
func newSigner(data []byte, oldSize int) (name, org string) {
	checks, err := pades.CheckSignatures(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", ""
	}
	for i := len(checks) - 1; i >= 0; i-- {
		c := checks[i]
		if c.Signer == nil || c.ByteRange[2]+c.ByteRange[3] <= int64(oldSize) {
			continue
		}
		id := token.ParseIdentity(c.Signer)
		return id.Name, id.Organization
	}
	return "", ""
}

// accept stores a signed version and answers how it went: 0 and the
// document, or an HTTP status and an API error.
func (st *site) accept(id string, data []byte, sig Signature) (Document, int, apiError) {
	old, oldData, err := st.s.store.get(st.agency.ID, id)
	if err != nil {
		return Document{}, http.StatusNotFound, apiError{Code: "NOT_FOUND", Message: "không tìm thấy văn bản"}
	}
	if !knownProfile(sig.Profile) {
		return Document{}, http.StatusBadRequest, apiError{Code: "BAD_PROFILE", Message: "loại ký không hợp lệ: " + sig.Profile}
	}
	if name, org := newSigner(data, len(oldData)); name != "" {
		sig.Signer, sig.Org = name, org
	}
	d, err := st.s.store.replace(st.agency.ID, id, data, sig)
	switch {
	case errors.Is(err, errNotFound):
		return Document{}, http.StatusNotFound, apiError{Code: "NOT_FOUND", Message: "không tìm thấy văn bản"}
	case errors.Is(err, errNotIncrease):
		return Document{}, http.StatusConflict, apiError{Code: "NOT_INCREMENTAL",
			Message: "tệp đã ký không giữ nguyên nội dung bản hiện tại của văn bản (phải là bản cập nhật gia tăng của " + old.Name + "); có thể văn bản đã được ký bởi người khác, hãy tải lại"}
	case err != nil:
		return Document{}, http.StatusInternalServerError, apiError{Code: "INTERNAL", Message: err.Error()}
	}
	st.s.log.Info("demodms: signed version stored", "agency", st.agency.ID, "doc", id, "profile", sig.Profile, "signer", sig.Signer, "via", sig.Via)
	return d, 0, apiError{}
}

func (st *site) apiSigned(w http.ResponseWriter, r *http.Request) {
	data, _, status, err := readUpload(w, r, "file")
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	if err != nil {
		writeJSON(w, status, apiError{Code: "BAD_UPLOAD", Message: err.Error()})
		return
	}
	sig := Signature{
		Profile:   r.FormValue("profile"),
		Signer:    r.FormValue("signer"),
		User:      r.FormValue("user"),
		DocNumber: r.FormValue("docNumber"),
		Via:       "sdk",
	}
	d, status, apiErr := st.accept(r.PathValue("id"), data, sig)
	if status != 0 {
		writeJSON(w, status, apiErr)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (st *site) apiForward(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	if to == "" {
		to = r.FormValue("to")
	}
	target, ti, ok := st.s.agencyByID(to)
	if !ok || target.ID == st.agency.ID {
		writeJSON(w, http.StatusBadRequest, apiError{Code: "BAD_AGENCY", Message: "cơ quan nhận không hợp lệ: " + to})
		return
	}
	in, err := st.s.store.forward(st.agency, r.PathValue("id"), target)
	if err != nil {
		st.notFound(w)
		return
	}
	orig, _, _ := st.s.store.get(st.agency.ID, r.PathValue("id"))
	st.s.log.Info("demodms: forwarded", "from", st.agency.ID, "to", target.ID, "doc", orig.ID, "incoming", in.ID)
	writeJSON(w, http.StatusOK, map[string]any{
		"document": orig,
		"incoming": in,
		"url":      st.s.origin(ti) + "/interagency?doc=" + url.QueryEscape(in.ID),
	})
}

// apiNextNumber proposes the next number: kind=issued (default) gives the
// document number and symbol ("16/QĐ-UBND"), kind=income the arrival
// number. Numbers restart each year (ND 30/2020 Điều 15).
func (st *site) apiNextNumber(w http.ResponseWriter, r *http.Request) {
	now := time.Now().In(st.s.vn)
	kind := r.URL.Query().Get("kind")
	var number string
	switch kind {
	case "", "issued":
		kind = "issued"
		n := st.s.store.countProfile(st.agency.ID, "issued", now.Year(), st.s.vn) + 1
		number = fmt.Sprintf("%d/QĐ-%s", n, strings.ToUpper(st.agency.ID))
	case "income":
		number = strconv.Itoa(st.s.store.countProfile(st.agency.ID, "income", now.Year(), st.s.vn) + 1)
	default:
		writeJSON(w, http.StatusBadRequest, apiError{Code: "BAD_KIND", Message: "kind phải là issued hoặc income"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"kind": kind, "number": number, "date": now.Format("2006-01-02"), "place": placeOf(st.agency.Name)})
}

// file serves a document's current bytes.
func (st *site) file(w http.ResponseWriter, r *http.Request) {
	st.servePDF(w, r, r.PathValue("id"), r.URL.Query().Has("download"))
}

func (st *site) servePDF(w http.ResponseWriter, r *http.Request, id string, attachment bool) {
	d, data, err := st.s.store.get(st.agency.ID, id)
	if err != nil {
		http.Error(w, "không tìm thấy văn bản", http.StatusNotFound)
		return
	}
	disp := "inline"
	if attachment {
		disp = "attachment"
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", disp+"; filename=\""+asciiName(d.Name)+"\"; filename*=UTF-8''"+url.PathEscape(d.Name))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("ETag", `"`+d.SHA256+`"`)
	w.Header().Set("X-Document-Id", d.ID)
	http.ServeContent(w, r, "", d.Updated, bytes.NewReader(data))
}

// asciiName is the file name for clients that ignore filename*.
func asciiName(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
}

// vgcaDownload serves the file a FileName URL names:
// /download?docId=…[&SessionId=…][&JWTToken=…]. Real servers check those
// credentials (or an Authorization header); the demo has no accounts and
// ignores them.
func (st *site) vgcaDownload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("docId")
	if id == "" {
		id = q.Get("docid")
	}
	st.servePDF(w, r, id, true)
}

// fileServerReply is what the upload handler answers; the incumbent
// plugin hands it to the page as the reply's FileServer.
type fileServerReply struct {
	Status   int    `json:"Status"` // 0 = success
	Message  string `json:"Message"`
	FileName string `json:"FileName,omitempty"` // where the stored file can be downloaded
	DocId    string `json:"DocId,omitempty"`
}

// KeyValue is one MetaData entry of the incumbent API.
type KeyValue struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// parseMetaData reads the MetaData form field: a JSON list of {Key,
// Value}; values that are numbers or booleans are kept as their JSON text.
func parseMetaData(s string) ([]KeyValue, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var raw []struct {
		Key   string          `json:"Key"`
		Value json.RawMessage `json:"Value"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, err
	}
	out := make([]KeyValue, 0, len(raw))
	for _, kv := range raw {
		v := string(kv.Value)
		var str string
		if json.Unmarshal(kv.Value, &str) == nil {
			v = str
		} else if v == "null" {
			v = ""
		}
		out = append(out, KeyValue{Key: kv.Key, Value: v})
	}
	return out, nil
}

func metaValue(meta []KeyValue, keys ...string) string {
	for _, k := range keys {
		for _, kv := range meta {
			if strings.EqualFold(kv.Key, k) && kv.Value != "" {
				return kv.Value
			}
		}
	}
	return ""
}

// vgcaUpload is a FileUploadHandler as incumbent DMS servers implement
// it: POST /upload?docId=…&user=… with the signed file in the multipart
// field "uploadfile" and the caller's MetaData (JSON [{Key, Value}]).
// With a docId (in the query or MetaData) the file replaces that
// document's current version (it must extend it); without, it is stored
// as a new document. The profile comes from the query or MetaData
// ("profile"); DocNumber from MetaData.
func (st *site) vgcaUpload(w http.ResponseWriter, r *http.Request) {
	data, filename, status, err := readUpload(w, r, "uploadfile", "file")
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	if err != nil {
		writeJSON(w, status, fileServerReply{Status: 1, Message: err.Error()})
		return
	}
	meta, err := parseMetaData(r.FormValue("MetaData"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, fileServerReply{Status: 1, Message: "MetaData không phải danh sách JSON {Key, Value}"})
		return
	}
	q := r.URL.Query()
	first := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	id := first(q.Get("docId"), q.Get("docid"), metaValue(meta, "docId", "DocumentId"))
	user := first(q.Get("user"), metaValue(meta, "user", "UserName"))
	if id == "" {
		d := st.s.store.add(st.agency.ID, cleanName(filename), data, pageCount(data), nil, nil)
		writeJSON(w, http.StatusOK, fileServerReply{Status: 0, Message: "Đã lưu văn bản", FileName: st.origin + "/download?docId=" + url.QueryEscape(d.ID), DocId: d.ID})
		return
	}
	sig := Signature{
		Profile:   first(q.Get("profile"), metaValue(meta, "profile", "SignType")),
		User:      user,
		DocNumber: first(metaValue(meta, "DocNumber", "docNumber")),
		Via:       "vgca",
		Meta:      meta,
	}
	d, status, apiErr := st.accept(id, data, sig)
	if status != 0 {
		writeJSON(w, status, fileServerReply{Status: 1, Message: apiErr.Message, DocId: id})
		return
	}
	writeJSON(w, http.StatusOK, fileServerReply{Status: 0, Message: "Đã lưu bản đã ký", FileName: st.origin + "/download?docId=" + url.QueryEscape(d.ID), DocId: d.ID})
}
