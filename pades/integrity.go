package pades

import (
	"cmp"
	"context"
	"crypto"
	"crypto/x509"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// SignatureCheck is the integrity of one signature already in a document:
// whether the bytes it covers are the bytes it signed. Trust in the signer
// (chain, revocation, time) is a separate question; see Verify.
type SignatureCheck struct {
	Field     string
	SubFilter string
	ByteRange [4]int64
	// CoversWholeFile: the signature covers everything up to the end of the
	// file (the last signature of an unchanged document).
	CoversWholeFile bool
	Signer          *x509.Certificate
	// Err is nil when the signature is intact; otherwise it says what is
	// broken (digest mismatch, bad signature, malformed byte range).
	Err error
}

// Intact reports whether the signature's bytes and CMS check out.
func (c SignatureCheck) Intact() bool { return c.Err == nil }

// errBrokenSignature is wrapped by every integrity failure.
var errBrokenSignature = errors.New("signature is broken")

// CheckSignatures checks the integrity of every signature field that
// carries a value: the byte ranges are in the file, the CMS's
// message-digest equals their digest, the CMS signature verifies with the
// embedded signer certificate, and the signing-certificate attribute binds
// that certificate. A document whose earlier signature is broken must not
// be signed again as if nothing happened (the clerk's check before
// issuing, ND 30/2020 Điều 21, 32).
func CheckSignatures(in io.ReaderAt, size int64) ([]SignatureCheck, error) {
	d, err := openDocument(in, size)
	if err != nil {
		return nil, err
	}
	return d.checkSignatures(context.Background(), in, size)
}

// checkSignatures is CheckSignatures on an open document.
func (d *document) checkSignatures(ctx context.Context, in io.ReaderAt, size int64) ([]SignatureCheck, error) {
	entries := d.sigEntries(size)
	if err := digestAll(ctx, in, entries); err != nil {
		return nil, err
	}
	out := make([]SignatureCheck, 0, len(entries))
	for _, e := range entries {
		c := SignatureCheck{Field: e.field, SubFilter: e.subFilter, ByteRange: e.byteRange, Err: e.err}
		c.CoversWholeFile = e.err == nil && e.byteRange[2]+e.byteRange[3] == size
		if c.Err == nil {
			c.Err = e.checkIntegrity()
		}
		switch {
		case e.signer != nil:
			c.Signer = e.signer.Certificate
		case e.timestamp != nil:
			c.Signer = e.timestamp.Certificate
		}
		out = append(out, c)
	}
	return out, nil
}

// sigEntry is one signature field read for checking: its dictionary, the
// ranges it covers, the parsed CMS or timestamp token, and, after
// digestAll, the digest of the ranges.
type sigEntry struct {
	field        string
	dict         pdf.Dict
	subFilter    string
	byteRange    [4]int64
	contents     []byte // the /Contents string as stored, padding included
	docTimestamp bool
	signer       *cms.SignerInfo
	certs        []*x509.Certificate // all certificates of the CMS
	timestamp    *cms.Timestamp      // the token of a document timestamp
	hash         crypto.Hash
	digest       []byte
	// err (with errCode) is set when the entry cannot be checked at all:
	// no dictionary, a byte range outside the file, unreadable contents.
	err     error
	errCode string
}

// sigEntries reads every signature field's dictionary and contents.
func (d *document) sigEntries(size int64) []*sigEntry {
	var out []*sigEntry
	for _, sf := range d.sigFields {
		e := &sigEntry{field: sf.name}
		out = append(out, e)
		fail := func(code, format string, args ...any) {
			e.err = fmt.Errorf("%w: "+format, append([]any{errBrokenSignature}, args...)...)
			e.errCode = code
		}
		sig, err := d.dict(sf.value)
		if err != nil || sig == nil {
			fail(FindingByteRange, "the signature dictionary cannot be read")
			continue
		}
		e.dict = sig
		if n, ok := sig["SubFilter"].(pdf.Name); ok {
			e.subFilter = string(n)
		}
		t, _ := sig["Type"].(pdf.Name)
		e.docTimestamp = e.subFilter == "ETSI.RFC3161" || t == "DocTimeStamp"
		br, err := d.array(sig["ByteRange"])
		if err != nil || len(br) != 4 {
			fail(FindingByteRange, "no valid /ByteRange")
			continue
		}
		bad := false
		for i, v := range br {
			n, ok := d.integer(v)
			if !ok || n < 0 {
				fail(FindingByteRange, "/ByteRange entry %d is not a non-negative integer", i)
				bad = true
				break
			}
			e.byteRange[i] = n
		}
		if bad {
			continue
		}
		r := e.byteRange
		if r[0] != 0 || r[1] > r[2] || r[2]+r[3] > size {
			fail(FindingByteRange, "/ByteRange %v does not fit a file of %d bytes", r, size)
			continue
		}
		contents, err := d.r.Resolve(sig["Contents"])
		if err != nil {
			fail(FindingByteRange, "/Contents cannot be read")
			continue
		}
		der, ok := contents.(pdf.String)
		if !ok || len(der.Bytes) == 0 {
			fail(FindingByteRange, "no /Contents")
			continue
		}
		e.contents = der.Bytes
		if e.docTimestamp {
			ts, err := cms.ParseTimestamp(der.Bytes)
			if err != nil {
				fail(FindingSignatureInvalid, "the document timestamp cannot be read: %v", err)
				continue
			}
			e.timestamp, e.hash = ts, ts.HashAlgorithm
		} else {
			sd, err := cms.Parse(der.Bytes)
			if err != nil || len(sd.Signers) == 0 {
				fail(FindingSignatureInvalid, "/Contents is not a CMS signature: %v", err)
				continue
			}
			e.signer, e.certs, e.hash = sd.Signers[0], sd.Certificates, sd.Signers[0].DigestAlgorithm
		}
		if !e.hash.Available() {
			fail(FindingUnsupported, "unsupported digest algorithm")
			continue
		}
	}
	return out
}

// checkIntegrity is the integrity part of verification, for callers that
// only need to know whether a signature is broken.
func (e *sigEntry) checkIntegrity() error {
	if e.docTimestamp {
		if string(e.digest) != string(e.timestamp.HashedMessage) {
			return fmt.Errorf("%w: the document changed inside the range the timestamp covers", errBrokenSignature)
		}
		return nil
	}
	si := e.signer
	if len(si.SignedAttrsDER) == 0 {
		// adbe.pkcs7.detached without attributes signs the digest
		// directly; kyso does not produce these and treats them as
		// unverifiable rather than intact.
		return fmt.Errorf("%w: a CMS without signed attributes is not supported", errBrokenSignature)
	}
	if err := si.CheckMessageDigest(e.digest); err != nil {
		return fmt.Errorf("%w: the document changed inside the signed range (%v)", errBrokenSignature, err)
	}
	if err := si.VerifySignature(); err != nil {
		return fmt.Errorf("%w: the CMS signature does not verify (%v)", errBrokenSignature, err)
	}
	if err := si.CheckSigningCertificate(); err != nil && !errors.Is(err, cms.ErrMissingAttribute) {
		return fmt.Errorf("%w: the signing-certificate attribute does not match (%v)", errBrokenSignature, err)
	}
	return nil
}

// digestChunk is how much of the file one read brings in. Two buffers
// alternate: the next chunk is read while the hashes run over this one.
const digestChunk = 2 << 20

// digestAll computes every entry's digest in one sequential pass over the
// file (see digestRanges).
func digestAll(ctx context.Context, in io.ReaderAt, entries []*sigEntry) error {
	_, err := digestRanges(ctx, in, entries, 0, 0)
	return err
}

// digestJob is one digest digestRanges computes: of [0,a) followed by
// [b,c), with a ≤ b ≤ c (the whole file is a = b = c = size).
type digestJob struct {
	alg     crypto.Hash
	a, b, c int64
	h       hash.Hash // nil until the job leaves its trunk
	shared  bool      // takes [0,a) from its algorithm's trunk
	e       *sigEntry // nil for the whole-file digest
}

// trunk hashes, once, the bytes that every job of one algorithm starts
// with: the stream [0,a) of a job is the first a bytes of the file, so the
// hash state after a bytes is the same for every job, and a clone of it is
// where the job's own part, [b,c), begins. In a document signed n times
// the signatures' first ranges nest, so the file is hashed once rather than
// n times.
type trunk struct {
	h     hash.Hash
	pos   int64
	jobs  []*digestJob // by a, ascending
	next  int          // the first job not yet cloned off
	end   int64        // the largest a
	clone func(hash.Hash) (hash.Hash, error)
}

// feed hashes data, the bytes [t.pos, t.pos+len(data)) of the file, up to
// the trunk's end, and gives each job whose a it passes its own copy of
// the state.
func (t *trunk) feed(data []byte) error {
	for {
		for t.next < len(t.jobs) && t.jobs[t.next].a == t.pos {
			j := t.jobs[t.next]
			h, err := t.clone(t.h)
			if err != nil {
				return err
			}
			j.h = h
			t.next++
		}
		if t.next == len(t.jobs) || len(data) == 0 {
			return nil
		}
		n := min(int64(len(data)), t.jobs[t.next].a-t.pos)
		t.h.Write(data[:n])
		data = data[n:]
		t.pos += n
	}
}

// cloneHash copies a hash's state: hash.Cloner, or the state's binary
// encoding, which every standard library hash supports.
func cloneHash(alg crypto.Hash) func(hash.Hash) (hash.Hash, error) {
	return func(h hash.Hash) (hash.Hash, error) {
		if c, ok := h.(hash.Cloner); ok {
			return c.Clone()
		}
		state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return nil, err
		}
		h2 := alg.New()
		if err := h2.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			return nil, err
		}
		return h2, nil
	}
}

