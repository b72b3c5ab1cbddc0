package token

import (
	"encoding/base64"
	"net/http"
	"strings"
)

// authorizationValues calls fn with every token an upstream could take from
// values, a request's Authorization headers. Upstreams disagree on how to read one:
// RFC 6750 has "Bearer <token>", Laravel takes the text after the last
// "Bearer ", Node code often split(' ')[1], others the whole value or a
// comma-separated credential. So, for every Authorization header:
//
//   - the credential after a scheme of schemes, for the whole value and
//     for each comma-separated part (a token holding ',' or a space is
//     checked whole);
//   - every word of the value, split on spaces, tabs, commas and
//     semicolons (Rails splits on the last three) and on bytes 0x85 and
//     0xA0 (whitespace to Python's str.split() on the Latin-1 text WSGI
//     gives, as Flask-HTTPAuth reads "Bearer\xa0T"; 0xA0 to a JavaScript
//     \s or trim()), but the scheme names
//     themselves; a quoted word unquoted; the value of a "name=value"
//     word, unquoted (Rails reads `Token token="T"`);
//   - for Basic, the user name and the password (APIs that take an API key
//     as the Basic user or password).
func authorizationValues(values, schemes []string, fn func(string)) {
	for _, v := range values {
		if cred, ok := plainCredential(v, schemes); ok {
			fn(cred) // what the reading below finds in it, at once
			continue
		}
		w := newWordEnds(v)
		tabs := w.has(delimTab)
		if cred, ok := credential(v, schemes, tabs); ok {
			fn(cred)
		}
		if w.has(delimComma) {
			for rest := v; rest != ""; {
				var part string
				part, rest, _ = strings.Cut(rest, ",")
				if cred, ok := credential(part, schemes, tabs); ok {
					fn(cred)
				}
			}
		}
		basic := false
		for word, ok := w.word(); ok; word, ok = w.word() {
			switch {
			case word == "":
			case strings.EqualFold(word, "Basic"):
				basic = true
			case isScheme(word, schemes):
				basic = false
			default:
				fn(word)
				if u := strings.Trim(word, `"`); u != word {
					fn(u) // a quoted credential, unquoted
				}
				if eq := strings.IndexByte(word, '='); eq >= 0 {
					param := word[eq+1:]
					// Rails reads token="T" (and "T;x=y" as T with an
					// option): a parameter's value, unquoted.
					fn(strings.Trim(param, `"`))
				}
				if basic {
					basicValues(word, fn)
				}
				basic = false
			}
		}
	}
}

// plainCredential returns the credential of v when v is exactly
// "<scheme> <credential>", a scheme of schemes other than Basic and a
// credential of token bytes only (isTokenByte: no space, delimiter, quote,
// '=' or byte outside ASCII), as nearly every request spells it: then the
// credential is the one token authorizationValues finds in v (its scheme
// is a scheme name, and its one other word the credential), found without
// splitting v into words.
func plainCredential(v string, schemes []string) (string, bool) {
	i := strings.IndexByte(v, ' ')
	if i <= 0 || i+1 == len(v) || strings.EqualFold(v[:i], "Basic") || !isScheme(v[:i], schemes) {
		return "", false
	}
	cred := v[i+1:]
	if !allTokenBytes(cred) || !allTokenBytes(v[:i]) { // a scheme with a tab or another delimiter in it
		return "", false
	}
	return cred, true
}

// allTokenBytes reports whether every byte of s is a token byte
// (isTokenByte), eight bytes a branch: a JWT's credential is hundreds.
func allTokenBytes(s string) bool {
	for len(s) >= 8 {
		if wideClass[s[0]]&wideClass[s[1]]&wideClass[s[2]]&wideClass[s[3]]&
			wideClass[s[4]]&wideClass[s[5]]&wideClass[s[6]]&wideClass[s[7]]&classToken == 0 {
			return false
		}
		s = s[8:]
	}
	for j := 0; j < len(s); j++ {
		if !tokenBytes[s[j]] {
			return false
		}
	}
	return true
}

