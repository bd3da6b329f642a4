package pades

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"os"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/atomicfile"
)

// A document timestamp (ISO 32000-2 12.8.5, ETSI EN 319 142-1 5.4.3) is a
// signature field whose value holds an RFC 3161 token over the byte
// ranges instead of a CMS signature. Added after the DSS, it seals the
// validation data with a trusted time: PAdES B-LTA. Repeating the pair
// before the last timestamp's TSA certificate expires keeps the document
// verifiable indefinitely.

// DocTimestampOptions controls AddDocTimestamp.
type DocTimestampOptions struct {
	// TSA issues the token; its URL is required.
	TSA *cms.TSA
	// Field is the new field's name; empty picks the first free
	// "DocTimestampN". An existing name is refused.
	Field string
	// Reserve is how many bytes of token /Contents holds; zero means
	// DefaultTimestampReserve. A token that does not fit is an error
	// (SIGNATURE_TOO_LARGE) and nothing is written by AddDocTimestampFile.
	Reserve int
	// Hash is the message imprint hash: SHA-256, SHA-384 or SHA-512. Zero
	// means the TSA's Hash, and that zero SHA-256.
	Hash crypto.Hash
}

// AddDocTimestamp appends a document timestamp to the PDF in (size bytes)
// and writes the result to out: an invisible signature field whose value
// is /Type /DocTimeStamp /SubFilter /ETSI.RFC3161. As with Sign, the input
// is an exact prefix of the output and is hashed while it is copied; the
// TSA receives only the digest. DocMDP P=1 does not forbid it (ISO
// 32000-2 12.8.2.2.2 exempts document timestamps). TSA failures are
// *cms.TSAError values, wrapped.
func AddDocTimestamp(ctx context.Context, in io.ReaderAt, size int64, out Output, opts DocTimestampOptions) (*Result, error) {
	if opts.TSA == nil || opts.TSA.URL == "" {
		return nil, &Error{Code: CodeBadRequest, Reason: "a document timestamp needs a timestamp authority URL"}
	}
	h := opts.Hash
	if h == 0 {
		h = opts.TSA.Hash
	}
	if h == 0 {
		h = crypto.SHA256
	}
	reserve := opts.Reserve
	if err := checkHashAndReserve(h, reserve); err != nil {
		return nil, err
	}
	if reserve == 0 {
		reserve = DefaultTimestampReserve
	}
	d, err := openDocument(in, size)
	if err != nil {
		return nil, err
	}
	name := opts.Field
	if name == "" {
		name = d.freeFieldName("DocTimestamp")
	}
	u, digest, err := writePlaceholder(ctx, d, in, size, out, Field{Name: name}, sigDictSpec{docTimeStamp: true, contentsSize: reserve}, h)
	if err != nil {
		return nil, err
	}
	token, err := opts.TSA.TimestampDigest(ctx, h, digest)
	if err != nil {
		return nil, fmt.Errorf("pades: document timestamp: %w", err)
	}
	if err := fill(out, size+int64(u.contentsAt), reserve, token); err != nil {
		return nil, err
	}
	return &Result{FieldName: u.fieldName, ByteRange: u.byteRange(size), Digest: digest, CMS: token, Size: size + int64(len(u.tail)), Reserved: reserve}, nil
}

// AddDocTimestampFile is AddDocTimestamp between files, with the
// guarantees of SignFile: on any failure (the TSA's included) no file
// exists at outPath.
func AddDocTimestampFile(ctx context.Context, inPath, outPath string, opts DocTimestampOptions) (*Result, error) {
	return withFiles(inPath, outPath, func(in *os.File, size int64, out *atomicfile.File) (*Result, error) {
		return AddDocTimestamp(ctx, in, size, out, opts)
	})
}

// freeFieldName returns the first prefixN that names no field.
func (d *document) freeFieldName(prefix string) string {
	for i := 1; ; i++ {
		n := fmt.Sprintf("%s%d", prefix, i)
		if !d.fields[n] {
			return n
		}
	}
}
