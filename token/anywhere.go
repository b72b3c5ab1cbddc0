package token

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// MinCandidateLength is the shortest string the scan of a whole request
// (Candidates) hands out as a possible opaque token: shorter runs are words
// of headers and URLs, not credentials. The channels an upstream reads a
// token from by name (Sources) check every length.
const MinCandidateLength = 16

// Candidates appends to dst every token-shaped string of r, wherever it
// is: every maximal run of token characters in the request target, in every
// header value (whatever the header's name) and in body, r's body as the
// gateway read and decoded it (nil: none), each also
//
//   - trimmed of leading and trailing '.', ':' and '|', and split at them
//     (a Sanctum "<id>|<secret>", an Express signed cookie "s:T.<hmac>",
//     a JWT with trailing dots);
//   - percent-decoded (with and without '+' as a space), JSON- and
//     Python-unescaped, as frameworks decode before they read;
//   - base64-decoded where a known wrapper carries a token: a Basic
//     credential, a Kubernetes "base64url.bearer.authorization.k8s.io."
//     WebSocket subprotocol; and wherever a part of a run decodes (and
//     inflates) to text with a long enough run in it: a session cookie of
//     base64 JSON, an "id:key" API key (appendBase64Texts); base64 broken
//     into lines, decoded whole as decoders that skip line breaks decode
//     it (appendLineBase64Texts); and what base64 decodes to read as a
//     protobuf message too, when it is one whole (a gRPC "-bin" metadata
//     header: protobufMessageText);
//   - a body that looks like XML, as its text (XMLText: references
//     decoded, CDATA sections opened, comments and tags dropped);
//   - as its skeleton, where it has characters outside ASCII or control
//     characters (Skeleton: the ASCII that a database collation or a
//     Unicode normalization takes them for, ignorable ones removed);
//
// and, for each run, every JWT inside it (three '.'-separated segments of
// which the first two could be base64url JSON objects), as that JWT alone.
// It hands out JWT-shaped strings of at least MinJWTLength bytes and other
// strings of at least MinCandidateLength bytes, some more than once. (A slice, not a
// callback: a request's check then allocates nothing for a request with
// few candidates.)
func Candidates(r *http.Request, body []byte, dst []Candidate) []Candidate {
	dst = TargetAndBodyCandidates(r, body, dst, nil)
	dst = HeaderValueCandidates(r.Host, Where{Part: "header", Name: "Host"}, dst)
	for name, values := range r.Header {
		w := Where{Part: "header", Name: name}
		for _, v := range values {
			dst = HeaderValueCandidates(v, w, dst)
		}
	}
	return dst
}

// TargetAndBodyCandidates appends to dst the candidates of r's target and
// of body (see Candidates), those a request does not share with others,
// but opaque strings of a length in skip (nil: none), which the caller
// knows no revoked token has.
func TargetAndBodyCandidates(r *http.Request, body []byte, dst []Candidate, skip *LengthSet) []Candidate {
	dst = appendRuns(dst, r.RequestURI, Where{Part: "target"}, 0, skip)
	if len(body) > 0 {
		w := Where{Part: "body"}
		dst = appendRuns(dst, unsafe.String(unsafe.SliceData(body), len(body)), w, 0, skip) // read only
		for _, v := range decodedParts(r, body) {
			dst = appendRuns(dst, v, w, 0, skip)
		}
		if t, ok := XMLText(body); ok {
			dst = appendRuns(dst, t, w, 0, skip)
		}
		mt := mediaTypeOf(r)
		if t, ok := documentText(mt, body); ok { // YAML, CBOR: decoded
			dst = appendRuns(dst, t, w, 0, skip)
		}
		if t, ok := protobufText(mt, body); ok { // protobuf's fields, without their tags and lengths
			dst = appendRuns(dst, t, w, 0, skip)
		}
		budget := inflateBudget(len(body))
		if t, cut := grpcText(r, mt, body, &budget); cut { // compressed gRPC messages
			dst = append(dst, Candidate{Where: w, Unreadable: true})
		} else if t != "" {
			dst = appendRuns(dst, t, w, 0, skip)
		}
		if t, ok := wideText(body); ok { // UTF-16 or UTF-32: as text, and as XML
			dst = appendRuns(dst, t, w, 0, skip)
			if x, ok := XMLText([]byte(t)); ok {
				dst = appendRuns(dst, x, w, 0, skip)
			}
		}
	}
	return dst
}

