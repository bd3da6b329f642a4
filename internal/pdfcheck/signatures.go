package pdfcheck

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// SignatureBytes is one signature found in a file by its /ByteRange.
type SignatureBytes struct {
	// ByteRange is [a b c d]: the signature covers [a, a+b) and [c, c+d).
	ByteRange [4]int64
	// Contents is the decoded /Contents hex string (the bytes between a+b
	// and c), cut to the length of the DER (or BER) element it starts
	// with, so the zero padding is gone.
	Contents []byte
}

// byteRangeKey is what ExtractSignatures looks for.
var byteRangeKey = []byte("/ByteRange")

// ExtractSignatures finds every /ByteRange [a b c d] array in the file by
// scanning its raw bytes, in file order, and reads the signature value from
// the gap the ranges leave, which must hold exactly the /Contents hex string
// "<…>". It shares no code with kyso's PDF reader, so it can catch what
// that reader gets wrong. Identical arrays (the same signature dictionary
// written again by a later update) are reported once. The scan streams the
// file, so its size does not matter.
func ExtractSignatures(path string) ([]SignatureBytes, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pdfcheck: extract signatures: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pdfcheck: extract signatures: %w", err)
	}
	size := fi.Size()

	var sigs []SignatureBytes
	seen := map[[4]int64]bool{}
	const chunk = 1 << 20
	// Consecutive windows overlap by len(byteRangeKey)-1 bytes so a key
	// split across two reads is still found, and never found twice.
	buf := make([]byte, chunk+len(byteRangeKey)-1)
	for base := int64(0); base < size; base += chunk {
		n, err := f.ReadAt(buf, base)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("pdfcheck: extract signatures: read %s: %w", path, err)
		}
		win := buf[:n]
		for i := 0; ; {
			j := bytes.Index(win[i:], byteRangeKey)
			if j < 0 {
				break
			}
			at := base + int64(i+j)
			i += j + 1
			br, err := readByteRange(f, at+int64(len(byteRangeKey)))
			if err != nil {
				return nil, fmt.Errorf("pdfcheck: %s: /ByteRange at byte %d: %w", path, at, err)
			}
			if seen[br] {
				continue
			}
			seen[br] = true
			contents, err := readContents(f, br, size)
			if err != nil {
				return nil, fmt.Errorf("pdfcheck: %s: /ByteRange %v at byte %d: %w", path, br, at, err)
			}
			sigs = append(sigs, SignatureBytes{ByteRange: br, Contents: contents})
		}
	}
	return sigs, nil
}

// readByteRange parses "[a b c d]" (any PDF whitespace, including the
// space padding signers leave for in-place patching) starting at off.
func readByteRange(r io.ReaderAt, off int64) ([4]int64, error) {
	var br [4]int64
	buf := make([]byte, 256)
	n, err := r.ReadAt(buf, off)
	if err != nil && err != io.EOF {
		return br, err
	}
	b := buf[:n]
	isSpace := func(c byte) bool {
		return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
	}
	i := 0
	skip := func() {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
	}
	skip()
	if i >= len(b) || b[i] != '[' {
		return br, errors.New("not followed by an array")
	}
	i++
	for k := range br {
		skip()
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		v, err := strconv.ParseInt(string(b[start:i]), 10, 64)
		if err != nil {
			return br, fmt.Errorf("element %d is not a non-negative integer", k)
		}
		br[k] = v
	}
	skip()
	if i >= len(b) || b[i] != ']' {
		return br, errors.New("array does not have exactly 4 elements")
	}
	return br, nil
}

