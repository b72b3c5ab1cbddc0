package token

import (
	"encoding/binary"
	"slices"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/text/unicode/norm"
)

// Tokens are ASCII, but an upstream does not always compare what it reads
// byte for byte. A database collation that compares at the primary level
// (MySQL 8's default utf8mb4_0900_ai_ci, SQL Server's accent-insensitive
// ones, PostgreSQL with ICU's "und-u-ks-level1") finds the user of token
// "revoked" when it is sent as "révoked", "ｒevoked", "rev\u200boked" or
// "rev\x01oked"; Unicode case folding (Go's strings.EqualFold, Java's
// equalsIgnoreCase) and NFKC normalization take a few more characters for
// ASCII letters. A string's skeleton is what is left of it when every
// such character is replaced by the ASCII it stands for, and every
// character such a comparison ignores is removed: a check looks up the
// skeleton of what it reads (in lower case: engine.Keys.Folded), so a
// revoked token is found in every spelling these comparisons take for it.

// NeedsSkeleton reports whether s has a byte Skeleton may change: one of
// 0x80 or more (a character outside ASCII, or a byte that is not UTF-8)
// or an ASCII control character other than the white space \t, \n, \v,
// \f and \r (which comparisons do not ignore). Nearly every string a
// request carries has none: then its skeleton is itself.
func NeedsSkeleton(s string) bool {
	for len(s) >= 32 {
		b := unsafe.Slice(unsafe.StringData(s), 32)
		if flagged(binary.LittleEndian.Uint64(b))|flagged(binary.LittleEndian.Uint64(b[8:]))|
			flagged(binary.LittleEndian.Uint64(b[16:]))|flagged(binary.LittleEndian.Uint64(b[24:])) != 0 &&
			needsSkeletonBytes(s[:32]) {
			return true
		}
		s = s[32:]
	}
	return needsSkeletonBytes(s)
}

// flagged has the high bit of each byte of w that may be one NeedsSkeleton
// looks for set: one of 0x80 or more, below 0x20 or 0x7f, and some next to
// those (a subtraction's borrow): what it flags, the table then decides.
func flagged(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	return (w | (w - 0x20*ones) | ((w ^ 0x7f*ones) - ones)) & highs
}

// needsSkeletonBytes is NeedsSkeleton a byte at a time.
func needsSkeletonBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if skeletonBytes[s[i]]&1 != 0 {
			return true
		}
	}
	return false
}

// skeletonBytes are the bytes NeedsSkeleton looks for (1), and the line
// breaks skeletonAndLineBreak looks for too (2; 0: the others).
var skeletonBytes = func() (t [256]uint8) {
	for c := range 256 {
		if c >= utf8.RuneSelf || ignoredASCII(byte(c)) {
			t[c] = 1
		}
	}
	t['\n'], t['\r'] = 2, 2
	return t
}()

// ignoredASCII reports whether c is an ASCII control character that a
// comparison at the primary level ignores: all but the white space
// characters \t, \n, \v, \f and \r (Unicode's collation gives the C0
// controls and DEL no weight).
func ignoredASCII(c byte) bool {
	return c < 0x20 && (c < '\t' || c > '\r') || c == 0x7f
}

// Skeleton returns the skeleton of s, and whether it differs from s. Each
// character of s is, in turn:
//
//   - an ASCII character: kept, in its case, but the controls ignoredASCII
//     names, which are removed;
//   - a character no comparison gives a weight of its own: a combining or
//     enclosing mark (an accent: "e\u0301"), a format character (zero-width
//     spaces and joiners, the soft hyphen, the byte order mark), a control
//     character, a variation selector or another default-ignorable code
//     point: removed;
//   - a letter written with a stroke or as a ligature that collations
//     compare as ASCII ("ø", "đ", "ł", "ħ", "ŧ", "ß", "æ", "œ") or that a
//     Unicode case mapping takes for one (the dotless "ı"): that ASCII;
//   - a character ICU's root collation takes, at the primary level, for
//     ASCII ("🆗" for "ok", "ð" for "d", "⓿" for "0") or ignores (the
//     tatweel, a spacing mark): that ASCII, or removed (collationTable,
//     made by scripts/collation-table.js);
//   - a decimal digit of any script ("١"): its ASCII digit;
//   - any other character: its compatibility decomposition (NFKD: a
//     fullwidth, mathematical, circled or superscript form, a ligature, a
//     letter with its accents apart, the Kelvin sign) with each character
//     of it taken as above. What is left outside ASCII stays as it is.
//
// A byte that is not UTF-8 is read as the ISO-8859-1 character it is (a
// body in that charset is read: token.BodyKindOf), "\xe9" as "é". The
// skeleton is no token's unless s stands for one: it is never used but to
// look a string up, and a string is rejected only when its skeleton, in
// lower case, is a revoked token's. (It is rarely longer than s: a few
// compatibility characters stand for more ASCII bytes than they take,
// "\u33c2" for "a.m.".)
func Skeleton(s string) (string, bool) {
	if !NeedsSkeleton(s) {
		return s, false
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !ignoredASCII(c) {
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			r = rune(c) // ISO-8859-1
		}
		i += size
		b = appendSkeletonRune(b, r, true)
	}
	if string(b) == s {
		return s, false
	}
	return string(b), true
}

