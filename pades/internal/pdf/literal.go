package pdf

import "io"

// ReadLiteral decodes the body of a literal string, reading from just
// after its opening parenthesis up to and including the balancing closing
// one: nested parentheses, the escapes \n \r \t \b \f \( \) \\ and \ddd,
// line continuations, and an unescaped end of line (CR, LF or CRLF) read as
// one LF. It returns the decoded bytes and whether the string was closed
// before the input ended; a string longer than limit bytes (0: no limit)
// stops with ErrTooLarge. Both kyso's object reader and its content-stream
// reader use it, so a string means the same bytes to both.
func ReadLiteral(r io.ByteScanner, limit int) (s []byte, closed bool, err error) {
	s = []byte{}
	nest := 1
	// skipLF consumes an LF following a CR, as one end of line.
	skipLF := func() {
		if c, err := r.ReadByte(); err == nil && c != '\n' {
			_ = r.UnreadByte()
		}
	}
	for {
		c, err := r.ReadByte()
		if err != nil {
			return s, false, nil
		}
		switch c {
		case '(':
			nest++
		case ')':
			nest--
			if nest == 0 {
				return s, true, nil
			}
		case '\r':
			skipLF()
			c = '\n'
		case '\\':
			e, err := r.ReadByte()
			if err != nil {
				return s, false, nil
			}
			switch e {
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case '\r':
				skipLF()
				continue // line continuation
			case '\n':
				continue
			case '0', '1', '2', '3', '4', '5', '6', '7':
				v := int(e - '0')
				for range 2 {
					d, err := r.ReadByte()
					if err != nil {
						break
					}
					if d < '0' || d > '7' {
						_ = r.UnreadByte()
						break
					}
					v = v*8 + int(d-'0')
				}
				c = byte(v) // high-order overflow is ignored
			default:
				// "\(", "\)", "\\" and any other escaped byte: the
				// backslash is dropped.
				c = e
			}
		}
		if limit > 0 && len(s) >= limit {
			return s, false, ErrTooLarge
		}
		s = append(s, c)
	}
}
