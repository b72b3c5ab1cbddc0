package token

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// An API that reads XML (SOAP, Spring, ElementTree, SimpleXML) reads a
// token in an element's text, or an attribute's value, as its XML parser
// hands it over: character references decoded ("Rev&#111;ked"), CDATA
// sections opened ("Rev<![CDATA[ok]]>ed"), comments and processing
// instructions dropped ("Rev<!-- -->oked"), entities a DOCTYPE declares
// expanded. None of these is a run of the body as sent.

// XMLText returns the text of body read as XML, when body looks like XML
// (its first byte, after white space and a UTF-8 byte order mark, is '<';
// whatever its Content-Type says, as an application that parses its body
// as XML reads it): its character data as one string, as an element's
// text content joins it (references decoded, CDATA sections opened,
// comments, processing instructions and tags dropped), then each
// attribute value, decoded, on a line of its own. It is lenient: a body
// that is not well-formed XML is read as far as it goes. Entities a
// DOCTYPE declares are not expanded, nor is an external DTD read: such a
// body is refused (XMLUnreadable).
func XMLText(body []byte) (string, bool) {
	rest, ok := xmlDocument(body)
	if !ok {
		return "", false
	}
	text := make([]byte, 0, len(rest))
	var attrs []byte
	for i := 0; i < len(rest); {
		switch c := rest[i]; {
		case c == '&':
			var n int
			text, n = appendReference(text, rest[i:])
			i += n
		case c != '<':
			text = append(text, c)
			i++
		case bytes.HasPrefix(rest[i:], []byte("<!--")):
			i += skipPast(rest[i+4:], "-->") + 4
		case bytes.HasPrefix(rest[i:], []byte("<![CDATA[")):
			body := rest[i+9:]
			end := bytes.Index(body, []byte("]]>"))
			if end < 0 {
				end = len(body)
			}
			text = append(text, body[:end]...)
			i += 9 + min(end+3, len(body))
		case bytes.HasPrefix(rest[i:], []byte("<?")):
			i += skipPast(rest[i+2:], "?>") + 2
		case bytes.HasPrefix(rest[i:], []byte("<!")):
			i += declarationLength(rest[i:])
		default:
			var n int
			attrs, n = appendAttributes(attrs, rest[i:])
			i += n
		}
	}
	if len(attrs) > 0 {
		text = append(append(text, '\n'), attrs...)
	}
	return string(text), true
}

// XMLUnreadable reports whether body, read as XML (XMLText), is XML the
// gateway cannot read as an upstream's parser does, and so refused
// (ErrUnreadableBody); no API client sends it:
//
//   - a document in an encoding that does not spell ASCII as ASCII:
//     UTF-16 or UTF-32 (a byte order mark, or "<" with zero bytes beside
//     it, from which expat and Java's parsers detect them), EBCDIC, or an
//     XML declaration naming another encoding than UTF-8, US-ASCII, an
//     ISO-8859 or a windows-125x one;
//   - a DOCTYPE with an internal subset ("[...]": entities, which parsers
//     expand even with external ones refused, and attribute defaults,
//     which expat reports on the element), or one that names an external
//     DTD (SYSTEM or PUBLIC: a parser that loads it, as Java's do by
//     default, takes entities and attribute defaults from a document the
//     request does not hold).
//
// A DOCTYPE of a name alone ("<!DOCTYPE html>") is read.
func XMLUnreadable(body []byte) bool {
	if xmlOtherEncoding(body) {
		return true
	}
	rest, ok := xmlDocument(body)
	if !ok {
		return false
	}
	if declaredEncoding(rest) {
		return true
	}
	for i := 0; ; {
		j := bytes.Index(rest[i:], []byte("<!"))
		if j < 0 {
			return false
		}
		i += j
		decl := rest[i:min(i+declarationLength(rest[i:]), len(rest))]
		switch {
		case hasPrefixFold(decl, "<!ENTITY"), hasPrefixFold(decl, "<!ATTLIST"):
			return true
		case hasPrefixFold(decl, "<!DOCTYPE"):
			if bytes.IndexByte(decl, '[') >= 0 {
				return true
			}
			for _, word := range bytes.Fields(decl) {
				if bytes.EqualFold(word, []byte("SYSTEM")) || bytes.EqualFold(word, []byte("PUBLIC")) {
					return true
				}
			}
		}
		i += 2
	}
}

// xmlOtherEncoding reports whether body starts as a document in UTF-16,
// UTF-32 or EBCDIC does (XML 1.0 Appendix F): a byte order mark, a zero
// byte first or second (expat then reads UTF-16), or "<?xm" in EBCDIC.
func xmlOtherEncoding(body []byte) bool {
	if _, ok := wideEncoding(body); ok {
		return true
	}
	return bytes.HasPrefix(body, []byte("\x4c\x6f\xa7\x94"))
}

