package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"unicode"
	"unicode/utf8"

	"github.com/kyso-vn/kyso/agent"
	"github.com/kyso-vn/kyso/token"
)

// maxNameBytes bounds a document name; the agent shows it in dialogs.
const maxNameBytes = 255

// callFunc runs a request's method once its documents arrived.
type callFunc func(ctx context.Context, req *request, docs []agent.Document) outcome

// outcome is what a method produced: documents to send first, then
// either result or err. details are added to err's details.
type outcome struct {
	result  any
	docs    []outDoc
	err     error
	details map[string]any
}

// outDoc is a document the bridge sends back as binary frames.
type outDoc struct {
	data []byte
}

// docDecl declares a document the client is about to upload.
type docDecl struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// docParams are the params of methods that carry documents.
type docParams struct {
	Documents []docDecl            `json:"documents"`
	Options   agent.SignPDFOptions `json:"options"`
}

// docMeta describes a returned document in a result or error details.
type docMeta struct {
	Name   string       `json:"name"`
	Size   int64        `json:"size"`
	SHA256 string       `json:"sha256"`
	Field  string       `json:"field"`
	Level  string       `json:"level"`
	Signer token.Handle `json:"signer,omitempty"`
}

type documentsResult struct {
	Documents []docMeta `json:"documents"`
}

// decodeParams decodes params into v. Absent or null params are the zero
// value unless required. Unknown members are ignored: within v1 clients
// may send fields a newer agent understands.
func decodeParams(raw json.RawMessage, v any, required bool) error {
	if len(raw) == 0 || string(raw) == "null" {
		if required {
			return errorf(CodeBadMessage, "params are required", nil)
		}
		return nil
	}
	if raw[0] != '{' {
		return errorf(CodeBadMessage, "params must be a JSON object", nil)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errorf(CodeBadMessage, "params: "+err.Error(), nil)
	}
	return nil
}

// prepare parses a method's params and returns the documents it declares
// and the call to make once they arrived.
func (s *session) prepare(method string, raw json.RawMessage) ([]docDecl, callFunc, error) {
	switch method {
	case "listCertificates":
		var f agent.CertificateFilter
		if err := decodeParams(raw, &f, false); err != nil {
			return nil, nil, err
		}
		return nil, func(ctx context.Context, _ *request, _ []agent.Document) outcome {
			certs, err := s.svc.ListCertificates(ctx, s.caller, f)
			if certs == nil {
				certs = []agent.CertificateInfo{}
			}
			return outcome{result: certs, err: err}
		}, nil

	case "status":
		return nil, func(ctx context.Context, _ *request, _ []agent.Document) outcome {
			st, err := s.svc.Status(ctx, s.caller)
			return resultOrError(st, err)
		}, nil

	case "signHash":
		var hr agent.SignHashRequest
		if err := decodeParams(raw, &hr, true); err != nil {
			return nil, nil, err
		}
		return nil, func(ctx context.Context, _ *request, _ []agent.Document) outcome {
			res, err := s.svc.SignHash(ctx, s.caller, hr)
			return resultOrError(res, err)
		}, nil

	case "signPdf", "verifyPdf":
		var p docParams
		if err := decodeParams(raw, &p, true); err != nil {
			return nil, nil, err
		}
		if len(p.Documents) != 1 {
			return nil, nil, errorf(CodeBadMessage, method+" takes exactly one document", nil)
		}
		if method == "verifyPdf" {
			return p.Documents, func(ctx context.Context, _ *request, docs []agent.Document) outcome {
				rep, err := s.svc.VerifyPDF(ctx, s.caller, docs[0])
				return resultOrError(rep, err)
			}, nil
		}
		return p.Documents, func(ctx context.Context, _ *request, docs []agent.Document) outcome {
			sd, err := s.svc.SignPDF(ctx, s.caller, docs[0], p.Options)
			if err != nil {
				return outcome{err: err}
			}
			if sd == nil {
				return outcome{err: errorf(CodeInternal, "internal error", nil)}
			}
			out, metas := signedDocuments([]agent.SignedDocument{*sd}, docs)
			return outcome{docs: out, result: documentsResult{Documents: metas}}
		}, nil

	case "signPdfs":
		var p docParams
		if err := decodeParams(raw, &p, true); err != nil {
			return nil, nil, err
		}
		if len(p.Documents) == 0 {
			return nil, nil, errorf(CodeBadMessage, "signPdfs takes at least one document", nil)
		}
		return p.Documents, func(ctx context.Context, req *request, docs []agent.Document) outcome {
			br := s.svc.SignPDFs(ctx, s.caller, docs, p.Options, func(pr agent.Progress) { s.progress(req.id, pr) })
			out, metas := signedDocuments(br.Signed, docs)
			if br.Err == nil {
				return outcome{docs: out, result: documentsResult{Documents: metas}}
			}
			// The documents signed before the stop are still delivered:
			// they are valid signatures the audit log already records.
			names := make([]string, len(metas))
			for i, m := range metas {
				names[i] = m.Name
			}
			return outcome{docs: out, err: br.Err, details: map[string]any{"signed": names, "documents": metas}}
		}, nil
	}
	return nil, nil, errorf(CodeUnknownMethod, "unknown method", map[string]any{"method": method})
}