// readContents reads the hex string in the gap [a+b, c) and cuts it to
// its DER length.
func readContents(r io.ReaderAt, br [4]int64, size int64) ([]byte, error) {
	a, b, c, d := br[0], br[1], br[2], br[3]
	gapStart, gapEnd := a+b, c
	if gapStart+2 > gapEnd || c+d > size {
		return nil, fmt.Errorf("ranges do not fit a file of %d bytes", size)
	}
	if gapEnd-gapStart > 64<<20 {
		return nil, fmt.Errorf("gap of %d bytes is not a plausible /Contents", gapEnd-gapStart)
	}
	gap := make([]byte, gapEnd-gapStart)
	if _, err := r.ReadAt(gap, gapStart); err != nil {
		return nil, err
	}
	if gap[0] != '<' || gap[len(gap)-1] != '>' {
		return nil, fmt.Errorf("gap [%d, %d) is not a hex string: starts %q, ends %q", gapStart, gapEnd, gap[0], gap[len(gap)-1])
	}
	hexDigits := make([]byte, 0, len(gap))
	for _, ch := range gap[1 : len(gap)-1] {
		switch ch {
		case ' ', '\n', '\r', '\t', '\f':
			continue // whitespace is allowed inside hex strings
		}
		hexDigits = append(hexDigits, ch)
	}
	if len(hexDigits)%2 == 1 {
		hexDigits = append(hexDigits, '0') // a final odd digit is followed by 0 (ISO 32000-1 7.3.4.3)
	}
	raw := make([]byte, len(hexDigits)/2)
	if _, err := hex.Decode(raw, hexDigits); err != nil {
		return nil, fmt.Errorf("/Contents: %w", err)
	}
	n, err := derLength(raw)
	if err != nil {
		return nil, fmt.Errorf("/Contents: %w", err)
	}
	return raw[:n], nil
}

// derLength returns the total length of the SEQUENCE at the start of b.
// The signature is usually DER, but NSS (pdfsig) writes BER with
// indefinite lengths, whose end is only found by walking the nested
// elements to the end-of-contents marker.
func derLength(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, errors.New("empty")
	}
	if b[0] != 0x30 {
		return 0, fmt.Errorf("does not start with a SEQUENCE (first byte %#02x)", b[0])
	}
	n, err := berElementLen(b, 0)
	if err != nil {
		return 0, fmt.Errorf("%w in the %d bytes of /Contents", err, len(b))
	}
	return n, nil
}

