package eventjson

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner walks JSON text once, checking it as it goes, and hands out
// the spans of the values it is asked for: ingest bodies are read without
// reflection and without copying, which makes decoding an event a few
// hundred nanoseconds instead of several microseconds.
//
// It follows RFC 8259 as encoding/json does, with the same limit of nesting
// depth. Its first problem stops it; problem says what and where.
type jsonScanner struct {
	data    []byte
	pos     int
	problem string
}

// maxJSONDepth is the deepest nesting accepted, as in encoding/json.
const maxJSONDepth = 10000

func (s *jsonScanner) failed() bool { return s.problem != "" }

// fail records the first problem, at the current position.
func (s *jsonScanner) fail(format string, args ...any) {
	if s.problem == "" {
		s.problem = fmt.Sprintf(format, args...) + fmt.Sprintf(" at byte %d", s.pos+1)
	}
}

// unexpected records a problem with the byte at the current position.
func (s *jsonScanner) unexpected(context string) {
	if s.pos >= len(s.data) {
		s.fail("unexpected end of JSON input")
		return
	}
	s.fail("invalid character %s %s", quoteByte(s.data[s.pos]), context)
}

func quoteByte(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	q := strconv.Quote(string(rune(c)))
	return "'" + q[1:len(q)-1] + "'"
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, 0 at the end (or at a zero
// byte, which no JSON value starts with).
func (s *jsonScanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// expect consumes c after white space, or records a problem.
func (s *jsonScanner) expect(c byte, context string) bool {
	if s.peek() != c {
		s.unexpected(context)
		return false
	}
	s.pos++
	return true
}

// atEnd checks that only white space is left.
func (s *jsonScanner) atEnd() bool {
	if s.skipSpace(); s.pos < len(s.data) {
		s.unexpected("after top-level value")
		return false
	}
	return true
}

// value skips one value of any kind, enclosed in depth arrays and
// objects, and returns its span.
func (s *jsonScanner) value(depth int) (start, end int) {
	c := s.peek()
	start = s.pos
	if (c == '{' || c == '[') && !s.open(depth) {
		return start, start
	}
	switch {
	case c == '"':
		s.str()
	case c == '{':
		s.pos++
		if s.peek() == '}' {
			s.pos++
			break
		}
		for !s.failed() {
			if s.peek() != '"' {
				s.unexpected("looking for beginning of object key string")
				break
			}
			s.str()
			if !s.expect(':', "after object key") {
				break
			}
			s.value(depth + 1)
			if s.peek() == ',' {
				s.pos++
				continue
			}
			s.expect('}', "after object key:value pair")
			break
		}
	case c == '[':
		s.pos++
		if s.peek() == ']' {
			s.pos++
			break
		}
		for !s.failed() {
			s.value(depth + 1)
			if s.peek() == ',' {
				s.pos++
				continue
			}
			s.expect(']', "after array element")
			break
		}
	case c == '-' || c >= '0' && c <= '9':
		s.number()
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	default:
		s.unexpected("looking for beginning of value")
	}
	return start, s.pos
}

// open checks that an array or object may open inside depth others.
func (s *jsonScanner) open(depth int) bool {
	if depth+1 > maxJSONDepth {
		s.fail("exceeded max depth")
		return false
	}
	return true
}

func (s *jsonScanner) literal(word string) {
	for i := range len(word) {
		if s.pos >= len(s.data) || s.data[s.pos] != word[i] {
			s.unexpected("in literal " + word + " (expecting " + quoteByte(word[i]) + ")")
			return
		}
		s.pos++
	}
}

// number skips a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() {
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && d[s.pos] >= '1' && d[s.pos] <= '9':
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
	default:
		s.unexpected("in numeric literal")
		return
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.pos >= len(d) || d[s.pos] < '0' || d[s.pos] > '9' {
			s.unexpected("after decimal point in numeric literal")
			return
		}
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.pos >= len(d) || d[s.pos] < '0' || d[s.pos] > '9' {
			s.unexpected("in exponent of numeric literal")
			return
		}
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
		}
	}
}

// str skips a string and reports whether it holds escapes.
func (s *jsonScanner) str() (escaped bool) {
	d := s.data
	s.pos++ // the opening quote
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			return escaped
		case c == '\\':
			escaped = true
			s.pos++
			if s.pos >= len(d) {
				break
			}
			switch d[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				s.pos++
				for range 4 {
					if s.pos >= len(d) || !isHex(d[s.pos]) {
						s.unexpected("in \\u hexadecimal character escape")
						return escaped
					}
					s.pos++
				}
			default:
				s.unexpected("in string escape code")
				return escaped
			}
		case c < 0x20:
			s.unexpected("in string literal")
			return escaped
		default:
			s.pos++
		}
	}
	s.fail("unexpected end of JSON input")
	return escaped
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// decodeJSONString returns the text of a string span (quotes included) that
// the scanner has checked, and whether it is valid Unicode: no invalid UTF-8
// and no lone UTF-16 surrogate escape. Like encoding/json, it puts U+FFFD in
// place of what is not valid.
func decodeJSONString(raw []byte) (s string, valid bool) {
	body := raw[1 : len(raw)-1]
	plain := true
	for _, c := range body {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(body), true
	}
	valid = true
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\':
			i++
			switch e := body[i]; e {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(body[i+1:])
				i += 4
				if utf16.IsSurrogate(r) {
					var r2 rune = -1
					if i+6 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
						r2 = hex4(body[i+3:])
					}
					if combined := utf16.DecodeRune(r, r2); combined != utf8.RuneError {
						r = combined
						i += 6
					} else {
						r = utf8.RuneError
						valid = false
					}
				}
				out = utf8.AppendRune(out, r)
			default: // '"', '\\', '/'
				out = append(out, e)
			}
			i++
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size == 1 {
				valid = false
			}
			out = utf8.AppendRune(out, r)
			i += size
		}
	}
	return string(out), valid
}

// hex4 reads the four hexadecimal digits the scanner has checked.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// parseJSONInt reads a number span as an int64, as strconv.ParseInt reads
// its text: a fraction, an exponent or an overflow is not an integer.
func parseJSONInt(raw []byte) (int64, bool) {
	neg := false
	i := 0
	if i < len(raw) && raw[i] == '-' {
		neg, i = true, 1
	}
	if i == len(raw) || len(raw)-i > 19 {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		return n, err == nil
	}
	var u uint64
	for ; i < len(raw); i++ {
		c := raw[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case !neg && u <= 1<<63-1:
		return int64(u), true
	case neg && u <= 1<<63:
		return -int64(u), true
	}
	return 0, false
}
