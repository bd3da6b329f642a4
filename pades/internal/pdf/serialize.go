package pdf

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// unserializableMarker is written by AppendObject in place of a value that
// has no PDF syntax of its own (a stream, which needs the "obj … stream"
// framing, or a value outside the object model). The comment makes the
// mistake visible to anyone reading the output while the null keeps the
// surrounding syntax valid.
const unserializableMarker = "%kyso-pdf: unserializable value\nnull"

// maxWriteDepth bounds the nesting AppendObject follows, so a Dict that
// contains itself cannot recurse forever.
const maxWriteDepth = maxDepth

// AppendObject appends o in PDF syntax to dst and returns the extended
// slice. The output is deterministic: dictionary keys are sorted, reals are
// written in the shortest decimal form that reads back to the same float64
// and without exponent (0.00001, never 1e-05; an integral real keeps one
// decimal, 12.0, so that it reads back as a Real), names are #-escaped
// where needed, and strings are written so that they read back to exactly
// the same bytes.
//
// A *Stream (or Stream) cannot be written this way: streams need the
// "n g obj … stream … endstream" framing that belongs to the caller. Such a
// value, a Go nil, a value of a type outside the object model, NaN or an
// infinity, or nesting deeper than 256 levels is written as a PDF comment
// naming the problem followed by null. Call CheckSerializable first when
// such input is possible.
func AppendObject(dst []byte, o Object) []byte {
	return appendObject(dst, o, 0)
}

// CheckSerializable reports the first value inside o that AppendObject
// cannot write faithfully, or nil.
func CheckSerializable(o Object) error {
	return checkSerializable(o, 0)
}

func checkSerializable(o Object, depth int) error {
	if depth > maxWriteDepth {
		return fmt.Errorf("pdf: object nested deeper than %d levels: %w", maxWriteDepth, ErrTooLarge)
	}
	switch v := o.(type) {
	case Null, Bool, Int, String, Name, Ref:
		return nil
	case Real:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("pdf: real %v has no PDF syntax: %w", float64(v), ErrUnsupported)
		}
		return nil
	case Array:
		for i, e := range v {
			if err := checkSerializable(e, depth+1); err != nil {
				return fmt.Errorf("array element %d: %w", i, err)
			}
		}
		return nil
	case Dict:
		for k, e := range v {
			if err := checkSerializable(e, depth+1); err != nil {
				return fmt.Errorf("dictionary key /%s: %w", k, err)
			}
		}
		return nil
	case *Stream, Stream:
		return fmt.Errorf("pdf: a stream cannot be written as a direct object: %w", ErrUnsupported)
	}
	return fmt.Errorf("pdf: %T is not a PDF object: %w", o, ErrUnsupported)
}

func appendObject(dst []byte, o Object, depth int) []byte {
	if depth > maxWriteDepth {
		return append(dst, unserializableMarker...)
	}
	switch v := o.(type) {
	case Null:
		return append(dst, "null"...)
	case Bool:
		if v {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case Int:
		return strconv.AppendInt(dst, int64(v), 10)
	case Real:
		return appendReal(dst, float64(v))
	case String:
		if v.Hex {
			return appendHexString(dst, v.Bytes)
		}
		return appendLiteralString(dst, v.Bytes)
	case Name:
		return appendName(dst, v)
	case Ref:
		dst = strconv.AppendUint(dst, uint64(v.Num), 10)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, uint64(v.Gen), 10)
		return append(dst, " R"...)
	case Array:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = appendObject(dst, e, depth+1)
		}
		return append(dst, ']')
	case Dict:
		keys := make([]Name, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, "<<"...)
		for _, k := range keys {
			dst = appendName(dst, k)
			dst = append(dst, ' ')
			dst = appendObject(dst, v[k], depth+1)
		}
		return append(dst, ">>"...)
	}
	return append(dst, unserializableMarker...)
}

// appendReal writes f in plain decimal notation; PDF has no exponent
// syntax, and some readers choke on long fractions, so the shortest exact
// form is used.
func appendReal(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, unserializableMarker...)
	}
	if f == 0 {
		// Also turns -0 into 0: "-0.0" is valid but pointless.
		return append(dst, "0.0"...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	if !slices.Contains(dst[start:], '.') {
		// Keep the value a Real when read back.
		dst = append(dst, ".0"...)
	}
	return dst
}

const hexDigits = "0123456789ABCDEF"

func appendHexString(dst []byte, b []byte) []byte {
	dst = append(dst, '<')
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return append(dst, '>')
}

// appendLiteralString escapes the parentheses (so they need not balance),
// the backslash, and CR and LF (which a reader would otherwise normalise to
// LF); every other byte is written as is, which PDF allows.
func appendLiteralString(dst []byte, b []byte) []byte {
	dst = append(dst, '(')
	for _, c := range b {
		switch c {
		case '(', ')', '\\':
			dst = append(dst, '\\', c)
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\n':
			dst = append(dst, '\\', 'n')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, ')')
}

// appendName escapes every byte that is not a regular printable character
// and '#' itself, as PDF 1.2+ requires.
func appendName(dst []byte, n Name) []byte {
	dst = append(dst, '/')
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c < 0x21 || c > 0x7e || c == '#' || isDelimiter(c) {
			dst = append(dst, '#', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}
