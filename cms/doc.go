// Package cms builds and parses the CMS (RFC 5652) SignedData structures
// that PDF signatures carry: detached CAdES / PAdES baseline signatures over
// a digest the caller computed, RFC 3161 signature timestamps (PAdES B-T),
// and the parsing a verifier needs.
//
// The package is a library: a document-management server can import it to
// finish a hash-mode signature on the server. It depends only on the
// standard library, golang.org/x/crypto/cryptobyte, golang.org/x/crypto/ocsp
// (revocation checking) and, for the timestamp
// request encoding, github.com/digitorus/timestamp. It never imports kyso's
// token package; a key is any crypto.Signer, and one that also has a
// SignContext method (kyso's token signers do) gets the caller's context so
// that a PIN prompt can be cancelled.
//
// Everything this package writes is DER. Parsing accepts DER and the
// definite-length BER variants real signers produce in places (constructed
// OCTET STRINGs, fractional-second timestamps), but not indefinite lengths.
package cms