// LengthSet is a set of lengths below MaxSetLength: those of the opaque
// strings a scan need not hand out. The zero value is empty; a nil
// *LengthSet too.
type LengthSet struct {
	bits [MaxSetLength / 64]uint64
}

// MaxSetLength bounds the lengths a LengthSet holds.
const MaxSetLength = 1024

// SetWord sets the set's i-th word: bit b of it is length 64*i+b.
func (s *LengthSet) SetWord(i int, w uint64) { s.bits[i] = w }

// Has reports whether n is in s.
func (s *LengthSet) Has(n int) bool {
	return s != nil && uint(n) < MaxSetLength && s.bits[n/64]&(1<<(uint(n)%64)) != 0
}

// HeaderValueCandidates appends to dst the candidates of one header value
// v found at w (see Candidates).
func HeaderValueCandidates(v string, w Where, dst []Candidate) []Candidate {
	dst = appendText(dst, v, w)
	for _, t := range skippedBase64Texts(v) { // base64 across the bytes that end runs
		dst = appendText(dst, t, w)
	}
	return appendWrapped(dst, v, w)
}

// decodedParts are the parts of a multipart body that say they are
// quoted-printable or base64, decoded (as some frameworks decode them):
// a token split by a soft line break or base64-encoded is not a run of
// the body as sent.
func decodedParts(r *http.Request, body []byte) []string {
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Type"))), "multipart/") ||
		!bytes.Contains(bytes.ToLower(body), []byte("content-transfer-encoding")) {
		return nil
	}
	var alts []string
	_ = eachMultipartParam(r, body, func(_, v string, alt bool) {
		if alt {
			alts = append(alts, v)
		}
	})
	return alts
}

// TextCandidates appends to dst the candidates of text found at where (a
// WebSocket message, say), as Candidates finds them in a header value,
// and those of its XML text when it is XML (an XMPP client's messages
// over WebSocket, RFC 7395), as a body's.
func TextCandidates(text string, where Where, dst []Candidate) []Candidate {
	dst = appendText(dst, text, where)
	if t, ok := XMLText(unsafe.Slice(unsafe.StringData(text), len(text))); ok { // read only
		dst = appendText(dst, t, where)
	}
	return dst
}

// Candidate is a string Candidates found, and where.
type Candidate struct {
	S     string
	Where Where
	// JWT says S is shaped as a JWT (LooksLikeJWT), worth parsing as one.
	JWT bool
	// Unreadable says the scan could not read the text at Where whole
	// (zlib data that inflates past what may be read: appendBase64Texts),
	// S empty: a token may be in what it did not read, so the request is
	// refused.
	Unreadable bool
}

// Where says where a string was found.
type Where struct {
	// Part is "target", "header" or "body" (Candidates), or a Found's
	// Source.
	Part string
	// Name is the header's name.
	Name string
}

// String is the Part, or "header:<name>".
func (w Where) String() string {
	if w.Name != "" {
		return w.Part + ":" + w.Name
	}
	return w.Part
}

// appendText appends the candidates of s (see appendRuns).
func appendText(dst []Candidate, s string, w Where) []Candidate {
	return appendRuns(dst, s, w, 0, nil)
}

// k8sProtocolPrefix starts a Kubernetes WebSocket subprotocol that carries
// a bearer token, base64url-encoded, after it.
const k8sProtocolPrefix = "base64url.bearer.authorization.k8s.io."