// appendSkeletonRune appends the skeleton of the character r outside
// ASCII (see Skeleton); decompose says whether a character of none of the
// other kinds is decomposed (false: it is kept, as for what a
// decomposition yields).
func appendSkeletonRune(b []byte, r rune, decompose bool) []byte {
	switch {
	case r < utf8.RuneSelf:
		if !ignoredASCII(byte(r)) {
			b = append(b, byte(r))
		}
		return b
	}
	if a, ok := collationASCII(r); ok { // first: a combining letter "ͤ" is "e", not ignored
		return appendInCaseOf(b, a, r)
	}
	if ignoredRune(r) {
		return b
	}
	if a, ok := asciiLetters[r]; ok {
		return append(b, a...)
	}
	if d, ok := digitValue(r); ok {
		return append(b, '0'+d)
	}
	if !decompose {
		return utf8.AppendRune(b, r)
	}
	var one [utf8.UTFMax]byte
	dec := norm.NFKD.Properties(one[:utf8.EncodeRune(one[:], r)]).Decomposition() // the table's: no allocation
	if dec == nil {
		return utf8.AppendRune(b, r)
	}
	for len(dec) > 0 {
		d, size := utf8.DecodeRune(dec)
		dec = dec[size:]
		b = appendSkeletonRune(b, d, false)
	}
	return b
}

// ignoredRune reports whether a comparison at the primary level gives r
// no weight of its own: a mark, a format or control character, a
// variation selector, another default-ignorable code point.
func ignoredRune(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Cc,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// collationEntry is a code point and the ASCII ICU's root collation takes
// it for at the primary level ("" when it ignores it).
type collationEntry struct {
	r     rune
	ascii string
}

// collationASCII returns the ASCII ICU's root collation takes r for at the
// primary level (collationTable: a squared "🆗" for "ok", the tatweel and
// spacing marks ignored, "⓿" and "〇" for "0", "ð" for "d"), and whether
// it has r.
func collationASCII(r rune) (string, bool) {
	i, ok := slices.BinarySearchFunc(collationTable[:], r, func(e collationEntry, r rune) int { return int(e.r - r) })
	if !ok {
		return "", false
	}
	return collationTable[i].ascii, true
}

// appendInCaseOf appends a (lower-case ASCII) in the case of r: upper for
// an upper-case letter, its first letter upper for a title-case one.
func appendInCaseOf(b []byte, a string, r rune) []byte {
	for i := 0; i < len(a); i++ {
		c := a[i]
		if 'a' <= c && c <= 'z' && (unicode.IsUpper(r) || i == 0 && unicode.IsTitle(r)) {
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// asciiLetters are the letters that do not decompose but that collations
// (Unicode's default table: a stroke is a secondary difference, "ß" is
// "ss") or case mappings (Java's equalsIgnoreCase takes "ı" for "i")
// compare as ASCII.
var asciiLetters = map[rune]string{
	'ø': "o", 'Ø': "O", 'đ': "d", 'Đ': "D", 'ł': "l", 'Ł': "L",
	'ħ': "h", 'Ħ': "H", 'ŧ': "t", 'Ŧ': "T", 'ı': "i",
	'ß': "ss", 'ẞ': "SS", 'æ': "ae", 'Æ': "AE", 'œ': "oe", 'Œ': "OE",
}

// digitValue returns the value of r when it is a decimal digit (Unicode
// encodes each script's digits 0 to 9 in a row, so r's value is how many
// digits precede it in its row, modulo 10).
func digitValue(r rune) (byte, bool) {
	if !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	n := 0
	for n < 100 && unicode.Is(unicode.Nd, r-rune(n)-1) {
		n++
	}
	return byte(n % 10), true
}

// skeletonAndLineBreak reports what NeedsSkeleton reports of s, and
// whether s holds a '\n' or a '\r' (base64 in lines may be in it:
// appendLineBase64Texts), in the pass NeedsSkeleton makes: both are
// bytes below 0x20, which it flags a word at a time, so an ASCII text
// without control characters costs what NeedsSkeleton costs.
func skeletonAndLineBreak(s string) (skeleton, lineBreak bool) {
	for len(s) >= 32 {
		b := unsafe.Slice(unsafe.StringData(s), 32)
		if flagged(binary.LittleEndian.Uint64(b))|flagged(binary.LittleEndian.Uint64(b[8:]))|
			flagged(binary.LittleEndian.Uint64(b[16:]))|flagged(binary.LittleEndian.Uint64(b[24:])) != 0 {
			sk, lb := skeletonAndLineBreakBytes(s[:32])
			if sk {
				// Most such texts are binary (decoded base64): the
				// rest is looked through for line breaks alone.
				return true, lineBreak || lb || hasLineBreak(s[32:])
			}
			lineBreak = lineBreak || lb
		}
		s = s[32:]
	}
	sk, lb := skeletonAndLineBreakBytes(s)
	return sk, lineBreak || lb
}

// skeletonAndLineBreakBytes is skeletonAndLineBreak a byte at a time.
func skeletonAndLineBreakBytes(s string) (skeleton, lineBreak bool) {
	var f uint8
	for i := 0; i < len(s); i++ {
		f |= skeletonBytes[s[i]]
	}
	return f&1 != 0, f&2 != 0
}
