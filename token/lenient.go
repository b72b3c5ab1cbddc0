package token

import "strings"

// This file reads URL-encoded names and values the way the most lenient
// widely used server frameworks read them, so that no upstream can find a
// parameter the gateway does not:
//
//   - pairs are split on '&' and, within a pair, also on ';' (Rack 2 and
//     older Python split queries on both; Go and Node only on '&');
//   - a name is matched after percent-decoding ('+' is a space), with ASCII
//     case folded (ASP.NET Core binds names case-insensitively), with PHP's
//     name mangling ('.', ' ' and an unmatched '[' become '_', leading
//     spaces are dropped, "name[...]" is the array "name", a NUL ends it);
//   - a value is decoded leniently (a malformed escape stays as it is, as
//     PHP and Node's qs keep it, where Go drops the whole pair), and the raw
//     value is checked too when it differs.

// maxNameLen bounds a normalized parameter, cookie or header name. A
// configured name is never longer; a longer one in a request cannot match
// it and is skipped without allocating.
const maxNameLen = 256

// NormalizeName returns name as the lenient readers compare names: see
// nameMatches. A configured name is normalized once, then compared with
// what requests carry.
func NormalizeName(name string) string {
	var buf [maxNameLen]byte
	n, ok := normalizeName(buf[:0], name, true)
	if !ok {
		return strings.ToLower(name)
	}
	return string(n)
}

// normalizeName appends raw's normalized form to dst: percent-decoded
// (with '+' a space, when decode is set), cut at a NUL, trimmed of spaces,
// "name[...]" cut to "name", then '.', ' ' and '[' mapped to '_' and ASCII
// letters lowered. ok is false when it would not fit in dst's capacity.
func normalizeName(dst []byte, raw string, decode bool) (_ []byte, ok bool) {
	start := len(dst)
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case decode && c == '+':
			c = ' '
		case decode && c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]):
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		if c == 0 {
			break
		}
		if len(dst) == cap(dst) {
			return dst, false
		}
		dst = append(dst, c)
	}
	name := dst[start:]
	// Trim spaces on both sides (PHP drops leading ones; trailing ones are
	// trimmed by some cookie parsers).
	for len(name) > 0 && isSpace(name[0]) {
		name = name[1:]
	}
	for len(name) > 0 && isSpace(name[len(name)-1]) {
		name = name[:len(name)-1]
	}
	// "name[...]" is the array "name" (PHP, Rack, qs).
	if i := indexByte(name, '['); i > 0 && indexByte(name[i:], ']') > 0 {
		name = name[:i]
	}
	for i, c := range name {
		switch {
		case c == '.' || c == ' ' || c == '[':
			name[i] = '_'
		case 'A' <= c && c <= 'Z':
			name[i] = c + 'a' - 'A'
		}
	}
	return name, true
}

// nameMatches reports whether raw, a name as a request spells it, is want
// (a NormalizeName result) to a lenient reader. It allocates nothing.
func nameMatches(raw, want string, decode bool) bool {
	if want == "" || len(raw) < len(want) {
		return false // normalizing never lengthens a name
	}
	var buf [maxNameLen]byte
	n, ok := normalizeName(buf[:0], raw, decode)
	return ok && string(n) == want
}

// foldedNameMatches is nameMatches, also after the two characters
// Unicode's simple case folding takes for ASCII letters are mapped to
// them (U+017F LATIN SMALL LETTER LONG S to 's', U+212A KELVIN SIGN to
// 'k'): encoding/json matches member names so ("acceſſ_token" binds to a
// field tagged access_token). It allocates only for a name holding one.
func foldedNameMatches(raw, want string) bool {
	if nameMatches(raw, want, true) {
		return true
	}
	if !strings.Contains(raw, "\u017f") && !strings.Contains(raw, "\u212a") {
		return false
	}
	return nameMatches(unicodeFolds.Replace(raw), want, true)
}

// unicodeFolds maps the characters whose simple case folding holds an
// ASCII letter to that letter.
var unicodeFolds = strings.NewReplacer("\u017f", "s", "\u212a", "k")

// isSpace reports whether c is ASCII white space, as net/http's
// textproto.TrimString trims it.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// decodeLenient percent-decodes s, '+' standing for a space when plus is
// set; a malformed escape is kept as it is. It allocates only when s holds
// an escape (or a '+', with plus).
func decodeLenient(s string, plus bool) string {
	i := 0
	for ; i < len(s); i++ {
		if s[i] == '%' || plus && s[i] == '+' {
			break
		}
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case plus && c == '+':
			c = ' '
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		b = append(b, c)
	}
	return string(b)
}

// eachPair calls fn with the raw name and value of every pair of a
// URL-encoded string, split on '&' and, within a pair holding ';', also on
// ';' (so "a=1;access_token=T" yields a=1;access_token=T as one pair and
// a=1 and access_token=T besides).
func eachPair(encoded string, fn func(name, value string)) {
	for encoded != "" {
		var pair string
		pair, encoded, _ = strings.Cut(encoded, "&")
		eachSubPair(pair, fn)
	}
}

// eachSubPair calls fn for pair and, when it holds a ';', for each of its
// ';'-separated parts.
func eachSubPair(pair string, fn func(name, value string)) {
	if pair == "" {
		return
	}
	name, value, _ := strings.Cut(pair, "=")
	fn(name, value)
	if !strings.Contains(pair, ";") {
		return
	}
	for pair != "" {
		var sub string
		sub, pair, _ = strings.Cut(pair, ";")
		sub = strings.TrimLeft(sub, " ")
		if sub != "" {
			name, value, _ := strings.Cut(sub, "=")
			fn(name, value)
		}
	}
}