// appendWrapped appends the candidates of what a header value carries
// base64-encoded (wrapped).
func appendWrapped(dst []Candidate, v string, w Where) []Candidate {
	for at := -1; ; {
		text, next, ok := wrapped(v, at)
		if !ok {
			return dst
		}
		dst = appendText(dst, text, w)
		at = next
	}
}

// wrapped returns the first text that v carries base64-encoded at or
// after from (-1: a Basic credential first), and where to look for the
// next: a Basic credential, a Kubernetes bearer subprotocol (in any
// header: proxies and servers rename them). (An iterator, not a callback:
// the caller's candidates then stay on its stack.)
func wrapped(v string, from int) (text string, next int, ok bool) {
	if from < 0 {
		from = 0
		if t := strings.TrimLeft(v, " \t"); len(t) > 6 && strings.EqualFold(t[:6], "basic ") {
			cred := strings.TrimSpace(t[6:])
			if b, err := base64.StdEncoding.DecodeString(cred); err == nil {
				return string(b), 0, true
			} else if b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(cred, "=")); err == nil {
				return string(b), 0, true
			}
		}
	}
	for from < len(v) {
		i := strings.Index(v[from:], k8sProtocolPrefix)
		if i < 0 {
			break
		}
		from += i + len(k8sProtocolPrefix)
		enc := v[from:]
		if j := strings.IndexAny(enc, ", \t"); j >= 0 {
			enc = enc[:j]
		}
		if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "=")); err == nil {
			return string(b), from, true
		}
	}
	return "", len(v), false
}

// isTokenByte reports whether c may be part of a token: RFC 6750's
// b64token characters but '=' (which only pads a run's end), and the ':'
// and '|' that token formats and framework wrappers put between a token's
// parts.
func isTokenByte(c byte) bool {
	return tokenBytes[c]
}

var tokenBytes = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~+/:|" {
		t[c] = true
	}
	return t // '=' ends a run, as base64 padding (see appendRuns)
}()

// isPartSeparator reports whether c is one of the separators a run is
// split at: those of token formats and wrappers ('.', ':', '|'), and the
// '/' of a path and the '+' a query decodes to a space (an application
// that splits "Bearer+T" reads T).
func isPartSeparator(c byte) bool {
	return wideClass[c]&classSeparator != 0
}

// wideClass classifies the bytes of a wide run (0: none): token bytes
// (part separators and '.' among them), '=' padding and the escape bytes
// '%' and '\\', which frameworks decode before they read. One table
// look-up and an OR a byte tell a run's end and what it holds.
var wideClass = func() (t [256]uint8) {
	for c := range 256 {
		if tokenBytes[c] {
			t[c] = classToken
		}
	}
	for _, c := range "./:|+" {
		t[c] |= classSeparator
	}
	t['.'] |= classDot
	t['='] = classPadding
	t['%'], t['\\'] = classEscape, classEscape
	return t
}()

// The classes of wideClass, bits of a wide run's summary.
const (
	classToken     = 1
	classPadding   = 2
	classEscape    = 4
	classSeparator = 8  // '.', ':', '|', '/', '+' (token bytes too)
	classDot       = 16 // '.' (a separator too)
)

// MinJWTLength is the length of the shortest string handed out as a JWT.
// A JWT an upstream accepts is one an issuer signed, segment for segment,
// and every issuer writes "alg" in its header (RFC 7515 §4.1.1, RFC 7516
// §4.1.1): the shortest header, {"alg":"none"}, is 19 base64url bytes,
// the shortest payload, {}, 3, and the signature may be empty.
const MinJWTLength = 19 + 1 + 3 + 1

// minRun returns the shortest wide run that can hand out a candidate when
// the lengths in s are skipped (s nil: none): a JWT is at least
// MinJWTLength bytes, an opaque string at least MinCandidateLength and
// of a length not in s, and decoding never makes a run longer.
func (s *LengthSet) minRun() int {
	n := MinCandidateLength
	for n < MinJWTLength && s.Has(n) {
		n++
	}
	return n
}