// canClone reports whether alg's state can be copied.
func canClone(alg crypto.Hash) bool {
	h := alg.New()
	if _, ok := h.(hash.Cloner); ok {
		return true
	}
	_, m := h.(encoding.BinaryMarshaler)
	_, u := h.(encoding.BinaryUnmarshaler)
	return m && u
}

// digestRanges computes every intact entry's digest and, when fileHash is
// not zero, the fileHash digest of the whole file (size bytes), in one
// sequential pass over the file: each signature covers a prefix of it
// minus its own /Contents, so one read of each byte feeds every hash that
// covers it. The bytes every digest of one algorithm starts with are
// hashed once (see trunk); the rest of each digest runs in parallel with
// the others, and the next chunk is read while the hashes run.
func digestRanges(ctx context.Context, in io.ReaderAt, entries []*sigEntry, fileHash crypto.Hash, size int64) ([]byte, error) {
	var jobs []*digestJob
	var end int64
	for _, e := range entries {
		if e.err != nil {
			continue
		}
		r := e.byteRange
		jobs = append(jobs, &digestJob{alg: e.hash, a: r[1], b: r[2], c: r[2] + r[3], e: e})
		end = max(end, r[2]+r[3])
	}
	if fileHash != 0 {
		jobs = append(jobs, &digestJob{alg: fileHash, a: size, b: size, c: size})
		end = max(end, size)
	}
	if len(jobs) == 0 {
		return nil, nil
	}
	trunks := map[crypto.Hash]*trunk{}
	var order []*trunk
	for _, j := range jobs {
		if !canClone(j.alg) {
			// Hashed on its own from the start.
			j.h = j.alg.New()
			continue
		}
		j.shared = true
		t := trunks[j.alg]
		if t == nil {
			t = &trunk{h: j.alg.New(), clone: cloneHash(j.alg)}
			trunks[j.alg] = t
			order = append(order, t)
		}
		t.jobs = append(t.jobs, j)
		t.end = max(t.end, j.a)
	}
	for _, t := range order {
		slices.SortStableFunc(t.jobs, func(x, y *digestJob) int { return cmp.Compare(x.a, y.a) })
		// Jobs that start with nothing (a = 0) leave at once.
		if err := t.feed(nil); err != nil {
			return nil, err
		}
	}

	type chunk struct {
		buf []byte
		off int64
		err error
	}
	read := func(buf []byte, off int64) chunk {
		n := min(int64(len(buf)), end-off)
		if _, err := in.ReadAt(buf[:n], off); err != nil && !(errors.Is(err, io.EOF) && n > 0) {
			return chunk{err: fmt.Errorf("pades: read signed ranges at %d: %w", off, err)}
		}
		return chunk{buf: buf[:n], off: off}
	}
	bufs := [2][]byte{make([]byte, min(digestChunk, end)), make([]byte, min(digestChunk, end))}
	// next delivers the chunk being read, then is closed; it is closed at
	// once when the pass is over.
	var next chan chunk
	prefetch := func(i int, off int64) {
		next = make(chan chunk, 1)
		if off >= end {
			close(next)
			return
		}
		go func(c chan<- chunk) {
			c <- read(bufs[i], off)
			close(c)
		}(next)
	}
	defer func() {
		// A read still in flight finishes before its buffer goes.
		for range next {
		}
	}()
	prefetch(0, 0)
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		cur, ok := <-next
		if !ok {
			break
		}
		if cur.err != nil {
			return nil, cur.err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := int64(len(cur.buf))
		prefetch((i+1)%2, cur.off+n)
		// The trunks first, one goroutine each; then every job's own
		// ranges in this chunk, whose state a trunk may just have handed
		// over, in parallel.
		errs := make([]error, len(order))
		for k, t := range order {
			if t.pos >= t.end {
				continue
			}
			wg.Go(func() { errs[k] = t.feed(cur.buf[t.pos-cur.off : min(t.end, cur.off+n)-cur.off]) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("pades: copy hash state: %w", err)
		}
		for _, j := range jobs {
			parts := [][2]int64{{j.b, j.c}}
			if !j.shared {
				parts = [][2]int64{{0, j.a}, {j.b, j.c}}
			}
			var segs [][]byte
			for _, p := range parts {
				if lo, hi := max(p[0], cur.off), min(p[1], cur.off+n); lo < hi {
					segs = append(segs, cur.buf[lo-cur.off:hi-cur.off])
				}
			}
			if len(segs) == 0 {
				continue
			}
			wg.Go(func() {
				for _, s := range segs {
					j.h.Write(s)
				}
			})
		}
		wg.Wait()
	}
	var fileDigest []byte
	for _, j := range jobs {
		if j.h == nil {
			// Cannot happen: every trunk reaches its end.
			return nil, fmt.Errorf("pades: digest of [0,%d) not computed", j.a)
		}
		if j.e != nil {
			j.e.digest = j.h.Sum(nil)
		} else {
			fileDigest = j.h.Sum(nil)
		}
	}
	return fileDigest, nil
}

// certificationLevel is the DocMDP P of sig when it is a certification
// signature (its /Reference has a DocMDP transform), else 0.
func (d *document) certificationLevel(sig pdf.Dict) int {
	refs, _ := d.array(sig["Reference"])
	for _, r := range refs {
		rd, err := d.dict(r)
		if err != nil || rd == nil {
			continue
		}
		if m, _ := rd["TransformMethod"].(pdf.Name); m != "DocMDP" {
			continue
		}
		params, _ := d.dict(rd["TransformParams"])
		if p, ok := d.integer(params["P"]); ok && p >= 1 && p <= 3 {
			return int(p)
		}
		return int(FormFillAndSign)
	}
	return 0
}

var pdfDateRE = regexp.MustCompile(`^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz+\-])?(\d{2})?'?(\d{2})?'?`)

// parsePDFDate reads a PDF date (ISO 32000 7.9.4). A date without a zone
// is taken as UTC, as PDF 2.0 says to.
func parsePDFDate(s string) (time.Time, error) {
	m := pdfDateRE.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, fmt.Errorf("pades: %q is not a PDF date", s)
	}
	num := func(s string, def int) int {
		if s == "" {
			return def
		}
		n, _ := strconv.Atoi(s)
		return n
	}
	loc := time.UTC
	if m[7] == "+" || m[7] == "-" {
		off := num(m[8], 0)*3600 + num(m[9], 0)*60
		if m[7] == "-" {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	return time.Date(num(m[1], 0), time.Month(num(m[2], 1)), num(m[3], 1), num(m[4], 0), num(m[5], 0), num(m[6], 0), 0, loc), nil
}
