package pades

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kyso-vn/kyso/cms"
	"github.com/kyso-vn/kyso/internal/atomicfile"
	"github.com/kyso-vn/kyso/pades/internal/pdf"
)

// The Document Security Store (ISO 32000-2 12.8.4.3, ETSI EN 319 142-1
// 5.4.2) carries the certificates, OCSP responses and CRLs that let a
// signature be validated after its certificates expire or their CA stops
// answering: PAdES B-LT.

// ValidationData is what one or more signatures (or document timestamps)
// need to be validated later, each item DER-encoded.
// Its fields are those of cms.ValidationData, so that one converts to
// the other.
type ValidationData struct {
	Certificates [][]byte // X.509 certificates
	OCSPs        [][]byte // OCSPResponse structures (RFC 6960), as the responder sent them
	CRLs         [][]byte // CertificateList structures (RFC 5280)
}

// SignatureValidation is the validation data of one signature of the
// document, recorded under that signature in /VRI.
type SignatureValidation struct {
	// Contents identifies the signature by its /Contents value: either the
	// string as stored, zero padding included, or only the DER it starts
	// with (Result.CMS). Either way the /VRI key is computed from the
	// string as stored, which the document is read for.
	Contents []byte
	Data     ValidationData
}

// DSSUpdate is what AddDSS adds to a document's DSS.
type DSSUpdate struct {
	// Data goes into /Certs, /OCSPs and /CRLs without being tied to a
	// signature.
	Data ValidationData
	// Signatures each get a /VRI entry (their data also goes into the
	// document-wide arrays).
	Signatures []SignatureValidation
	// Time is written as /TU of the new /VRI entries: when the data was
	// gathered. Zero means now.
	Time time.Time
}

// DSSResult describes a DSS update that was written.
type DSSResult struct {
	// VRIKeys are the /VRI keys written, in the order of
	// DSSUpdate.Signatures.
	VRIKeys []string
	// NewCerts, NewOCSPs and NewCRLs count the streams this update added;
	// items already in the document's DSS are referenced, not copied.
	NewCerts, NewOCSPs, NewCRLs int
	// Size is the length of the output.
	Size int64
}

// maxDSSItem bounds one DSS stream when it is read back. National CAs'
// CRLs reach a few megabytes; anything far beyond is not validation data.
const maxDSSItem = 32 << 20