// maxDecodeDepth bounds how many times a run is decoded again (a token
// percent-encoded twice is found; a third time is not read by frameworks).
const maxDecodeDepth = 2

// appendRuns appends every maximal run of token bytes in s, and its parts
// (appendRun). It looks for wide runs (token bytes, '=' padding and the
// escape bytes '%' and '\\'): one without escapes is a run; one with them
// is decoded as frameworks decode it (percent, with and without '+' as a
// space; JSON and Python backslash escapes) and what it decodes to is
// scanned again (up to maxDecodeDepth times). A text with characters
// outside ASCII or control characters is scanned again as its skeleton
// too (Skeleton: "ｒév\u200boked" as "revoked"), once, and what that
// decodes to likewise.
//
// Only wide runs of skip.minRun() bytes or more (16 to 24) are looked at,
// and found by skipping: if the byte minRun-1 past where a run could start
// is not a wide byte, no long enough run starts before it. The words of a
// browser's headers and of a JSON body are mostly shorter, so most bytes
// are never read. (A
// queue, not recursion: dst then stays on the caller's stack.)
func appendRuns(dst []Candidate, s string, w Where, depth int, skip *LengthSet) []Candidate {
	type text struct {
		s     string
		depth int
		// skeleton says s is a skeleton already (Skeleton).
		skeleton bool
		// base64 is how many base64 layers s was decoded from
		// (appendBase64Texts): up to maxBase64Depth in a text's history,
		// not counted in depth (an Express session cookie is
		// percent-decoded, base64-decoded, then JSON-unescaped; a
		// gorilla/sessions cookie is base64 of base64 text).
		base64 uint8
		// framed says s (or the text it is the skeleton of) has bytes
		// outside ASCII or control characters: it may be a binary
		// serialization, whose framing byte next to a string may be a
		// token byte (see appendFramedRun). (Not every text decoded
		// from base64: a JWT's payload is JSON, whose strings are
		// quoted, and a JWT checked again must cost no allocation.)
		framed bool
	}
	var stack [4]text
	queue := append(stack[:0], text{s: s, depth: depth})
	minRun := skip.minRun()
	budget, cut := inflateBudget(len(s)), false
	for len(queue) > 0 {
		t := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		s := t.s
		framed := t.framed
		var lines bool // s holds a line break
		if !t.skeleton {
			var needs bool
			if needs, lines = skeletonAndLineBreak(s); needs { // most texts cost this one pass
				framed = true
				if sk, ok := Skeleton(s); ok {
					queue = append(queue, text{s: sk, depth: t.depth, skeleton: true, base64: t.base64, framed: true})
				}
			}
		} else {
			lines = hasLineBreak(s)
		}
		if lines && t.base64 < maxBase64Depth { // base64 in lines, read whole
			texts, c := appendLineBase64Texts(nil, s, t.base64 == 0, &budget) // rare: allocates when it finds one
			for _, d := range texts {
				queue = append(queue, text{s: d, depth: t.depth, base64: t.base64 + 1})
				if p, ok := protobufMessageText(d); ok {
					queue = append(queue, text{s: p, depth: t.depth, base64: t.base64 + 1, framed: true})
				}
			}
			if c && !cut {
				cut = true
				dst = append(dst, Candidate{Where: w, Unreadable: true})
			}
		}
		for i := 0; i+minRun <= len(s); {
			k := i + minRun - 1
			holds := wideClass[s[k]]
			if holds == 0 {
				i = k + 1
				continue
			}
			start := k // s[i-1] is not a wide byte: the run starts at i or later
			for start > i {
				c := wideClass[s[start-1]]
				if c == 0 {
					break
				}
				holds |= c
				start--
			}
			end := k + 1
			for end < len(s) {
				c := wideClass[s[end]]
				if c == 0 {
					break
				}
				holds |= c
				end++
			}
			i = end + 1
			if end-start < minRun {
				continue
			}
			wide := s[start:end]
			if t.base64 < maxBase64Depth {
				var b64 [2]string
				texts, c := appendBase64Texts(b64[:0], wide, holds, t.base64 == 0, &budget)
				for _, d := range texts {
					queue = append(queue, text{s: d, depth: t.depth, base64: t.base64 + 1})
					if p, ok := protobufMessageText(d); ok { // a serialized message
						queue = append(queue, text{s: p, depth: t.depth, base64: t.base64 + 1, framed: true})
					}
				}
				if c && !cut {
					cut = true
					dst = append(dst, Candidate{Where: w, Unreadable: true})
				}
			}
			if framed && holds&(classPadding|classEscape) == 0 {
				dst = appendFramedRun(dst, wide, holds, w, skip)
			}
			switch {
			case holds&(classPadding|classEscape) == 0: // the common case: one run
				dst = appendRun(dst, wide, holds, w, skip)
				continue
			case holds&classEscape == 0 || t.depth >= maxDecodeDepth: // padding, or decoded enough
				dst = appendPlainRuns(dst, wide, w, skip)
				continue
			}
			for _, d := range decodings(wide) {
				if d != "" {
					queue = append(queue, text{s: d, depth: t.depth + 1, base64: t.base64})
				}
			}
		}
	}
	return dst
}

