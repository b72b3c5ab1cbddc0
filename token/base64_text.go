package token

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"io"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Frameworks keep what an application puts in a session in a cookie of
// base64 text: Flask's and Starlette's sessions and Django's signed-cookie
// sessions (base64url JSON, zlib-compressed behind a leading '.' when that
// is shorter, then a timestamp and a signature), Express's cookie-session
// (base64 JSON), Rack's cookie store. An application that keeps the
// access token it was given there reads it back from the cookie on every
// request: a revoked token replayed inside an old session cookie is a
// revoked token, though no run of the request is the token. So is one in
// an API key scheme that base64-encodes "id:key" (Elasticsearch's ApiKey),
// or in any header an application decodes.

// minBase64Part is the shortest base64 part that is decoded: the base64 of
// MinCandidateLength bytes.
const minBase64Part = (MinCandidateLength*8 + 5) / 6

// maxBase64Text bounds what one part decodes (and inflates) to.
const maxBase64Text = 64 << 10

// maxBase64Depth bounds how many base64 layers a text is decoded through:
// gorilla/sessions (Go's securecookie) keeps a session as the base64 of
// "date|base64(gob)|mac", two layers; a third is a cookie of such a
// session kept base64 in another. Each layer is at most three quarters of
// the one it was decoded from (zlib data is inflated in the first alone),
// so the layers together cost less than four times the first.
const maxBase64Depth = 3

// maxInflateRatio bounds what the zlib data of one text (a header value,
// a body) inflates to in all, as a multiple of the text's length, beyond
// maxBase64Text: a body of many small parts that each inflate a
// thousandfold would otherwise make the scan read a thousand times the
// body. One part inflates whole, up to maxBase64Text, whatever its own
// ratio (a Flask session whose flashed messages repeat compresses past
// twentyfold); zlib data that inflates past what is left is not read, and
// the request is refused (Candidate.Unreadable): the token may be after
// it.
const maxInflateRatio = 8

// inflateBudget is what the zlib data of a text of n bytes may inflate to
// in all.
func inflateBudget(n int) int { return maxBase64Text + maxInflateRatio*n }

// appendBase64Texts appends to dst the texts the parts of wide (a run of
// the scan, whose bytes' classes are holds: wideClass) decode to as base64, standard or URL-safe, padded or not, and
// inflated when they decode to zlib data: each part between '.', ':', '|'
// and '=' (and the escape bytes) of at least minBase64Part bytes that
// decodes to bytes with a run of MinCandidateLength token bytes in them
// (text, a SASL message: PLAIN's "\x00user\x00token", OAUTHBEARER's
// "n,,\x01auth=Bearer T\x01\x01", as XMPP, IMAP and SMTP send them; or a
// serialization that keeps strings whole, as Go's gob). zlib data is
// inflated only when inflate (a text's first base64 layer). Of a JWT, the
// payload alone is decoded (an application that signs its session as a
// JWT keeps the access token it was given in a claim), never inflated.
//
// budget is what zlib data may still inflate to (inflateBudget), less what
// it does; cut says some did not inflate whole within it (or
// maxBase64Text), so the text was not read whole.
func appendBase64Texts(dst []string, wide string, holds uint8, inflate bool, budget *int) (_ []string, cut bool) {
	if len(wide) < minBase64Part {
		return dst, false
	}
	if holds&(classSeparator|classPadding|classEscape) == 0 { // one part: a UUID, a random token
		t, ok, cut := base64Text(wide, inflate, budget)
		if ok {
			dst = append(dst, t)
		}
		dst = appendAfterHexMAC(dst, wide, inflate, budget, &cut)
		dst, c := appendSkippingBase64Texts(dst, wide, []string{wide}, inflate, budget)
		return dst, cut || c
	}
	var parts [8]string
	n := 0
	for i := 0; i <= len(wide) && n < len(parts); {
		j := i
		for j < len(wide) && !base64PartEnd(wide[j]) {
			j++
		}
		parts[n] = wide[i:j]
		n++
		i = j + 1
		if j < len(wide) && wide[j] == '=' {
			for i < len(wide) && wide[i] == '=' {
				i++ // padding, or "name=": the next part starts after it
			}
		}
	}
	jwt := false
	for k := 0; k < n; k++ {
		p := parts[k]
		if k+1 < n && mayBeJSONObjectSegment(p) && mayBeJSONObjectSegment(parts[k+1]) {
			jwt = true
			// A JWT: its payload's strings are read (a session JWT keeps
			// an access token in a claim), its header and signature not.
			if len(parts[k+1]) >= minBase64Part {
				if t, ok, _ := base64Text(parts[k+1], false, budget); ok {
					dst = append(dst, t)
				}
			}
			k += 2
			continue
		}
		if len(p) < minBase64Part {
			continue
		}
		dst = appendBase64Text(dst, p, inflate, budget, &cut)
		dst = appendAfterHexMAC(dst, p, inflate, budget, &cut)
	}
	if !jwt && n > 1 && !strings.ContainsAny(wide, `%\\`) {
		// The decoders many applications call on a header's base64
		// (Node's Buffer.from(s, "base64"), Python's b64decode) skip
		// what is not base64: "aWQ6cmV2.b2tlZA" is one text to them.
		var stack [256]byte
		joined := stack[:0]
		for _, p := range parts[:n] {
			joined = append(joined, p...)
		}
		if len(joined) >= minBase64Part {
			dst = appendBase64Text(dst, unsafe.String(unsafe.SliceData(joined), len(joined)), inflate, budget, &cut) // read during the call only
		}
	}
	if !jwt {
		var c bool
		dst, c = appendSkippingBase64Texts(dst, wide, parts[:n], inflate, budget)
		cut = cut || c
	}
	return dst, cut
}