// vriKey is the /VRI key of a signature: the uppercase hex SHA-1 of its
// /Contents string as stored, zero padding included (ETSI EN 319 142-1
// 5.4.2.2: "the SHA-1 digest of the signature to which it applies"; in a
// PDF the signature is the /Contents value). pyHanko and iText hash the
// whole string the same way, and Adobe finds their entries; hashing only
// the DER would give keys nobody else looks up.
func vriKey(contents []byte) string {
	sum := sha1.Sum(contents)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// dssContents is a document's DSS as read: the DER for verifiers and the
// objects as found for the writer, which keeps them.
type dssContents struct {
	// Data is every readable stream of /Certs, /OCSPs and /CRLs, in array
	// order.
	Data ValidationData
	// VRI is the per-signature data by /VRI key, as far as it is readable.
	VRI map[string]ValidationData
	// Skipped counts entries that are not readable streams of DER
	// (unsupported filter, dangling reference, too large). They are kept
	// when the DSS is extended but a verifier cannot use them.
	Skipped int

	dict               pdf.Dict
	certs, ocsps, crls pdf.Array // the arrays' elements as found
	vri                pdf.Dict  // the /VRI dictionary's entries as found
	byRef              map[pdf.Ref][]byte
}

// readDSS reads the document's DSS; nil when there is none. Only a DSS
// whose structure cannot be read at all is an error (BAD_DOCUMENT);
// unreadable entries are counted in Skipped.
func (d *document) readDSS() (*dssContents, error) {
	v, ok := d.catalog["DSS"]
	if !ok {
		return nil, nil
	}
	dict, err := d.dict(v)
	if err != nil {
		return nil, badDocument(err, "cannot read the catalog's /DSS")
	}
	if dict == nil {
		return nil, nil
	}
	c := &dssContents{dict: dict, VRI: map[string]ValidationData{}, byRef: map[pdf.Ref][]byte{}}
	read := func(key pdf.Name, list *[][]byte) (pdf.Array, error) {
		arr, err := d.array(dict.Get(string(key)))
		if err != nil {
			return nil, badDocument(err, "cannot read /DSS /%s", key)
		}
		for _, o := range arr {
			if der, ok := c.item(d, o); ok {
				*list = append(*list, der)
			} else {
				c.Skipped++
			}
		}
		return arr, nil
	}
	if c.certs, err = read("Certs", &c.Data.Certificates); err != nil {
		return nil, err
	}
	if c.ocsps, err = read("OCSPs", &c.Data.OCSPs); err != nil {
		return nil, err
	}
	if c.crls, err = read("CRLs", &c.Data.CRLs); err != nil {
		return nil, err
	}
	if c.vri, err = d.dict(dict.Get("VRI")); err != nil {
		return nil, badDocument(err, "cannot read /DSS /VRI")
	}
	for key, ev := range c.vri {
		entry, err := d.dict(ev)
		if err != nil || entry == nil {
			c.Skipped++
			continue
		}
		var vd ValidationData
		for _, kl := range []struct {
			key  pdf.Name
			list *[][]byte
		}{{"Cert", &vd.Certificates}, {"OCSP", &vd.OCSPs}, {"CRL", &vd.CRLs}} {
			arr, err := d.array(entry.Get(string(kl.key)))
			if err != nil {
				c.Skipped++
				continue
			}
			for _, o := range arr {
				if der, ok := c.item(d, o); ok {
					*kl.list = append(*kl.list, der)
				} else {
					c.Skipped++
				}
			}
		}
		c.VRI[strings.ToUpper(string(key))] = vd
	}
	return c, nil
}

// all is the DSS's data in the form the revocation checker takes.
func (c *dssContents) all() cms.ValidationData { return cms.ValidationData(c.Data) }

// item reads one DSS stream, once per object however often it is listed.
func (c *dssContents) item(d *document, o pdf.Object) ([]byte, bool) {
	ref, isRef := o.(pdf.Ref)
	if isRef {
		if der, ok := c.byRef[ref]; ok {
			return der, der != nil
		}
	}
	var der []byte
	if v, err := d.r.Resolve(o); err == nil {
		if s, ok := v.(*pdf.Stream); ok {
			if data, err := d.r.StreamData(s, maxDSSItem); err == nil && len(data) > 0 {
				der = data
			}
		}
	}
	if isRef {
		c.byRef[ref] = der // nil remembers a failure
	}
	return der, der != nil
}

// AddDSS adds validation data to the document's DSS in an incremental
// update: the input is copied unchanged (an exact prefix of the output)
// and followed by one stream per new DER item, the DSS dictionary and, if
// the DSS is new, the catalog. An existing DSS keeps every entry: its
// streams are referenced again, not copied, an item already present is
// not added twice, and /VRI entries are merged (a signature that already
// has one gets the union). DocMDP P=1 does not forbid this update
// (ISO 32000-2 12.8.2.2.2 exempts DSS updates), so a certified document
// can reach B-LT.
func AddDSS(ctx context.Context, in io.ReaderAt, size int64, out Output, u DSSUpdate) (*DSSResult, error) {
	d, err := openDocument(in, size)
	if err != nil {
		return nil, err
	}
	tail, res, err := planDSS(d, u)
	if err != nil {
		return nil, err
	}
	n, err := io.CopyBuffer(out, &ctxReader{ctx: ctx, r: io.NewSectionReader(in, 0, size)}, make([]byte, copyBufferSize))
	if err != nil {
		return nil, fmt.Errorf("pades: copy input: %w", err)
	}
	if n != size {
		return nil, badDocument(nil, "the file shrank while it was read (%d of %d bytes)", n, size)
	}
	if _, err := out.Write(tail); err != nil {
		return nil, fmt.Errorf("pades: write update: %w", err)
	}
	res.Size = size + int64(len(tail))
	return res, nil
}

// AddDSSFile is AddDSS between files, with the guarantees of SignFile: on
// any failure no file exists at outPath.
func AddDSSFile(ctx context.Context, inPath, outPath string, u DSSUpdate) (*DSSResult, error) {
	var res *DSSResult
	_, err := withFiles(inPath, outPath, func(in *os.File, size int64, out *atomicfile.File) (*Result, error) {
		var err error
		res, err = AddDSS(ctx, in, size, out, u)
		return nil, err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// dssList is one of the DSS arrays being extended: its elements and the
// object of each DER item already in it, by content.
type dssList struct {
	key   pdf.Name
	elems pdf.Array
	have  map[[32]byte]pdf.Object
	added int
}

// planDSS builds the update's bytes after the input.
func planDSS(d *document, u DSSUpdate) ([]byte, *DSSResult, error) {
	if err := checkDER(u.Data); err != nil {
		return nil, nil, err
	}
	empty := len(u.Data.Certificates)+len(u.Data.OCSPs)+len(u.Data.CRLs) == 0
	for i, s := range u.Signatures {
		if err := checkDER(s.Data); err != nil {
			return nil, nil, err
		}
		if len(s.Contents) == 0 {
			return nil, nil, &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("signature %d of the DSS update has no /Contents to identify it", i+1)}
		}
		empty = empty && len(s.Data.Certificates)+len(s.Data.OCSPs)+len(s.Data.CRLs) == 0
	}
	if empty {
		return nil, nil, &Error{Code: CodeBadRequest, Reason: "the DSS update holds no certificate, OCSP response or CRL"}
	}
	old, err := d.readDSS()
	if err != nil {
		return nil, nil, err
	}
	keys := make([]string, len(u.Signatures))
	for i, s := range u.Signatures {
		stored, err := d.storedContents(s.Contents)
		if err != nil {
			return nil, nil, err
		}
		keys[i] = vriKey(stored)
	}
	when := u.Time
	if when.IsZero() {
		when = time.Now()
	}

	next := d.r.Size()
	alloc := func() pdf.Ref { r := pdf.Ref{Num: next}; next++; return r }
	w := &objWriter{base: d.size, offsets: map[uint32]int64{}, gens: map[uint32]uint16{}}
	if !d.r.EndsWithEOL() {
		// Outside the original bytes, so the input stays an exact prefix.
		w.buf.WriteByte('\n')
	}

	lists := map[pdf.Name]*dssList{}
	for _, key := range []pdf.Name{"Certs", "OCSPs", "CRLs"} {
		l := &dssList{key: key, have: map[[32]byte]pdf.Object{}}
		if old != nil {
			l.elems = map[pdf.Name]pdf.Array{"Certs": old.certs, "OCSPs": old.ocsps, "CRLs": old.crls}[key]
			for _, o := range l.elems {
				if der, ok := old.item(d, o); ok {
					if _, dup := l.have[sha256.Sum256(der)]; !dup {
						l.have[sha256.Sum256(der)] = o
					}
				}
			}
		}
		l.elems = append(pdf.Array{}, l.elems...)
		lists[key] = l
	}
	// add returns the object that holds der in list l, writing a stream
	// only for content the DSS does not hold yet.
	add := func(l *dssList, der []byte) pdf.Object {
		sum := sha256.Sum256(der)
		if o, ok := l.have[sum]; ok {
			return o
		}
		ref := alloc()
		// Unfiltered: certificates and OCSP responses do not compress, and
		// every reader (and every validator's own DSS parser) reads a
		// plain stream.
		w.stream(ref, pdf.Dict{}, der)
		l.have[sum] = ref
		l.elems = append(l.elems, ref)
		l.added++
		return ref
	}
	addAll := func(vd ValidationData) (certs, ocsps, crls pdf.Array) {
		for _, der := range vd.Certificates {
			certs = appendUnique(certs, add(lists["Certs"], der))
		}
		for _, der := range vd.OCSPs {
			ocsps = appendUnique(ocsps, add(lists["OCSPs"], der))
		}
		for _, der := range vd.CRLs {
			crls = appendUnique(crls, add(lists["CRLs"], der))
		}
		return
	}
	addAll(u.Data)

	// /VRI: existing entries kept as found (a reference stays a
	// reference); a signature in this update gets the union of its old
	// and new data.
	vri := pdf.Dict{}
	if old != nil {
		for k, v := range old.vri {
			vri[k] = v
		}
	}
	tu := pdf.String{Bytes: []byte(pdfDate(when))}
	for i, s := range u.Signatures {
		certs, ocsps, crls := addAll(s.Data)
		key := pdf.Name(keys[i])
		entry := pdf.Dict{}
		if prev, ok := vri[key]; ok {
			pd, err := d.dict(prev)
			if err != nil {
				return nil, nil, badDocument(err, "cannot read /VRI /%s", key)
			}
			for k, v := range pd {
				entry[k] = v
			}
		}
		for _, kv := range []struct {
			key pdf.Name
			add pdf.Array
		}{{"Cert", certs}, {"OCSP", ocsps}, {"CRL", crls}} {
			if len(kv.add) == 0 {
				continue
			}
			var have pdf.Array
			if v, ok := entry[kv.key]; ok {
				if have, err = d.array(v); err != nil {
					return nil, nil, badDocument(err, "cannot read /VRI /%s /%s", key, kv.key)
				}
			}
			merged := append(pdf.Array{}, have...)
			for _, o := range kv.add {
				merged = appendUnique(merged, o)
			}
			entry[kv.key] = merged
		}
		entry["TU"] = tu
		vri[key] = entry
	}

	dss := pdf.Dict{"Type": pdf.Name("DSS")}
	if old != nil {
		dss = copyDict(old.dict)
	}
	for _, l := range lists {
		if len(l.elems) > 0 {
			dss[l.key] = l.elems
		}
	}
	if len(vri) > 0 {
		dss["VRI"] = vri
	}
	// An indirect DSS is rewritten under its own number and the catalog
	// stays as it is; a new (or direct) one needs the catalog rewritten.
	if ref, ok := d.catalog["DSS"].(pdf.Ref); ok && old != nil {
		w.object(ref, dss)
	} else {
		ref := alloc()
		w.object(ref, dss)
		catalog := copyDict(d.catalog)
		catalog["DSS"] = ref
		w.object(d.rootRef, catalog)
	}
	if err := writeXref(w, d, &next); err != nil {
		return nil, nil, err
	}
	return w.buf.Bytes(), &DSSResult{
		VRIKeys:  keys,
		NewCerts: lists["Certs"].added,
		NewOCSPs: lists["OCSPs"].added,
		NewCRLs:  lists["CRLs"].added,
	}, nil
}

// appendUnique appends o unless arr already holds it.
func appendUnique(arr pdf.Array, o pdf.Object) pdf.Array {
	for _, e := range arr {
		if e == o {
			return arr
		}
	}
	return append(arr, o)
}

// checkDER refuses items that are not one DER SEQUENCE each: a PEM file or
// an empty slice stored in the DSS would only fail much later, at
// validation, where nobody can fix it.
func checkDER(vd ValidationData) error {
	for _, l := range []struct {
		what  string
		items [][]byte
	}{{"certificate", vd.Certificates}, {"OCSP response", vd.OCSPs}, {"CRL", vd.CRLs}} {
		for i, der := range l.items {
			s := cryptobyte.String(der)
			var body cryptobyte.String
			if !s.ReadASN1(&body, cbasn1.SEQUENCE) || !s.Empty() {
				return &Error{Code: CodeBadRequest, Reason: fmt.Sprintf("%s %d of the DSS update is not a DER SEQUENCE", l.what, i+1)}
			}
		}
	}
	return nil
}

// storedContents finds the signature whose /Contents is contents (as
// stored, or the DER at its start followed only by zero padding) and
// returns its /Contents as stored, the bytes the /VRI key is made of.
func (d *document) storedContents(contents []byte) ([]byte, error) {
	for _, sf := range d.sigFields {
		sig, err := d.dict(sf.value)
		if err != nil || sig == nil {
			continue
		}
		v, err := d.r.Resolve(sig["Contents"])
		if err != nil {
			continue
		}
		s, ok := v.(pdf.String)
		if !ok || len(s.Bytes) < len(contents) || !bytes.Equal(s.Bytes[:len(contents)], contents) {
			continue
		}
		if len(bytes.Trim(s.Bytes[len(contents):], "\x00")) == 0 {
			return s.Bytes, nil
		}
	}
	return nil, &Error{Code: CodeBadRequest, Reason: "no signature in the document has the given /Contents; validation data can only be recorded for a signature the document holds"}
}