// decodings are what frameworks decode a wide run with escapes to:
// percent-decoded (and with '+' as a space when it holds one), JSON- and
// Python-unescaped ("" where one does not apply).
func decodings(wide string) (out [4]string) {
	if strings.IndexByte(wide, '%') >= 0 {
		out[0] = decodeLenient(wide, false)
		if strings.IndexByte(wide, '+') >= 0 {
			out[1] = decodeLenient(wide, true)
		}
	}
	if strings.IndexByte(wide, '\\') >= 0 {
		out[2] = jsonUnescape(wide)
		if p := pythonUnquote(wide); p != out[2] {
			out[3] = p
		}
	}
	return out
}

// appendPlainRuns appends the runs of a wide run without escapes (or one
// decoded too often): '=' padding ends a run ("k=v" is two), '%' and '\\'
// end it too.
func appendPlainRuns(dst []Candidate, wide string, w Where, skip *LengthSet) []Candidate {
	for i := 0; i < len(wide); {
		if !tokenBytes[wide[i]] {
			i++
			continue
		}
		j, holds := i, uint8(0)
		for j < len(wide) && tokenBytes[wide[j]] {
			holds |= wideClass[wide[j]]
			j++
		}
		for j < len(wide) && wide[j] == '=' {
			j++
		}
		if j-i >= MinCandidateLength {
			dst = appendRun(dst, wide[i:j], holds, w, skip) // a shorter run holds nothing handed out
		}
		i = j
	}
	return dst
}

// appendRun appends run (whose bytes' classes are holds, '=' padding
// aside), trimmed of separators, its parts, and the JWTs in it. A run
// without separators, a session id's, is handed out as it is (and
// without its padding).
func appendRun(dst []Candidate, run string, holds uint8, w Where, skip *LengthSet) []Candidate {
	if holds&classSeparator == 0 { // no '.': not a JWT
		if opaqueWanted(len(run), skip) {
			dst = append(dst, Candidate{S: run, Where: w})
		}
		if u := strings.TrimRight(run, "="); u != run && opaqueWanted(len(u), skip) {
			dst = append(dst, Candidate{S: u, Where: w})
		}
		return dst
	}
	dst = appendCandidate(dst, run, w, skip)
	t := trimSeparators(run)
	if t != run {
		dst = appendCandidate(dst, t, w, skip)
	}
	start, dots, seps := 0, 0, 0
	for i := 0; i <= len(t); i++ {
		if i < len(t) {
			c := wideClass[t[i]]
			if c&classSeparator == 0 {
				continue
			}
			seps++
			if c&classDot != 0 {
				dots++
			}
		} else if seps == 0 {
			break // t is one part, handed out already
		}
		dst = appendPart(dst, t[start:i], w, skip)
		start = i + 1
	}
	if seps == 0 {
		if u := strings.TrimRight(t, "="); u != t {
			dst = appendCandidate(dst, u, w, skip)
		}
		return dst
	}
	for at := 0; dots >= 2; {
		jwt, next, ok := nextJWT(t, at)
		if !ok {
			break
		}
		dst = append(dst, Candidate{S: jwt, Where: w, JWT: true})
		at = next
	}
	return dst
}

