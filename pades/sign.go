package pades

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/atomicfile"
)

// Output receives a signed document: written front to back, then the
// signature is patched in place. *os.File satisfies it.
type Output interface {
	io.Writer
	io.WriterAt
}

// Result describes a signature that was written.
type Result struct {
	FieldName string
	// ByteRange is the signed part of the output: [0, a) and [b, b+c).
	ByteRange [4]int64
	// Digest is the hash of the byte ranges.
	Digest []byte
	// CMS is the DER signature embedded in /Contents.
	CMS []byte
	// Size is the length of the output.
	Size int64
	// Reserved is how many bytes /Contents could hold.
	Reserved int
}

// copyBufferSize is large enough that copying a 100 MB scan costs a few
// hundred system calls, small enough to keep peak memory flat.
const copyBufferSize = 1 << 20

// signatureSlack absorbs the few bytes an ECDSA signature's DER encoding
// varies by, beyond cms.MaxSize's worst case.
const signatureSlack = 32

// Sign appends a PAdES signature to the PDF in (size bytes) and writes the
// result to out. The input is copied unchanged, so it is an exact prefix of
// the output, and hashed while it is copied: the document is read once and
// never held in memory. The key signs exactly once.
func Sign(ctx context.Context, in io.ReaderAt, size int64, out Output, signer crypto.Signer, cert *x509.Certificate, opts Options) (*Result, error) {
	if cert == nil || signer == nil {
		return nil, &Error{Code: CodeBadRequest, Reason: "a certificate and a signer are required"}
	}
	level := opts.level()
	if level != LevelBB && level != LevelBT {
		return nil, &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("level %q: this signer makes B-B and B-T", level)}
	}
	if level == LevelBT && (opts.TSA == nil || opts.TSA.URL == "") {
		return nil, &Error{Code: CodeBadRequest, Reason: "level B-T needs a timestamp authority URL"}
	}
	d, err := openDocument(in, size)
	if err != nil {
		return nil, err
	}
	reserved, err := cms.MaxSize(cert, opts.cmsOptions())
	if err != nil {
		return nil, &Error{Code: CodeBadRequest, Reason: "cannot size the signature", Err: err}
	}
	reserved += signatureSlack
	if level == LevelBT {
		if opts.TimestampReserve > 0 {
			reserved += opts.TimestampReserve
		} else {
			reserved += DefaultTimestampReserve
		}
	}
	info := opts.Info
	if info.Name == "" {
		info.Name = cert.Subject.CommonName
	}
	when := opts.Time
	if when.IsZero() {
		when = time.Now()
	}
	u, digest, err := writePlaceholder(ctx, d, in, size, out, opts.Field, sigDictSpec{info: info, when: when, certify: opts.Certify, contentsSize: reserved}, opts.hash())
	if err != nil {
		return nil, err
	}
	der, err := cms.Sign(ctx, signer, cert, digest, opts.cmsOptions())
	if err != nil {
		return nil, fmt.Errorf("pades: sign: %w", err)
	}
	if level == LevelBT {
		if der, err = cms.AddTimestamp(ctx, der, opts.TSA); err != nil {
			return nil, fmt.Errorf("pades: timestamp: %w", err)
		}
	}
	if err := fill(out, size+int64(u.contentsAt), reserved, der); err != nil {
		return nil, err
	}
	return &Result{FieldName: u.fieldName, ByteRange: u.byteRange(size), Digest: digest, CMS: der, Size: size + int64(len(u.tail)), Reserved: reserved}, nil
}

// writePlaceholder plans the field f with spec, writes the input and the
// update to out, and returns the update and the digest (with h) of
// everything but the /Contents placeholder: the part Sign, Prepare and
// AddDocTimestamp share.
func writePlaceholder(ctx context.Context, d *document, in io.ReaderAt, size int64, out Output, f Field, spec sigDictSpec, h crypto.Hash) (*sigUpdate, []byte, error) {
	u, err := planSignature(d, f, spec)
	if err != nil {
		return nil, nil, err
	}
	if err := u.setByteRange(size); err != nil {
		return nil, nil, err
	}
	digest, err := writeWithPlaceholder(ctx, in, size, out, u, h.New())
	if err != nil {
		return nil, nil, err
	}
	return u, digest, nil
}

// writeWithPlaceholder copies the input and the update to out and returns
// the digest of everything but the /Contents placeholder.
func writeWithPlaceholder(ctx context.Context, in io.ReaderAt, size int64, out Output, u *sigUpdate, h hash.Hash) ([]byte, error) {
	if err := copyAndHash(ctx, in, size, out, h); err != nil {
		return nil, err
	}
	both := io.MultiWriter(h, out)
	if _, err := both.Write(u.tail[:u.contentsAt]); err != nil {
		return nil, fmt.Errorf("pades: write update: %w", err)
	}
	if _, err := out.Write(u.tail[u.contentsAt:u.contentsEnd]); err != nil {
		return nil, fmt.Errorf("pades: write update: %w", err)
	}
	if _, err := both.Write(u.tail[u.contentsEnd:]); err != nil {
		return nil, fmt.Errorf("pades: write update: %w", err)
	}
	return h.Sum(nil), nil
}

