package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/atomicfile"
)

// Hash mode splits signing between a DMS server and the signer: the server
// prepares the document (placeholder, field, /M fixed) and sends only the
// digest; the signer returns a CMS; the server embeds it. The document
// itself never leaves the server.

// PrepareOptions controls Prepare.
type PrepareOptions struct {
	Field   Field
	Info    Info
	Time    time.Time
	Certify DocMDP
	Hash    crypto.Hash
	// Reserve is how many bytes of CMS the placeholder holds. Zero means:
	// computed from Cert and Chain when Cert is set (plus
	// TimestampReserve when Timestamped), else DefaultHashModeReserve.
	Reserve     int
	Cert        *x509.Certificate
	Chain       []*x509.Certificate
	PSS         bool
	Timestamped bool
}

// MaxReserve bounds the placeholder: a CMS with a long chain and a
// timestamp is well under 64 KB; a megabyte is a mistake.
const MaxReserve = 1 << 20

// DefaultHashModeReserve is the placeholder size when the signer's
// certificate is not known in advance: room for an RSA-4096 chain of four
// certificates and a timestamp token.
const DefaultHashModeReserve = 24 * 1024

// Prepared is the outcome of Prepare: what to sign and where it goes.
type Prepared struct {
	FieldName string
	ByteRange [4]int64
	Hash      crypto.Hash
	// Digest is the hash of the byte ranges: the value a CMS's
	// message-digest attribute must carry.
	Digest  []byte
	Reserve int
	Size    int64
}

// checkHashAndReserve validates what callers may choose for a placeholder
// signature: a SHA-2 hash and a reservation within MaxReserve (0 means
// automatic).
func checkHashAndReserve(h crypto.Hash, reserve int) error {
	if h != crypto.SHA256 && h != crypto.SHA384 && h != crypto.SHA512 {
		return &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("hash %v: use SHA-256, SHA-384 or SHA-512", h)}
	}
	if reserve < 0 || reserve > MaxReserve {
		return &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("reserve %d bytes: use 0 (automatic) up to %d", reserve, MaxReserve)}
	}
	return nil
}

// Prepare writes the document with an empty signature field and returns
// the digest to sign.
func Prepare(ctx context.Context, in io.ReaderAt, size int64, out Output, opts PrepareOptions) (*Prepared, error) {
	h := opts.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	reserve := opts.Reserve
	if err := checkHashAndReserve(h, reserve); err != nil {
		return nil, err
	}
	if reserve == 0 && opts.Cert != nil {
		n, err := cms.MaxSize(opts.Cert, cms.Options{Hash: h, PSS: opts.PSS, Chain: opts.Chain})
		if err != nil {
			return nil, &Error{Code: CodeBadRequest, Reason: "cannot size the signature", Err: err}
		}
		reserve = n + signatureSlack
		if opts.Timestamped {
			reserve += DefaultTimestampReserve
		}
	}
	if reserve == 0 {
		reserve = DefaultHashModeReserve
	}
	d, err := openDocument(in, size)
	if err != nil {
		return nil, err
	}
	when := opts.Time
	if when.IsZero() {
		when = time.Now()
	}
	u, digest, err := writePlaceholder(ctx, d, in, size, out, opts.Field, sigDictSpec{info: opts.Info, when: when, certify: opts.Certify, contentsSize: reserve}, h)
	if err != nil {
		return nil, err
	}
	return &Prepared{FieldName: u.fieldName, ByteRange: u.byteRange(size), Hash: h, Digest: digest, Reserve: reserve, Size: size + int64(len(u.tail))}, nil
}

// PrepareFile is Prepare between files, with the guarantees of SignFile.
func PrepareFile(ctx context.Context, inPath, outPath string, opts PrepareOptions) (*Prepared, error) {
	var p *Prepared
	_, err := withFiles(inPath, outPath, func(in *os.File, size int64, out *atomicfile.File) (*Result, error) {
		var err error
		p, err = Prepare(ctx, in, size, out, opts)
		return nil, err
	})
	return p, err
}

// maxTailScan bounds how far from the end Embed looks for the placeholder.
const maxTailScan = 4 << 20