// appendSkippingBase64Texts appends what wide (whose parts are parts)
// decodes to as the decoders that skip what is not base64 decode it,
// where that differs from the decodings above: Python's b64decode
// (validate=False, its default, under urlsafe_b64decode and
// itsdangerous' base64_decode too) skips '-', '_' and '~', so
// "dXNl-cjpU" is "user:T" to it; Node's Buffer.from(s, "base64") reads
// '-' and '_' as base64url beside '+' and '/', and skips '~'. Each part
// holding '-', '_' or '~' is decoded so (an itsdangerous payload between
// '.'s), and so is wide whole, when it has more than one part (the parts
// joined, as an ApiKey's decoder reads it); a wide run with an escape is
// not.
func appendSkippingBase64Texts(dst []string, wide string, parts []string, inflate bool, budget *int) (_ []string, cut bool) {
	wf := skipFlagsOf(wide)
	if wf&(skipURL|skipTilde) == 0 || wf&skipEscape != 0 {
		return dst, false
	}
	decode := func(p string, mapURL bool) {
		var head [4]byte
		h := head[:0]
		for i := 0; i < len(p) && len(h) < 4; i++ {
			switch c := p[i]; {
			case base64Std[c] != 0xFF:
				h = append(h, c)
			case mapURL && c == '-':
				h = append(h, '+')
			case mapURL && c == '_':
				h = append(h, '/')
			}
		}
		if len(h) == 4 && !base64TextHead(h, false) {
			return // what base64Text would find first (most parts: a UUID's hex digits)
		}
		dst, _ = appendAlphabetText(dst, p, mapURL, inflate, budget, &cut)
	}
	variants := func(p string) {
		if len(p) < minBase64Part {
			return
		}
		f := wf
		if len(p) != len(wide) {
			f = skipFlagsOf(p)
		}
		if f&(skipURL|skipTilde) == 0 {
			return
		}
		decode(p, false) // Python's b64decode
		if f&skipURL != 0 && f&(skipTilde|skipStd) != 0 {
			decode(p, true) // Node's, where the decodings above did not read it so
		}
	}
	for _, p := range parts {
		variants(p)
	}
	if len(parts) > 1 {
		variants(wide)
	}
	return dst, cut
}

// The bytes appendSkippingBase64Texts looks for, as skipFlags has them.
const (
	skipURL    = 1 << iota // '-', '_'
	skipTilde              // '~'
	skipStd                // '+', '/'
	skipEscape             // '%', '\\'
)

// skipFlags is each byte's skip flag.
var skipFlags = [256]uint8{'-': skipURL, '_': skipURL, '~': skipTilde, '+': skipStd, '/': skipStd, '%': skipEscape, '\\': skipEscape}

// skipFlagsOf ORs the skip flags of s's bytes.
func skipFlagsOf(s string) uint8 {
	var f uint8
	for i := 0; i < len(s); i++ {
		f |= skipFlags[s[i]]
	}
	return f
}

