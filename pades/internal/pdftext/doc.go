// Package pdftext extracts positioned text from PDF pages, so that a
// visible signature can be placed relative to a piece of text (an anchor
// such as the signer's printed name, "Số:" or "CHỦ TỊCH") instead of at
// coordinates the integrator must compute.
//
// PageSpans interprets a page's content streams, with the form XObjects
// they draw, tracking the graphics and text state (q/Q, cm, BT/ET, Tf,
// Tc, Tw, Tz, TL, Ts, Td, TD, Tm, T*, Tj, TJ, ' and "), and returns each
// run of text with its box in default user space. Find looks for a string
// in those runs the way a person reads the page: across runs on one line,
// regardless of how white space is drawn and of how Vietnamese letters are
// composed.
//
// Fonts are read as far as positions need: simple fonts (Type1, TrueType,
// Type3 with its /FontMatrix) through /Widths, /Encoding with
// /Differences and /ToUnicode; composite (Type0) fonts through their
// CMap, /W, /DW and /ToUnicode. What the font program alone would tell is
// approximated, and only affects fonts that lack the usual dictionaries:
//
//   - A simple font without /Widths gets the widths of the standard 14
//     font its name names or resembles (Helvetica, Times, Courier; bold
//     and italic by name); Symbol, ZapfDingbats and glyphs missing from
//     the tables get half an em.
//   - A simple font without /Encoding uses StandardEncoding (TrueType:
//     WinAnsiEncoding) instead of the font's built-in encoding;
//     MacExpertEncoding is read as StandardEncoding.
//   - A composite font's predefined CMaps other than Identity and the
//     Unicode ones (Shift-JIS, GBK, …) are read as two-byte codes with
//     unknown CIDs (widths from /DW); without /ToUnicode such text, and
//     Identity-encoded text, has no Unicode value and is left out.
//   - The height of glyph boxes is the font descriptor's /Ascent and
//     /Descent, else its /FontBBox, else the standard font's metrics, else
//     0.8 and -0.2 of the font size.
//   - Vertical writing (Identity-V, /W2, /DW2) is followed for positions;
//     Type3 glyph procedures and marked-content /ActualText are not read.
//   - Unicode normalization covers the characters below U+3000 (Latin with
//     Vietnamese, Greek, Cyrillic, symbols); Hangul is left as it is.
//
// The reading never panics on hostile content: nesting, operand stacks,
// form recursion, decoded sizes, operator and character counts are all
// bounded, and malformed operators are skipped.
package pdftext

//go:generate go run gen_tables.go