// credential returns the credential of an Authorization value whose scheme
// is one of schemes. The scheme ends at the first space or tab: RFC 7235
// has a space there, but upstreams that split on any whitespace accept a
// tab too. tabs says whether v may hold a tab (false: it is not looked
// for).
func credential(v string, schemes []string, tabs bool) (string, bool) {
	v = strings.TrimSpace(v)
	i := strings.IndexByte(v, ' ')
	if tabs {
		if j := strings.IndexByte(v, '\t'); j >= 0 && (i < 0 || j < i) {
			i = j
		}
	}
	if i < 0 || !isScheme(v[:i], schemes) {
		return "", false
	}
	return strings.TrimSpace(v[i+1:]), true
}

// wordDelims are the bytes that end a word of an Authorization value
// (see authorizationValues). Go's server refuses the other control bytes
// Python counts as whitespace (\v, \f, 0x1c-0x1f) with a 400.
var wordDelims = [...]byte{' ', '\t', ',', ';', 0x85, 0xa0}

// The index in wordDelims of a tab and of a comma.
const (
	delimTab   = 1
	delimComma = 2
)

// wordEnds splits an Authorization value into words, ending each at a
// byte of wordDelims, and scans the value for each delimiter once in all:
// it keeps each one's next position and looks for it again only once a
// word has gone past it. (Looking for the nearest delimiter from every
// word's start scanned a 600-byte JWT once per delimiter for each word;
// strings.IndexAny walks a byte at a time.)
type wordEnds struct {
	s    string
	at   int                  // where the next word starts
	next [len(wordDelims)]int // the next position of each delimiter, len(s) when there is none
}

func newWordEnds(s string) wordEnds {
	w := wordEnds{s: s}
	for k, c := range wordDelims {
		w.next[k] = indexByteFrom(s, 0, c)
	}
	return w
}

// has says whether the value holds delimiter k (an index in wordDelims);
// only before the first call of word.
func (w *wordEnds) has(k int) bool { return w.next[k] < len(w.s) }

// word returns the next word, "" between two delimiters, and false after
// the last (a delimiter that ends the value is not followed by a word).
func (w *wordEnds) word() (string, bool) {
	if w.at >= len(w.s) {
		return "", false
	}
	end := len(w.s)
	for k := range w.next {
		if w.next[k] < w.at {
			w.next[k] = indexByteFrom(w.s, w.at, wordDelims[k])
		}
		end = min(end, w.next[k])
	}
	word := w.s[w.at:end]
	w.at = end + 1
	return word, true
}

// indexByteFrom returns the index of the first c in s at or after from,
// or len(s).
func indexByteFrom(s string, from int, c byte) int {
	if i := strings.IndexByte(s[from:], c); i >= 0 {
		return from + i
	}
	return len(s)
}

func isScheme(word string, schemes []string) bool {
	for _, s := range schemes {
		if strings.EqualFold(word, s) {
			return true
		}
	}
	return false
}

// basicValues calls fn with the user name and password of a Basic
// credential (RFC 7617), when it decodes.
func basicValues(cred string, fn func(string)) {
	b, err := base64.StdEncoding.DecodeString(cred)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(cred, "=")); err != nil {
			return
		}
	}
	user, pass, _ := strings.Cut(string(b), ":")
	fn(user)
	fn(pass)
}

// headerValues calls fn with every value of the header want (a
// normalizeHeaderName result) in r, under any spelling of its name that a
// server maps to the same one: case folded, and '_' for '-' and '.' (CGI,
// Rack and PHP map X_Api_Key, X.Api.Key and X-Api-Key to HTTP_X_API_KEY). Each value is
// checked whole and, when it holds ',' (duplicate headers joined, as Node
// joins them), part by part.
func headerValues(r *http.Request, want string, fn func(string)) {
	for name, values := range r.Header {
		if !headerNameMatches(name, want) {
			continue
		}
		for _, v := range values {
			v = strings.TrimSpace(v)
			fn(v)
			if strings.Contains(v, ",") {
				for rest := v; rest != ""; {
					var part string
					part, rest, _ = strings.Cut(rest, ",")
					fn(strings.TrimSpace(part))
				}
			}
		}
	}
}

// normalizeHeaderName is a header name as headerValues compares it: lower
// case, '_' for '-' and '.' (PHP's $_SERVER folds all three).
func normalizeHeaderName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == '.':
			return '_'
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, strings.TrimSpace(name))
}

func headerNameMatches(name, want string) bool {
	if len(name) != len(want) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-' || c == '.':
			c = '_'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}