// skippedBase64Texts returns what the spans of header value v that an
// application hands a decoder whole decode to as base64 when the decoder
// skips what is not base64 (Python's b64decode, Node's Buffer.from: see
// appendSkippingBase64Texts), where a span holds bytes that end a run
// (a space, '*', '"', ...), across which the scan's runs are decoded
// apart: "ApiKey aWQ6 cmV2..." is "id:<token>" to
// b64decode(auth[7:]). The spans: v whole, v after its first word (a
// scheme), and each ';'-separated pair's value (a cookie's). nil when v
// has no such byte. zlib data is inflated within the scan's budget for
// v; what inflates past it is not read (the scan of v refuses it).
func skippedBase64Texts(v string) []string {
	if len(v) < minBase64Part {
		return nil
	}
	ends := false
	for i := 0; i < len(v) && !ends; i++ {
		ends = !tokenBytes[v[i]] && v[i] != '='
	}
	if !ends {
		return nil
	}
	var out []string
	budget := inflateBudget(len(v))
	span := func(sp string) {
		sp = strings.Trim(sp, " \t")
		junk := false
		for i := 0; i < len(sp) && !junk; i++ {
			junk = !tokenBytes[sp[i]] && sp[i] != '='
		}
		if !junk || len(sp) < minBase64Part {
			return
		}
		url := strings.ContainsAny(sp, "-_")
		for _, mapURL := range [2]bool{false, true} {
			if mapURL && !url {
				break
			}
			var cut bool // what inflates past budget is the scan's to refuse
			out, _ = appendAlphabetText(out, sp, mapURL, true, &budget, &cut)
		}
	}
	span(v)
	if i := strings.IndexAny(strings.TrimLeft(v, " \t"), " \t"); i > 0 {
		span(strings.TrimLeft(v, " \t")[i:])
	}
	if strings.IndexByte(v, '=') >= 0 {
		n := 0
		for rest := v; rest != "" && n < 8; n++ {
			var pair string
			pair, rest, _ = strings.Cut(rest, ";")
			if _, val, ok := strings.Cut(pair, "="); ok {
				span(val)
			}
		}
	}
	return out
}

// appendBase64Alphabet appends to dst the bytes of s that are in the
// standard base64 alphabet, and, with mapURL, '-' and '_' as '+' and '/'
// (what a decoder that skips the rest decodes).
func appendBase64Alphabet(dst []byte, s string, mapURL bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '-' && mapURL:
			dst = append(dst, '+')
		case c == '_' && mapURL:
			dst = append(dst, '/')
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/':
			dst = append(dst, c)
		}
	}
	return dst
}

// appendAfterHexMAC appends what p decodes to after a hex MAC it starts
// with (32, 40 or 64 lower-case hex digits: MD5, SHA-1, SHA-256) when
// that is text (base64Text): Beaker's cookie sessions are the HMAC's
// hex digest followed, with no separator, by the base64 of the session
// pickled. cut is set when zlib data there did not inflate whole.
func appendAfterHexMAC(dst []string, p string, inflate bool, budget *int, cut *bool) []string {
	hex := 0
	for hex < len(p) && hex < 64 && ('0' <= p[hex] && p[hex] <= '9' || 'a' <= p[hex] && p[hex] <= 'f') {
		hex++
	}
	for _, n := range [...]int{32, 40, 64} {
		if n > hex || len(p)-n < minBase64Part {
			break
		}
		dst = appendBase64Text(dst, p[n:], inflate, budget, cut)
	}
	return dst
}

// base64PartEnd reports whether c ends a base64 part of a run: '.', ':'
// and '|' (between a token's or a cookie's parts), '=' (padding, or a
// name's end) and the escape bytes.
func base64PartEnd(c byte) bool {
	return c == '.' || c == ':' || c == '|' || c == '=' || c == '%' || c == '\\'
}

