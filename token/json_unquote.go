package token

import (
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// unquoteJSON decodes the content of a JSON string (between its quotes)
// as encoding/json's Unmarshal into a string does: the escapes JSON
// allows, a \u surrogate pair as one rune and a lone surrogate as
// U+FFFD, invalid UTF-8 as U+FFFD; false for what Unmarshal refuses (an
// unknown escape, a control byte, a bare '"'). Without the reflection and
// the validation pass of Unmarshal, a JSON body's escaped strings cost
// their length (FuzzUnquoteJSONIsUnmarshal holds the two equal).
func unquoteJSON(s []byte) (string, bool) {
	b := make([]byte, 0, len(s))
	for r := 0; r < len(s); {
		switch c := s[r]; {
		case c == '\\':
			if r+1 >= len(s) {
				return "", false
			}
			switch e := s[r+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := hex4(s[r+2:])
				if rr < 0 {
					return "", false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if len(s) >= r+2 && s[r] == '\\' && s[r+1] == 'u' {
						if rr1 := hex4(s[r+2:]); rr1 >= 0 {
							if dec := utf16.DecodeRune(rr, rr1); dec != unicode.ReplacementChar {
								r += 6
								b = utf8.AppendRune(b, dec)
								continue
							}
						}
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default:
				return "", false
			}
			r += 2
		case c == '"' || c < ' ':
			return "", false
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	return string(b), true
}

// hex4 is the value of the four hex digits s starts with, or -1.
func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}
