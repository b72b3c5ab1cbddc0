package token

import (
	"bytes"
	"strconv"
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
// body is refused (XMLDependsOnDTD).
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

// XMLDependsOnDTD reports whether body, read as XML (XMLText), depends on
// a DOCTYPE: one that declares entities ("&t;" is then whatever the
// declaration says, which parsers expand, internal entities even with
// external ones refused), or one that names an external DTD (SYSTEM or
// PUBLIC: a parser that loads it, as Java's do by default, takes
// entities and attribute defaults from a document the request does not
// hold). Such a body is refused (ErrUnreadableBody); no API client needs
// one. A DOCTYPE of a name alone ("<!DOCTYPE html>") is not refused.
func XMLDependsOnDTD(body []byte) bool {
	rest, ok := xmlDocument(body)
	if !ok {
		return false
	}
	for i := 0; ; {
		j := bytes.Index(rest[i:], []byte("<!"))
		if j < 0 {
			return false
		}
		i += j
		decl := rest[i:min(i+declarationLength(rest[i:]), len(rest))]
		switch {
		case hasPrefixFold(decl, "<!ENTITY"):
			return true
		case hasPrefixFold(decl, "<!DOCTYPE"):
			head := decl
			if k := bytes.IndexByte(head, '['); k >= 0 {
				head = head[:k]
			}
			for _, word := range bytes.Fields(head) {
				if bytes.EqualFold(word, []byte("SYSTEM")) || bytes.EqualFold(word, []byte("PUBLIC")) {
					return true
				}
			}
			if bytes.Contains(bytes.ToUpper(decl), []byte("<!ENTITY")) {
				return true
			}
		}
		i += 2
	}
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
// for: a character ("&#111;", "&#x6f;") or one of XML's five entities; an
// '&' that starts no such reference stands for itself. It returns how
// many bytes of b it read.
func appendReference(dst, b []byte) ([]byte, int) {
	end := bytes.IndexByte(b, ';')
	if end < 2 || end > 12 {
		return append(dst, '&'), 1
	}
	name := string(b[1:end])
	if c, ok := predefinedEntities[name]; ok {
		return append(dst, c), end + 1
	}
	if name[0] == '#' {
		num, base := name[1:], 10
		if len(num) > 0 && (num[0] == 'x' || num[0] == 'X') {
			num, base = num[1:], 16
		}
		if v, err := strconv.ParseUint(num, base, 32); err == nil && utf8.ValidRune(rune(v)) {
			return utf8.AppendRune(dst, rune(v)), end + 1
		}
	}
	return append(dst, '&'), 1
}