// base64Text returns what p decodes to as base64 (see appendBase64Texts),
// inflated when it is zlib data and inflate (within *budget, which it
// takes what it inflated from), and whether that is text worth scanning;
// cut says zlib data did not inflate whole within *budget or
// maxBase64Text.
func base64Text(p string, inflate bool, budget *int) (_ string, ok, cut bool) {
	if len(p)%4 == 1 || base64.RawStdEncoding.DecodedLen(len(p)) > maxBase64Text {
		return "", false, false
	}
	// The first three bytes tell most strings apart: a random token's
	// decode to a byte of 0x80 or more 7 times in 8; text starts with
	// ASCII (SASL's PLAIN and OAUTHBEARER messages with control bytes),
	// zlib data with 0x78. (The first four characters pick the alphabet
	// for them; the whole part's decides below.)
	if !base64TextHead(unsafe.Slice(unsafe.StringData(p), 4), strings.ContainsAny(p[:4], "-_")) {
		return "", false, false
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(p, "-_") {
		if strings.ContainsAny(p, "+/") {
			return "", false, false
		}
		enc = base64.RawURLEncoding
	}
	var stack [512]byte
	var buf []byte
	if n := enc.DecodedLen(len(p)); n > len(stack) {
		buf = make([]byte, n)
	} else {
		buf = stack[:n]
	}
	n, err := enc.Decode(buf, unsafe.Slice(unsafe.StringData(p), len(p))) // read only
	if err != nil {
		return "", false, false
	}
	b := buf[:n]
	if inflate && len(b) > 2 && b[0] == 0x78 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0 { // a zlib header
		zr, err := zlib.NewReader(bytes.NewReader(b))
		if err != nil {
			return "", false, false
		}
		out, err, cut := inflateWithin(zr, budget)
		if cut {
			return "", false, true // more than may be read: the token may be past it
		}
		if err != nil && len(out) == 0 {
			return "", false, false
		}
		b = out
	}
	if !isScannableText(b) {
		return "", false, false
	}
	return string(b), true, false
}

// appendBase64Text appends what p decodes to (base64Text) to dst when it
// reads as text, and sets *cut when base64Text was cut.
func appendBase64Text(dst []string, p string, inflate bool, budget *int, cut *bool) []string {
	t, ok, c := base64Text(p, inflate, budget)
	if ok {
		dst = append(dst, t)
	}
	*cut = *cut || c
	return dst
}

// appendAlphabetText appends what the base64 characters of p decode to
// (appendBase64Text; '-' and '_' read as '+' and '/' when mapURL, as
// appendBase64Alphabet gathers them), when there are at least
// minBase64Part of them; short says there were fewer.
func appendAlphabetText(dst []string, p string, mapURL, inflate bool, budget *int, cut *bool) (_ []string, short bool) {
	var stack [256]byte
	b := appendBase64Alphabet(stack[:0], p, mapURL)
	if len(b) < minBase64Part {
		return dst, true
	}
	return appendBase64Text(dst, unsafe.String(unsafe.SliceData(b), len(b)), inflate, budget, cut), false // read during the call only
}

// base64TextHead reports whether the first four characters of a base64
// part, q, decode (in enc) to what text or zlib data starts with (see
// base64Text).
func base64TextHead(q []byte, url bool) bool {
	table := &base64Std
	if url {
		table = &base64URL
	}
	v0, v1, v2, v3 := table[q[0]], table[q[1]], table[q[2]], table[q[3]]
	if (v0|v1|v2|v3)&0x80 != 0 {
		return false
	}
	b0, b1, b2 := v0<<2|v1>>4, v1<<4|v2>>2, v2<<6|v3
	return b0|b1|b2 < utf8.RuneSelf || b0 == 0x78 || serializationHead(b0, b1)
}

// serializationHead reports whether b0 and b1 start a binary
// serialization that keeps strings whole, whose first byte is 0x80 or
// more: a pickle of protocol 2 to 5 (PROTO, Beaker's and Django's old
// sessions), a MessagePack map whose first key is a string (Rails 7.1's
// message_pack cookies), a CBOR map whose first key is a text string, a
// Java serialization stream. What it decodes to is then scanned as any
// decoded text is: the byte next to a string is framing (appendRuns).
func serializationHead(b0, b1 byte) bool {
	switch {
	case b0 == 0xac && b1 == 0xed: // Java's STREAM_MAGIC
		return true
	case b0 == 0x80:
		return 2 <= b1 && b1 <= 5
	case 0x81 <= b0 && b0 <= 0x8f: // a MessagePack fixmap
		return b1&0xe0 == 0xa0 || b1 == 0xd9
	case 0xa1 <= b0 && b0 <= 0xb7: // a CBOR map
		return 0x60 <= b1 && b1 <= 0x78
	}
	return false
}

// base64Std and base64URL are each character's 6 bits in the standard and
// URL-safe base64 alphabets, 0xFF for the others.
var base64Std, base64URL = base64Table("+/"), base64Table("-_")

func base64Table(last2 string) (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" + last2 {
		t[c] = byte(i)
	}
	return t
}