// copyAndHash copies the input to out and feeds it to h. Between two
// files the copy is left to the kernel (copy_file_range on Linux, no
// user-space copy) and the hash is then taken from the output itself: the
// digest is of the bytes that were written, even if the input changed
// while it was copied. Other outputs get a read-hash-write loop.
func copyAndHash(ctx context.Context, in io.ReaderAt, size int64, out Output, h hash.Hash) error {
	src, srcIsFile := in.(*os.File)
	rf, outIsFile := out.(io.ReaderFrom)
	written, outReadable := out.(io.ReaderAt)
	if srcIsFile && outIsFile && outReadable {
		if _, err := src.Seek(0, io.SeekStart); err == nil {
			n, err := rf.ReadFrom(io.LimitReader(src, size))
			switch {
			case err != nil:
				return fmt.Errorf("pades: copy input: %w", err)
			case n != size:
				return badDocument(nil, "the file shrank while it was read (%d of %d bytes)", n, size)
			}
			return hashRange(ctx, written, size, h)
		}
	}
	both := io.MultiWriter(h, out)
	src2 := &ctxReader{ctx: ctx, r: io.NewSectionReader(in, 0, size)}
	if n, err := io.CopyBuffer(both, src2, make([]byte, copyBufferSize)); err != nil {
		return fmt.Errorf("pades: copy input: %w", err)
	} else if n != size {
		return badDocument(nil, "the file shrank while it was read (%d of %d bytes)", n, size)
	}
	return nil
}

// hashRange feeds the first size bytes of in to h.
func hashRange(ctx context.Context, in io.ReaderAt, size int64, h hash.Hash) error {
	n, err := io.CopyBuffer(h, &ctxReader{ctx: ctx, r: io.NewSectionReader(in, 0, size)}, make([]byte, copyBufferSize))
	if err != nil {
		return fmt.Errorf("pades: read input: %w", err)
	}
	if n != size {
		return badDocument(nil, "the file shrank while it was read (%d of %d bytes)", n, size)
	}
	return nil
}

// fill writes the CMS into the placeholder whose '<' is at offset.
func fill(out io.WriterAt, offset int64, reserved int, der []byte) error {
	if len(der) > reserved {
		return &Error{Code: CodeSignatureTooLarge, Reason: fmt.Sprintf("the signature is %d bytes, %d were reserved", len(der), reserved)}
	}
	enc := make([]byte, hex.EncodedLen(len(der)))
	hex.Encode(enc, der)
	if _, err := out.WriteAt(enc, offset+1); err != nil {
		return fmt.Errorf("pades: write signature: %w", err)
	}
	return nil
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// SignFile signs the PDF at inPath into outPath. The output is written to a
// temporary file in outPath's folder and renamed into place only when the
// signature is complete: on any failure no file exists at outPath (an
// earlier file there is left untouched).
func SignFile(ctx context.Context, inPath, outPath string, signer crypto.Signer, cert *x509.Certificate, opts Options) (*Result, error) {
	return withFiles(inPath, outPath, func(in *os.File, size int64, out *atomicfile.File) (*Result, error) {
		return Sign(ctx, in, size, out, signer, cert, opts)
	})
}

// withFiles opens inPath, creates outPath atomically, and commits it when
// fn succeeds.
func withFiles(inPath, outPath string, fn func(in *os.File, size int64, out *atomicfile.File) (*Result, error)) (*Result, error) {
	if same, err := sameFile(inPath, outPath); err != nil {
		return nil, err
	} else if same {
		return nil, &Error{Code: CodeBadRequest, Reason: "the output must be a different file from the input"}
	}
	in, err := os.Open(inPath)
	if err != nil {
		return nil, &Error{Code: CodeBadRequest, Reason: "cannot open the input", Err: err}
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return nil, &Error{Code: CodeBadRequest, Reason: "cannot read the input", Err: err}
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{Code: CodeBadRequest, Reason: inPath + " is not a regular file"}
	}
	out, err := atomicfile.Create(outPath, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Abort()
	res, err := fn(in, fi.Size(), out)
	if err != nil {
		return nil, err
	}
	if err := out.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

func sameFile(a, b string) (bool, error) {
	ai, err := os.Stat(a)
	if err != nil {
		return false, &Error{Code: CodeBadRequest, Reason: "cannot open the input", Err: err}
	}
	bi, err := os.Stat(b)
	if err != nil {
		if os.IsNotExist(err) {
			return false, nil
		}
		return false, &Error{Code: CodeBadRequest, Reason: "cannot check the output path", Err: err}
	}
	if os.SameFile(ai, bi) {
		return true, nil
	}
	aa, _ := filepath.Abs(a)
	ba, _ := filepath.Abs(b)
	return aa == ba, nil
}