// berElementLen returns the encoded length of the BER element at the start
// of b. depth bounds the recursion on hostile input.
func berElementLen(b []byte, depth int) (int, error) {
	if depth > 64 {
		return 0, errors.New("BER nested too deeply")
	}
	i := 1
	if len(b) < 2 {
		return 0, errors.New("truncated BER element")
	}
	if b[0]&0x1f == 0x1f { // high tag number: base-128 continuation bytes
		for i < len(b) && b[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if i >= len(b) {
		return 0, errors.New("truncated BER tag")
	}
	l := int(b[i])
	i++
	switch {
	case l == 0x80: // indefinite: constructed contents up to 00 00
		if b[0]&0x20 == 0 {
			return 0, errors.New("indefinite length on a primitive BER element")
		}
		for {
			if i+2 > len(b) {
				return 0, errors.New("BER end-of-contents missing")
			}
			if b[i] == 0 && b[i+1] == 0 {
				return i + 2, nil
			}
			n, err := berElementLen(b[i:], depth+1)
			if err != nil {
				return 0, err
			}
			i += n
		}
	case l&0x80 != 0:
		k := l & 0x7f
		if k > 4 || i+k > len(b) {
			return 0, errors.New("bad BER length")
		}
		l = 0
		for _, x := range b[i : i+k] {
			l = l<<8 | int(x)
		}
		i += k
	}
	if i+l > len(b) {
		return 0, fmt.Errorf("BER length %d exceeds the data", i+l)
	}
	return i + l, nil
}

// oidTSTInfo is the DER encoding of id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4),
// the content type of an RFC 3161 time-stamp token: what a document
// time-stamp (/SubFilter /ETSI.RFC3161) holds instead of a detached CMS.
var oidTSTInfo = []byte{0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04}

// isTimestampToken tells a document time-stamp from a CMS signature: the
// token's encapsulated content type comes right after the SignedData
// header, before any certificate, so the OID is searched for only there.
func isTimestampToken(der []byte) bool {
	return bytes.Contains(der[:min(len(der), 128)], oidTSTInfo)
}

// OpenSSLVerify checks every signature in the file with OpenSSL against the
// bytes its /ByteRange covers: `openssl cms -verify -binary -inform DER
// -content <ranges> -CAfile <roots> -purpose any` for CMS signatures and
// `openssl ts -verify -data <ranges>` for document time-stamps. Certificates
// the signatures carry serve as intermediates. It returns an error naming
// each failing signature (#1 is the first in the file), or when the file
// has none.
func OpenSSLVerify(t testing.TB, path string, roots []*x509.Certificate) error {
	t.Helper()
	requireTool(t, "openssl")
	sigs, err := ExtractSignatures(path)
	if err != nil {
		return err
	}
	if len(sigs) == 0 {
		return fmt.Errorf("pdfcheck: %s has no signature", path)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "roots.pem")
	if err := writePEM(caFile, roots); err != nil {
		t.Fatalf("pdfcheck: %v", err)
	}
	var errs []error
	for i, s := range sigs {
		if err := verifyOne(dir, path, i+1, s, caFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// verifyOne verifies signature number n (1-based) of path.
func verifyOne(dir, path string, n int, s SignatureBytes, caFile string) error {
	name := fmt.Sprintf("signature #%d (ByteRange %v)", n, s.ByteRange)
	sigFile := filepath.Join(dir, fmt.Sprintf("sig-%d.der", n))
	dataFile := filepath.Join(dir, fmt.Sprintf("data-%d.bin", n))
	if err := os.WriteFile(sigFile, s.Contents, 0o644); err != nil {
		return fmt.Errorf("pdfcheck: %s: %w", name, err)
	}
	if err := writeRanges(path, dataFile, s.ByteRange); err != nil {
		return fmt.Errorf("pdfcheck: %s: %w", name, err)
	}
	var res result
	var err error
	if isTimestampToken(s.Contents) {
		res, err = execute("openssl", "ts", "-verify", "-data", dataFile, "-in", sigFile, "-token_in", "-CAfile", caFile)
	} else {
		res, err = execute("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", sigFile,
			"-content", dataFile, "-CAfile", caFile, "-purpose", "any", "-out", os.DevNull)
	}
	if err != nil {
		return fmt.Errorf("pdfcheck: %s: %w", name, err)
	}
	if res.code != 0 {
		return fmt.Errorf("pdfcheck: %s of %s: openssl exit %d:\n%s", name, path, res.code, res.out)
	}
	return nil
}

// writeRanges writes the two covered ranges of src, concatenated, to dst.
func writeRanges(src, dst string, br [4]int64) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	for _, r := range [][2]int64{{br[0], br[1]}, {br[2], br[3]}} {
		if _, err := io.Copy(out, io.NewSectionReader(in, r[0], r[1])); err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

// OpenSSLVerifyTimestamp verifies an RFC 3161 time-stamp token (DER
// ContentInfo, not a full TimeStampResp) over a message digest with
// `openssl ts -verify -token_in -digest <hex>`: the imprint must equal
// digest, the TSA signature must verify, and the TSA certificate must
// chain to roots (through untrusted, if given, or certificates in the
// token) and carry the critical timeStamping extended key usage.
func OpenSSLVerifyTimestamp(t testing.TB, token []byte, digest []byte, roots []*x509.Certificate, untrusted []*x509.Certificate) error {
	t.Helper()
	requireTool(t, "openssl")
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token.der")
	caFile := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(tokFile, token, 0o644); err != nil {
		t.Fatalf("pdfcheck: %v", err)
	}
	if err := writePEM(caFile, roots); err != nil {
		t.Fatalf("pdfcheck: %v", err)
	}
	args := []string{"ts", "-verify", "-digest", hex.EncodeToString(digest), "-in", tokFile, "-token_in", "-CAfile", caFile}
	if len(untrusted) > 0 {
		f := filepath.Join(dir, "untrusted.pem")
		if err := writePEM(f, untrusted); err != nil {
			t.Fatalf("pdfcheck: %v", err)
		}
		args = append(args, "-untrusted", f)
	}
	res, err := execute("openssl", args...)
	if err != nil {
		t.Fatal(err)
	}
	if res.code != 0 {
		return fmt.Errorf("pdfcheck: openssl ts -verify: exit %d:\n%s", res.code, res.out)
	}
	return nil
}
