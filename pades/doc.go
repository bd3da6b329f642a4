// Package pades signs and verifies PDF documents with PAdES signatures
// (ETSI EN 319 142) in the forms Vietnamese e-documents take under Nghị
// định 30/2020.
//
// Signing (Sign, SignFile) appends an incremental update: the input is an
// exact byte prefix of the output, earlier signatures stay valid, and a
// failure leaves no output file. Signatures are visible or invisible, at
// PAdES B-B or B-T; ProfileRequest.Apply lays out the legal forms
// (approval, issuing with number, date and seal, appendix, copy, income,
// comment). Prepare and Embed split signing between a DMS server that
// holds the document and a signer that only sees its digest.
//
// Verification (Verify, VerifyFile) reports, per signature and document
// timestamp, integrity (all digests from one pass over the file), what
// later updates changed and whether DocMDP and FieldMDP permit it, the
// chain to a trust anchor at the signing time, revocation from the
// document's validation data or online, and the signing order; see
// docs/verification.md.
//
// Long-term validation: AddDSS writes PAdES B-LT validation data,
// AddDocTimestamp a B-LTA document timestamp, and ExtendFile collects the
// data for every signature and does both.
//
// The package reads PDF structure with its own reader (internal/pdf) and
// never imports kyso's token package: a key is any crypto.Signer. A
// document-management server written in Go can import it directly.
package pades