// appendFramedRun appends the candidates of run, found in a text that may
// be a binary serialization, without its first byte, its last, and both:
// such a format puts a string's length or the next opcode right next to
// it, and that byte may be a token byte. A session that Ruby's Marshal
// (Rack::Session::Cookie), Go's gob (gorilla/sessions), MessagePack or
// CBOR (a length byte: a 64-byte string's is 'E' in Marshal, an 86-byte
// one's 'V' in gob) or Python's pickle (BINPUT 'q' after a string, in
// protocols 1 to 3) holds a token in is read back as the token alone,
// while the run is one byte longer.
func appendFramedRun(dst []Candidate, run string, holds uint8, w Where, skip *LengthSet) []Candidate {
	if len(run) <= MinCandidateLength {
		return dst
	}
	dst = appendRun(dst, run[1:], holds, w, skip)
	dst = appendRun(dst, run[:len(run)-1], holds, w, skip)
	if len(run) > MinCandidateLength+1 {
		dst = appendRun(dst, run[1:len(run)-1], holds, w, skip)
	}
	return dst
}

// appendPart appends a part of a run between separators (never a JWT:
// it holds no '.') if it is long enough, and without its padding.
func appendPart(dst []Candidate, part string, w Where, skip *LengthSet) []Candidate {
	if opaqueWanted(len(part), skip) {
		dst = append(dst, Candidate{S: part, Where: w})
	}
	if part != "" && part[len(part)-1] == '=' {
		if u := strings.TrimRight(part, "="); opaqueWanted(len(u), skip) {
			dst = append(dst, Candidate{S: u, Where: w})
		}
	}
	return dst
}

// opaqueWanted reports whether a string of n bytes that is not a JWT is
// handed out: long enough to be an opaque token, and not a length in skip.
func opaqueWanted(n int, skip *LengthSet) bool {
	return n >= MinCandidateLength && !skip.Has(n)
}

// trimSeparators trims s of leading and trailing part separators.
func trimSeparators(s string) string {
	i, j := 0, len(s)
	for i < j && isPartSeparator(s[i]) {
		i++
	}
	for j > i && isPartSeparator(s[j-1]) {
		j--
	}
	return s[i:j]
}

// appendCandidate appends s if it is shaped as a JWT, or long enough to be
// an opaque token and not of a length in skip.
func appendCandidate(dst []Candidate, s string, w Where, skip *LengthSet) []Candidate {
	if jwt := LooksLikeJWT(s); jwt || opaqueWanted(len(s), skip) {
		dst = append(dst, Candidate{S: s, Where: w, JWT: jwt})
	}
	return dst
}

