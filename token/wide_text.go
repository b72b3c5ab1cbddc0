package token

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
)

// Python's json.loads and XML parsers (expat, Java's) detect a document
// in UTF-16 or UTF-32 from its first bytes, whatever the Content-Type
// says: a byte order mark, or zero bytes where ASCII's '{', '[', '<' or
// white space would be. A token in such a body is no run of its bytes.

// wideLayout is how a UTF-16 or UTF-32 text lays out its code units.
type wideLayout struct {
	unit      int  // 2 or 4 bytes
	bigEndian bool // most significant byte first
	bom       int  // bytes of byte order mark to skip
}

// wideEncoding reports whether b starts as UTF-16 or UTF-32 text does,
// and how (see wideText).
func wideEncoding(b []byte) (wideLayout, bool) {
	switch {
	case bytes.HasPrefix(b, []byte("\x00\x00\xfe\xff")):
		return wideLayout{4, true, 4}, true
	case bytes.HasPrefix(b, []byte("\xff\xfe\x00\x00")):
		return wideLayout{4, false, 4}, true
	case bytes.HasPrefix(b, []byte("\xfe\xff")):
		return wideLayout{2, true, 2}, true
	case bytes.HasPrefix(b, []byte("\xff\xfe")):
		return wideLayout{2, false, 2}, true
	case len(b) >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] != 0:
		return wideLayout{4, true, 0}, true
	case len(b) >= 4 && b[0] != 0 && b[1] == 0 && b[2] == 0 && b[3] == 0:
		return wideLayout{4, false, 0}, true
	case len(b) >= 2 && b[0] == 0:
		return wideLayout{2, true, 0}, true
	case len(b) >= 2 && b[1] == 0:
		return wideLayout{2, false, 0}, true
	}
	return wideLayout{}, false
}

// wideText returns b decoded from UTF-16 or UTF-32 to UTF-8 when it starts
// as such text does (wideEncoding); an invalid code unit becomes U+FFFD.
func wideText(b []byte) (string, bool) {
	l, ok := wideEncoding(b)
	if !ok {
		return "", false
	}
	b = b[l.bom:]
	out := make([]byte, 0, len(b)/l.unit+8)
	order := binary.ByteOrder(binary.LittleEndian)
	if l.bigEndian {
		order = binary.BigEndian
	}
	for i := 0; i+l.unit <= len(b); i += l.unit {
		var r rune
		if l.unit == 4 {
			r = rune(order.Uint32(b[i:]))
		} else {
			r = rune(order.Uint16(b[i:]))
			if utf16.IsSurrogate(r) && i+4 <= len(b) {
				if d := utf16.DecodeRune(r, rune(order.Uint16(b[i+2:]))); d != utf8.RuneError {
					r = d
					i += 2
				}
			}
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out), true
}