// inflateWithin reads what zr inflates to, at most maxBase64Text bytes
// and what *budget has left, which it takes them from; cut says there was
// more.
func inflateWithin(zr io.Reader, budget *int) (_ []byte, err error, cut bool) {
	limit := min(*budget, maxBase64Text)
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if len(out) > limit {
		return nil, nil, true
	}
	*budget -= len(out)
	return out, err, false
}

// isScannableText reports whether b holds a run of MinCandidateLength
// token bytes (random bytes almost never do: a token byte is one in four).
func isScannableText(b []byte) bool {
	run := 0
	for _, c := range b {
		if !tokenBytes[c] {
			run = 0
		} else if run++; run >= MinCandidateLength {
			return true
		}
	}
	return false
}

// base64Alphabet are the bytes of either base64 alphabet.
var base64Alphabet = func() (t [256]bool) {
	for c := range 256 {
		t[c] = base64Std[c] != 0xFF || base64URL[c] != 0xFF
	}
	return t
}()

// hasLineBreak reports whether s holds a '\n' or a '\r'.
func hasLineBreak(s string) bool {
	return strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0
}

// appendLineBase64Texts appends to dst what the spans of s that are base64
// broken into lines decode to, as appendBase64Texts decodes a part: MIME,
// PEM and most encoders write base64 in lines (Python's encodebytes,
// Java's MIME encoder, openssl, Ruby's encode64), and every decoder an
// application calls skips the line breaks (Go's base64.StdEncoding, under
// encoding/json's []byte fields too, skips '\r' and '\n'; Python's
// b64decode and Node's Buffer.from all white space), so a token is whole
// to them while each line, a run of the scan, is a piece of it. A span:
// two or more lines of base64 characters (either alphabet; not '=', which
// ends base64 and is left out of what is decoded anyway, nor a form's
// "name="), each line break between them with spaces and tabs around it
// (indentation, a folded line), and minBase64Part base64 characters in
// all; decoded without its white space (and with '-' and '_' as '+' and
// '/', when it holds them, as Node reads them). A line that holds a space
// between base64 characters ends a span there: prose is read a word
// beside each line break, not sentence by sentence. cut is set when zlib
// data there did not inflate whole within *budget.
func appendLineBase64Texts(dst []string, s string, inflate bool, budget *int) (_ []string, cut bool) {
	done := 0 // s[:done] is read
	for done < len(s) {
		k := len(s)
		if i := strings.IndexByte(s[done:], '\n'); i >= 0 {
			k = done + i
		}
		if i := strings.IndexByte(s[done:k], '\r'); i >= 0 {
			k = done + i
		}
		if k == len(s) {
			break
		}
		// The first line: the base64 characters before the line break
		// (and the spaces and tabs that end the line).
		start := k
		for start > done && (s[start-1] == ' ' || s[start-1] == '\t') {
			start--
		}
		first := start
		for start > done && base64Alphabet[s[start-1]] {
			start--
		}
		lines, n := 0, first-start
		end := first
		if n > 0 {
			lines = 1
		}
		// The lines after it, each after a line break with the spaces
		// and tabs around it.
		for i := first; ; {
			j, breaks := i, false
			for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n') {
				breaks = breaks || s[j] == '\r' || s[j] == '\n'
				j++
			}
			if !breaks {
				break
			}
			e := j
			for e < len(s) && base64Alphabet[s[e]] {
				e++
			}
			if e == j {
				break
			}
			lines++
			n += e - j
			end, i = e, e
		}
		done = max(end, k+1)
		if lines < 2 || n < minBase64Part {
			continue
		}
		span := s[start:end]
		url := strings.ContainsAny(span, "-_")
		for _, mapURL := range [2]bool{false, true} {
			if mapURL && !url {
				break
			}
			var short bool
			if dst, short = appendAlphabetText(dst, span, mapURL, inflate, budget, &cut); short {
				break
			}
		}
	}
	return dst, cut
}
