package token

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
)

// mayHoldName reports whether some member name of a JSON body could be
// want (a NormalizeName result) to a lenient reader: nameMatches, or
// encoding/json's case folding. It is false only when body
//
//   - has no byte of 0x80 or more (Unicode case folding: "acceſſ_token"),
//     no NUL (UTF-16 and UTF-32, detected by Python's json.loads),
//     no '%' (a percent-decoded name) and no backslash but in the escapes
//     \" \\ \/ \b \f \n \r \t, which decode to no letter or digit (the
//     others, "\u0061", JSON5's "\x61", "\a" and a line continuation,
//     spell a name's letters otherwise); and
//   - lacks, in every ASCII case, one of want's '_'-free segments, all of
//     which every spelling of want holds as they are (normalizing maps only '.',
//     ' ', '[' and '+' to '_', and drops what follows a NUL or a '[').
//
// A JSON body that cannot hold the name has nothing to read by name: it
// need not be walked (nor held to be exactly one value, since every
// token-shaped string in it is checked by the whole-request scan).
func mayHoldName(body []byte, want string) bool {
	if want == "" {
		return false
	}
	if !plainASCIIEscapes(body) {
		return true
	}
	// Every segment must be there: look for the rarest first.
	var segs [8]string
	n := 0
	for seg := range strings.SplitSeq(want, "_") {
		if n == len(segs) {
			return true // a name of many parts: walk
		}
		segs[n] = seg
		n++
	}
	slices.SortFunc(segs[:n], func(a, b string) int { return rarity(b[rarestByte(b):]) - rarity(a[rarestByte(a):]) })
	for _, seg := range segs[:n] {
		if !containsFold(body, seg, rarestByte(seg)) {
			return false
		}
	}
	return true
}

// plainASCIIEscapes reports whether b has no byte of 0x80 or more, no NUL
// (a UTF-16 or UTF-32 body, which Python's json.loads reads whatever the
// charset says), no '%' and no backslash that does not begin one of the escapes \" \\ \/ \b
// \f \n \r \t (a pair of backslashes is one escape). The high bits are
// ORed 32 bytes a step (highBits); '%' and backslashes are found by
// bytes.IndexByte.
// (A word-at-a-time search for all three measured no faster.)
func plainASCIIEscapes(b []byte) bool {
	acc := highBits(b)
	for i := len(b) &^ 31; i < len(b); i++ {
		acc |= uint64(b[i])
	}
	if acc&0x8080808080808080 != 0 || bytes.IndexByte(b, '%') >= 0 || bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	for i := 0; ; i += 2 {
		j := bytes.IndexByte(b[i:], '\\')
		if j < 0 {
			return true
		}
		if i += j; !safeEscape(b, i) {
			return false
		}
	}
}

// highBits ORs the 8-byte words of b's first len(b)&^31 bytes, four
// independent words a step: one bounds check a step rather than four, and
// no chain of ORs a step long (binary.LittleEndian.Uint64 is one unaligned
// load where the CPU has them, bytes elsewhere).
func highBits(b []byte) uint64 {
	var a0, a1, a2, a3 uint64
	for len(b) >= 32 {
		w := b[:32:32]
		a0 |= binary.LittleEndian.Uint64(w[0:8])
		a1 |= binary.LittleEndian.Uint64(w[8:16])
		a2 |= binary.LittleEndian.Uint64(w[16:24])
		a3 |= binary.LittleEndian.Uint64(w[24:32])
		b = b[32:]
	}
	return a0 | a1 | a2 | a3
}

// safeEscape reports whether the backslash at b[i] starts an escape that
// decodes to no letter or digit in any reader.
func safeEscape(b []byte, i int) bool {
	if i+1 >= len(b) {
		return false
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return true
	}
	return false
}

// letterRarity orders the bytes a name is made of from the most common in
// JSON bodies (English words, digits of numbers and ids) to the rarest:
// a byte earlier in the string is more common.
const letterRarity = "0123456789etaoinsrhdlcumfpgwybv-kxjqz"

// rarestByte returns the index in seg of its rarest byte (letterRarity;
// one not in it counts as rarest).
func rarestByte(seg string) (at int) {
	best := -1
	for i := 0; i < len(seg); i++ {
		if r := rarity(seg[i:]); r > best {
			best, at = r, i
		}
	}
	return at
}

// rarity ranks s's first byte by letterRarity (higher: rarer); "" ranks
// lowest.
func rarity(s string) int {
	if s == "" {
		return -1
	}
	if r := strings.IndexByte(letterRarity, s[0]); r >= 0 {
		return r
	}
	return len(letterRarity)
}

// containsFold reports whether body holds seg in any ASCII case, looking
// for seg[at] (in both cases) and comparing around each one found.
func containsFold(body []byte, seg string, at int) bool {
	if seg == "" {
		return true // a name of '_' alone: anything may spell it
	}
	c := seg[at]
	for _, x := range [2]byte{lowerASCII(c), upperASCII(c)} {
		for i := 0; ; {
			j := bytes.IndexByte(body[i:], x)
			if j < 0 {
				break
			}
			p := i + j
			if start := p - at; start >= 0 && start+len(seg) <= len(body) && equalFoldASCII(body[start:start+len(seg)], seg) {
				return true
			}
			i = p + 1
		}
		if lowerASCII(c) == upperASCII(c) {
			break
		}
	}
	return false
}

// equalFoldASCII reports whether b is s in some ASCII case.
func equalFoldASCII(b []byte, s string) bool {
	for i := range len(s) {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
