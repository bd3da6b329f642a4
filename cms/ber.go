package cms

import (
	"errors"
	"fmt"
)

// Other signers (NSS, and so poppler's pdfsig; several Windows CSPs) write
// CMS in BER: indefinite lengths and constructed OCTET STRINGs split into
// chunks. The signature inside is still computed over DER signed
// attributes, so converting the container to DER loses nothing a verifier
// needs. berToDER does that conversion.

// maxBERDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxBERDepth = 64

// berToDER re-encodes one BER element (and trailing zero padding, as found
// in PDF /Contents) as DER.
func berToDER(b []byte) ([]byte, error) {
	out, rest, err := berElement(b, 0)
	if err != nil {
		return nil, err
	}
	for _, c := range rest {
		if c != 0 {
			return nil, errors.New("ber: trailing data")
		}
	}
	return out, nil
}

// berElement converts the element at the start of b and returns it and
// what follows.
func berElement(b []byte, depth int) (der, rest []byte, err error) {
	if depth > maxBERDepth {
		return nil, nil, errors.New("ber: nesting too deep")
	}
	if len(b) < 2 {
		return nil, nil, errors.New("ber: truncated element")
	}
	// Identifier octets: low-tag-number form, or high-tag form with
	// continuation bytes.
	idLen := 1
	if b[0]&0x1f == 0x1f {
		for idLen < len(b) && b[idLen]&0x80 != 0 {
			idLen++
		}
		idLen++
		if idLen >= len(b) {
			return nil, nil, errors.New("ber: truncated tag")
		}
	}
	id := b[:idLen]
	constructed := b[0]&0x20 != 0
	p := b[idLen:]
	var content []byte
	switch l := p[0]; {
	case l == 0x80: // indefinite length: children until 00 00
		if !constructed {
			return nil, nil, errors.New("ber: indefinite length on a primitive element")
		}
		p = p[1:]
		var children []byte
		for {
			if len(p) < 2 {
				return nil, nil, errors.New("ber: missing end-of-contents")
			}
			if p[0] == 0 && p[1] == 0 {
				p = p[2:]
				break
			}
			child, r, err := berElement(p, depth+1)
			if err != nil {
				return nil, nil, err
			}
			children = append(children, child...)
			p = r
		}
		der, _, err := encodeElement(id, constructed, children, depth)
		return der, p, err
	case l < 0x80:
		if int(l) > len(p)-1 {
			return nil, nil, errors.New("ber: length beyond the data")
		}
		content, rest = p[1:1+int(l)], p[1+int(l):]
	default:
		n := int(l & 0x7f)
		if n > 4 || n+1 > len(p) {
			return nil, nil, errors.New("ber: unsupported length")
		}
		length := 0
		for _, c := range p[1 : 1+n] {
			length = length<<8 | int(c)
		}
		if length < 0 || length > len(p)-1-n {
			return nil, nil, errors.New("ber: length beyond the data")
		}
		content, rest = p[1+n:1+n+length], p[1+n+length:]
	}
	if !constructed {
		return appendTLV(nil, id, content), rest, nil
	}
	var children []byte
	for len(content) > 0 {
		child, r, err := berElement(content, depth+1)
		if err != nil {
			return nil, nil, err
		}
		children = append(children, child...)
		content = r
	}
	der, _, err = encodeElement(id, constructed, children, depth)
	return der, rest, err
}

// encodeElement writes a constructed element with definite length. A
// constructed OCTET STRING (BER chunking) becomes one primitive OCTET
// STRING holding the chunks' contents.
func encodeElement(id []byte, _ bool, children []byte, _ int) ([]byte, []byte, error) {
	if len(id) == 1 && id[0] == 0x24 { // constructed OCTET STRING
		var flat []byte
		for len(children) > 0 {
			if children[0] != 0x04 {
				return nil, nil, fmt.Errorf("ber: chunk of tag 0x%x inside an OCTET STRING", children[0])
			}
			content, rest, err := derContent(children)
			if err != nil {
				return nil, nil, err
			}
			flat = append(flat, content...)
			children = rest
		}
		return appendTLV(nil, []byte{0x04}, flat), nil, nil
	}
	return appendTLV(nil, id, children), nil, nil
}

// derContent splits a DER element (as produced above) into its content and
// what follows.
func derContent(b []byte) ([]byte, []byte, error) {
	if len(b) < 2 {
		return nil, nil, errors.New("ber: truncated chunk")
	}
	l := int(b[1])
	off := 2
	if l >= 0x80 {
		n := l & 0x7f
		if n > 4 || 2+n > len(b) {
			return nil, nil, errors.New("ber: bad chunk length")
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		off = 2 + n
	}
	if off+l > len(b) {
		return nil, nil, errors.New("ber: chunk beyond the data")
	}
	return b[off : off+l], b[off+l:], nil
}

func appendTLV(dst, id, content []byte) []byte {
	dst = append(dst, id...)
	n := len(content)
	switch {
	case n < 0x80:
		dst = append(dst, byte(n))
	case n < 0x100:
		dst = append(dst, 0x81, byte(n))
	case n < 0x10000:
		dst = append(dst, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		dst = append(dst, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, content...)
}