// resultOrError makes an outcome of a method's pointer result; no result
// and no error is an agent bug, answered INTERNAL rather than null.
func resultOrError[T any](res *T, err error) outcome {
	if err == nil && res == nil {
		return outcome{err: errorf(CodeInternal, "internal error", nil)}
	}
	return outcome{result: res, err: err}
}

// signedDocuments turns signed documents into what is sent: the bytes,
// and metadata whose size and digest the bridge computes from those bytes.
// A signed document without a name takes the name of the input in the
// same position.
func signedDocuments(signed []agent.SignedDocument, inputs []agent.Document) ([]outDoc, []docMeta) {
	out := make([]outDoc, len(signed))
	metas := make([]docMeta, len(signed))
	for i, sd := range signed {
		sum := sha256.Sum256(sd.Data)
		out[i] = outDoc{data: sd.Data}
		name := sd.Name
		if name == "" && i < len(inputs) {
			name = inputs[i].Name
		}
		metas[i] = docMeta{Name: name, Size: int64(len(sd.Data)), SHA256: hex.EncodeToString(sum[:]), Field: sd.Field, Level: sd.Level, Signer: sd.Signer}
	}
	return out, metas
}

// checkDeclarations validates declared documents against the caps and
// prepares their uploads.
func (s *session) checkDeclarations(decls []docDecl) ([]*upload, error) {
	var total int64
	uploads := make([]*upload, 0, len(decls))
	for i, d := range decls {
		if !validName(d.Name) {
			return nil, errorf(CodeBadMessage, "document name must be 1 to 255 bytes of printable UTF-8", map[string]any{"doc": i})
		}
		if d.Size <= 0 {
			return nil, errorf(CodeBadMessage, "document size must be positive", map[string]any{"doc": i})
		}
		sum, err := hex.DecodeString(d.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return nil, errorf(CodeBadMessage, "document sha256 must be 64 hexadecimal digits", map[string]any{"doc": i})
		}
		if d.Size > s.lim.maxDocumentBytes {
			return nil, errorf(CodeTooLarge, "document over the size cap",
				map[string]any{"doc": i, "name": d.Name, "maxDocumentBytes": s.lim.maxDocumentBytes})
		}
		total += d.Size
		if total > s.lim.maxDocumentBytes {
			return nil, errorf(CodeTooLarge, "documents of one request over the size cap together",
				map[string]any{"maxDocumentBytes": s.lim.maxDocumentBytes})
		}
		// No buffer yet: it grows with the bytes that actually arrive.
		up := &upload{name: d.Name, size: d.Size, h: sha256.New()}
		copy(up.sum[:], sum)
		uploads = append(uploads, up)
	}
	return uploads, nil
}

// validName refuses names that could disguise themselves in the agent's
// dialog: control characters and bidirectional overrides.
func validName(name string) bool {
	if name == "" || len(name) > maxNameBytes || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return false
		}
	}
	return true
}