// nextJWT returns the first JWT-shaped substring of s that starts at or
// after from: three '.'-separated segments, the first two possibly
// base64url JSON objects, between ':' and '|' (a JWT holds neither); and
// where to look for the next one.
func nextJWT(s string, from int) (jwt string, next int, ok bool) {
	for from < len(s) {
		a := from
		b := segmentEnd(s, a)
		if b >= len(s) || s[b] != '.' {
			from = b + 1
			continue
		}
		c := segmentEnd(s, b+1)
		if c >= len(s) || s[c] != '.' {
			from = b + 1
			continue
		}
		if mayBeJSONObjectSegment(s[a:b]) && mayBeJSONObjectSegment(s[b+1:c]) {
			if jwt := s[a:segmentEnd(s, c+1)]; len(jwt) >= MinJWTLength {
				return jwt, b + 1, true
			}
		}
		from = b + 1
	}
	return "", len(s), false
}

// segmentEnd returns the index of the first '.', ':' or '|' of s at or
// after i, or len(s).
func segmentEnd(s string, i int) int {
	for ; i < len(s); i++ {
		if isPartSeparator(s[i]) {
			return i
		}
	}
	return len(s)
}

// LooksLikeJWT reports whether s is three '.'-separated segments whose
// first two could be base64url JSON objects: a string worth parsing as a
// JWT (Parse says whether it is one).
func LooksLikeJWT(s string) bool {
	if len(s) < MinJWTLength {
		return false
	}
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return false
	}
	rest := s[i+1:]
	j := strings.IndexByte(rest, '.')
	if j < 0 || strings.IndexByte(rest[j+1:], '.') >= 0 {
		return false
	}
	return mayBeJSONObjectSegment(s[:i]) && mayBeJSONObjectSegment(rest[:j])
}

// mayBeJSONObjectSegment reports whether seg could be the base64url of a
// JSON object: its first character encodes '{' or the whitespace JSON
// allows before it, and it is long enough to hold "{}".
func mayBeJSONObjectSegment(seg string) bool {
	if len(seg) < 3 {
		return false
	}
	switch seg[0] {
	// '{', ' ', '\t' to '\v', '\f' and '\r', and the first bytes of the
	// Unicode spaces bytes.TrimSpace takes off a JSON object (isJSONObject):
	// 0xC2 (U+0085, U+00A0) and 0xE1 to 0xE3.
	case 'e', 'I', 'C', 'D', 'w', '4':
		return true
	}
	return false
}

// hexRune is the rune the first n bytes of s spell in hexadecimal.
func hexRune(s string, n int) (rune, bool) {
	if len(s) < n {
		return 0, false
	}
	var r rune
	for i := 0; i < n; i++ {
		if !isHex(s[i]) {
			return 0, false
		}
		r = r<<4 | rune(unhex(s[i]))
	}
	return r, r <= unicode.MaxRune
}

// jsonWhiteSpace is the byte of the JSON escapes \n, \r and \t.
var jsonWhiteSpace = [256]byte{'n': '\n', 'r': '\r', 't': '\t'}

// jsonUnescape decodes the JSON string escapes in s (\", \\, \/, \b, \f,
// \n, \r, \t, \uXXXX, a surrogate pair joined) and YAML's and JSON5's
// \xXX and \UXXXXXXXX; anything else is kept as it is.
func jsonUnescape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch n := s[i+1]; n {
		case '"', '\\', '/':
			b.WriteByte(n)
			i++
		case 'n', 'r', 't': // white space, which base64 decoders skip (appendLineBase64Texts)
			b.WriteByte(jsonWhiteSpace[n])
			i++
		case 'b', 'f':
			b.WriteByte(' ')
			i++
		case 'u', 'x', 'U':
			digits := 4
			if n == 'x' {
				digits = 2
			} else if n == 'U' {
				digits = 8
			}
			r, ok := hexRune(s[i+2:], digits)
			if !ok {
				b.WriteByte(c)
				continue
			}
			i += 1 + digits
			if utf16.IsSurrogate(r) && n == 'u' && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				// A surrogate pair, as PHP's json_decode and
				// JSON.parse join it: "\ud835\udc1e" is "𝐞".
				if lo, ok := hexRune(s[i+3:], 4); ok {
					if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
						r = d
						i += 6
					}
				}
			}
			b.WriteRune(r)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
