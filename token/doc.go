// Package token is kyso's key store layer: PKCS#11 modules and the tokens in
// their slots, the certificates on them paired with their private keys,
// login with the user's PIN, crypto.Signer implementations, and hot-plug
// events; and, behind the same Store interface, PKCS#12 files.
//
// The layer is built around what hurts users of Vietnamese tokens: a token
// locks after three wrong PINs, so the layer performs exactly one C_Login
// per PIN the caller supplies and never retries on its own; driver failures
// are never reported as a wrong PIN; PINs are passed to C_Login from the
// caller's buffer and wiped right after; keys marked
// CKA_ALWAYS_AUTHENTICATE get a context-specific login for every signature;
// tokens pulled out mid-operation give CodeTokenRemoved and work again when
// plugged back in; vendor modules are loaded once per process and never
// finalised.
//
// token does not depend on the rest of kyso and can be used by a DMS server
// directly.
package token