// Embed writes a CMS signature into the empty placeholder of a prepared
// document and copies the result to out. It refuses a CMS whose
// message-digest is not the digest of the prepared document's byte ranges
// (DIGEST_MISMATCH) and one that does not fit (SIGNATURE_TOO_LARGE).
func Embed(ctx context.Context, prepared io.ReaderAt, size int64, out Output, der []byte) (*Result, error) {
	br, err := findPlaceholder(prepared, size)
	if err != nil {
		return nil, err
	}
	sd, err := cms.Parse(der)
	if err != nil {
		return nil, &Error{Code: CodeBadRequest, Reason: "the signature is not a CMS SignedData", Err: err}
	}
	if len(sd.Signers) != 1 {
		return nil, &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("the CMS has %d signers, want 1", len(sd.Signers))}
	}
	si := sd.Signers[0]
	h := si.DigestAlgorithm
	if h != crypto.SHA256 && h != crypto.SHA384 && h != crypto.SHA512 {
		return nil, &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("the CMS uses digest %v; use SHA-256, SHA-384 or SHA-512", h)}
	}
	// The CMS comes from outside (a client, a remote signer): check that
	// it is a real signature by the certificate it carries, not only that
	// it names the right digest.
	if si.Certificate == nil {
		return nil, &Error{Code: CodeBadRequest, Reason: "the CMS does not carry its signer's certificate"}
	}
	if err := si.VerifySignature(); err != nil {
		return nil, &Error{Code: CodeBadRequest, Reason: "the CMS signature does not verify", Err: err}
	}
	if err := si.CheckSigningCertificate(); err != nil {
		return nil, &Error{Code: CodeBadRequest, Reason: "the CMS's signing-certificate attribute does not match its signer", Err: err}
	}
	hw := h.New()
	for _, r := range [][2]int64{{br[0], br[1]}, {br[2], br[2] + br[3]}} {
		if _, err := io.Copy(hw, &ctxReader{ctx: ctx, r: io.NewSectionReader(prepared, r[0], r[1]-r[0])}); err != nil {
			return nil, fmt.Errorf("pades: read prepared document: %w", err)
		}
	}
	digest := hw.Sum(nil)
	if err := si.CheckMessageDigest(digest); err != nil {
		return nil, &Error{Code: CodeDigestMismatch, Reason: "the CMS was made for other bytes than this prepared document", Err: err}
	}
	reserve := int(br[2]-br[1]-2) / 2
	if _, err := io.CopyBuffer(out, &ctxReader{ctx: ctx, r: io.NewSectionReader(prepared, 0, size)}, make([]byte, copyBufferSize)); err != nil {
		return nil, fmt.Errorf("pades: copy prepared document: %w", err)
	}
	if err := fill(out, br[1], reserve, der); err != nil {
		return nil, err
	}
	return &Result{ByteRange: br, Digest: digest, CMS: der, Size: size, Reserved: reserve}, nil
}

// EmbedFile is Embed between files, with the guarantees of SignFile.
func EmbedFile(ctx context.Context, preparedPath, outPath string, der []byte) (*Result, error) {
	return withFiles(preparedPath, outPath, func(in *os.File, size int64, out *atomicfile.File) (*Result, error) {
		return Embed(ctx, in, size, out, der)
	})
}

// findPlaceholder locates the last signature's /ByteRange and checks that
// it covers the whole file around an empty /Contents.
func findPlaceholder(r io.ReaderAt, size int64) ([4]int64, error) {
	var br [4]int64
	n := min(size, int64(maxTailScan))
	tail := make([]byte, n)
	if _, err := r.ReadAt(tail, size-n); err != nil && err != io.EOF {
		return br, fmt.Errorf("pades: read prepared document: %w", err)
	}
	i := bytes.LastIndex(tail, []byte("/ByteRange"))
	if i < 0 {
		return br, badDocument(nil, "no signature placeholder in the last %d bytes: not a prepared document", n)
	}
	rest := tail[i+len("/ByteRange"):]
	rest = bytes.TrimLeft(rest, " \t\r\n")
	if len(rest) == 0 || rest[0] != '[' {
		return br, badDocument(nil, "malformed /ByteRange")
	}
	end := bytes.IndexByte(rest, ']')
	if end < 0 {
		return br, badDocument(nil, "malformed /ByteRange")
	}
	fields := bytes.Fields(rest[1:end])
	if len(fields) != 4 {
		return br, badDocument(nil, "/ByteRange has %d numbers, want 4", len(fields))
	}
	for k, f := range fields {
		v, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil || v < 0 {
			return br, badDocument(nil, "malformed /ByteRange number %q", f)
		}
		br[k] = v
	}
	if br[0] != 0 || br[1] >= br[2] || br[2]+br[3] != size || br[2]-br[1] < 2 {
		return br, badDocument(nil, "the last /ByteRange %v does not cover this file of %d bytes: not a prepared document, or it was changed", br, size)
	}
	// The gap must be exactly an empty hex string: '<' zeros '>'.
	gap := make([]byte, br[2]-br[1])
	if _, err := r.ReadAt(gap, br[1]); err != nil {
		return br, fmt.Errorf("pades: read placeholder: %w", err)
	}
	if gap[0] != '<' || gap[len(gap)-1] != '>' || len(bytes.Trim(gap[1:len(gap)-1], "0")) != 0 {
		return br, &Error{Code: CodeBadRequest, Reason: "the placeholder is not empty: the document is already signed"}
	}
	return br, nil
}