// declaredEncoding reports whether the XML declaration doc starts with
// names an encoding that does not spell ASCII as ASCII (see
// XMLUnreadable).
func declaredEncoding(doc []byte) bool {
	if !bytes.HasPrefix(doc, []byte("<?xml")) {
		return false
	}
	decl := doc[:skipPast(doc, "?>")]
	i := bytes.Index(decl, []byte("encoding"))
	if i < 0 {
		return false
	}
	v := bytes.TrimLeft(decl[i+len("encoding"):], " \t\r\n")
	if len(v) == 0 || v[0] != '=' {
		return true // not one a parser reads: refused
	}
	v = bytes.TrimLeft(v[1:], " \t\r\n")
	if len(v) == 0 || v[0] != '"' && v[0] != '\'' {
		return true
	}
	end := bytes.IndexByte(v[1:], v[0])
	if end < 0 {
		return true
	}
	name := strings.ToLower(string(v[1 : 1+end]))
	switch {
	case asciiCharset(name), strings.HasPrefix(name, "iso-8859-"), strings.HasPrefix(name, "windows-125"):
		return false
	}
	return true
}

// xmlDocument returns body from its first '<' on, when body looks like
// XML: that '<' comes first, after white space and a UTF-8 byte order mark.
func xmlDocument(body []byte) ([]byte, bool) {
	rest := bytes.TrimLeft(bytes.TrimPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("\xef\xbb\xbf")), " \t\r\n")
	return rest, len(rest) > 0 && rest[0] == '<'
}

// hasPrefixFold reports whether b starts with prefix in any ASCII case.
func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// skipPast returns how many bytes of b end with the first end (all of b
// when it has none).
func skipPast(b []byte, end string) int {
	if j := bytes.Index(b, []byte(end)); j >= 0 {
		return j + len(end)
	}
	return len(b)
}

// declarationLength is the length of the declaration ("<!DOCTYPE ...>")
// b starts with, an internal subset in brackets included.
func declarationLength(b []byte) int {
	depth := 0
	for i := 2; i < len(b); i++ {
		switch b[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '>':
			if depth <= 0 {
				return i + 1
			}
		}
	}
	return len(b)
}

// appendAttributes appends to attrs, each on a line of its own, the
// values of the quoted attributes of the tag b starts with (references
// decoded), and returns how long the tag is.
func appendAttributes(attrs, b []byte) ([]byte, int) {
	for i := 1; i < len(b); i++ {
		switch q := b[i]; q {
		case '>':
			return attrs, i + 1
		case '"', '\'':
			end := bytes.IndexByte(b[i+1:], q)
			if end < 0 {
				end = len(b) - i - 1
			}
			val := b[i+1 : i+1+end]
			if len(attrs) > 0 {
				attrs = append(attrs, '\n')
			}
			for j := 0; j < len(val); {
				if val[j] == '&' {
					var n int
					attrs, n = appendReference(attrs, val[j:])
					j += n
					continue
				}
				attrs = append(attrs, val[j])
				j++
			}
			i += end + 1
		}
	}
	return attrs, len(b)
}

// predefinedEntities are XML's five.
var predefinedEntities = map[string]byte{"amp": '&', "lt": '<', "gt": '>', "quot": '"', "apos": '\''}

// appendReference appends what the reference b starts with ('&') stands
// for: a character ("&#111;", "&#x6f;", with any number of leading zeros,
// as XML allows) or one of XML's five entities; an '&' that starts no
// such reference stands for itself. It returns how many bytes of b it
// read.
func appendReference(dst, b []byte) ([]byte, int) {
	if len(b) > 2 && b[1] == '#' {
		i, base := 2, 10
		if b[2] == 'x' || b[2] == 'X' {
			i, base = 3, 16
		}
		start := i
		for i < len(b) && b[i] == '0' {
			i++
		}
		digits := i
		for i < len(b) && i-digits <= 8 && isDigitIn(b[i], base) {
			i++
		}
		if i == start || i >= len(b) || b[i] != ';' {
			return append(dst, '&'), 1
		}
		v := uint64(0)
		if i > digits {
			var err error
			if v, err = strconv.ParseUint(string(b[digits:i]), base, 32); err != nil {
				return append(dst, '&'), 1
			}
		}
		if !utf8.ValidRune(rune(v)) {
			return append(dst, '&'), 1
		}
		return utf8.AppendRune(dst, rune(v)), i + 1
	}
	end := bytes.IndexByte(b[:min(len(b), 8)], ';')
	if end < 2 {
		return append(dst, '&'), 1
	}
	if c, ok := predefinedEntities[string(b[1:end])]; ok {
		return append(dst, c), end + 1
	}
	return append(dst, '&'), 1
}

// isDigitIn reports whether c is a digit in base 10 or 16.
func isDigitIn(c byte, base int) bool {
	switch {
	case '0' <= c && c <= '9':
		return true
	case base == 16:
		return 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
	}
	return false
}
