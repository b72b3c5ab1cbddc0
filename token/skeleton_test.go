package token

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSkeleton: the spellings PostgreSQL's ICU "und-u-ks-level1" finds
// "abcdefghijklmnop" with have that skeleton (in lower case); those it
// does not find have another; ASCII without controls is its own.
func TestSkeleton(t *testing.T) {
	const want = "abcdefghijklmnop"
	same := []string{
		"ABCDEFGHIJKLMNOP", "ábcdefghijklmnop", "abc\u200bdefghijklmnop", "ａｂｃdefghijklmnop",
		"abc\u00addefghijklmnop", "abcdefghijklmnop\u0301",
		"abcdefghijKlmnop", "abcdefghijklmnøp", "abcdefghijklmnop\ufe0f", "𝐚bcdefghijklmnop",
		"ⓐbcdefghijklmnop", "abcdefghijklmnop\x01", "abcdefghijklmnop\x7f", "abcdefghijklmnoᵖ",
		"abcdefghijklmñop", "abcdefghijklmnoℙ", "abcdefghijklmnop\u200c", "abcdefghijklmnop\u200b\u2060",
		"abcdefghijklmnop\ufeff", "abcdefgh\u05bcijklmnop", "abcdefghijklmnoｐ",
		"abcdefgh\u0133klmnop", // the ligature "ĳ"
		"\xe1bcdefghijklmnop",  // not UTF-8: ISO-8859-1 "á"
		// ICU's root collation, not NFKD (collationTable): the tatweel, a
		// spacing mark ignored; squared, negative
		// circled and stroked letters, two letters in one.
		"abc\u0640defghijklmnop", "abc\u0903defghijklmnop",
		"abcdefghij\U0001F17Almnop", "abcdefghij\U0001F15Almnop", "abcdefghij\ua7a3lmnop",
		"abc\u00f0efghijklmnop", "abcdefghijk\u0140mnop",
	}
	for _, s := range same {
		if got, _ := Skeleton(s); strings.ToLower(got) != want {
			t.Errorf("Skeleton(%q) = %q, want %q in some case", s, got, want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"stra\u00dfe", "strasse"}, {"\u00e6on", "aeon"}, {"\u0153uvre", "oeuvre"}, {"\u0111\u0142\u0127\u0167", "dlht"},
		{"\u0131d", "id"}, {"\u0130D", "ID"}, {"\u212a", "K"}, {"\u017f", "s"}, {"\ufb03", "ffi"},
		{"\u0661\u0662\u0663\u0660", "1230"}, {"\u0966\u096f", "09"}, {"\u00b9\u00b2\u00b3", "123"}, {"\u2460", "1"},
		{"caf\xe9", "cafe"}, {"a\x00b\x1fc\x08d", "abcd"}, {"a\tb\nc\rd", "a\tb\nc\rd"}, {"a\u0085b", "ab"},
		{"\u00a0", " "}, {"\u33c2", "a.m."}, {"\u01ff", "o"}, {"\uac00", "\uac00"},
		{"rev\U0001F197ed", "revoked"}, {"\u24ff\u3007", "00"}, {"\U0001F17A", "k"}, {"\ua733", "aa"}, {"R\u0364voked", "Revoked"},
		{"\u24fe\u3248", "1010"}, {"\U0001F195", "new"}, {"\U0001F1A0", "5.1"}, {"\u2793", "10"},
		// Left as they are: other letters, other scripts, spaces.
		{"\u00fe", "\u00fe"}, {"\u043d", "\u043d"}, {"\u3000", " "}, {"a b", "a b"},
	} {
		if got, _ := Skeleton(c.in); got != c.want {
			t.Errorf("Skeleton(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, s := range []string{"abcdefghijklmno\u00fe", "abcdefg\u043dijklmnop", "abcdefghijklmnop ", "abcdefghijklmnop\t"} {
		if got, _ := Skeleton(s); strings.ToLower(got) == want {
			t.Errorf("Skeleton(%q) = %q, another string's skeleton", s, got)
		}
	}
	for _, s := range []string{"", "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r", "a b\tc\r\n", "~!@#$%^&*()_+{}|:\"<>?"} {
		if got, changed := Skeleton(s); changed || got != s || NeedsSkeleton(s) {
			t.Errorf("Skeleton(%q) = %q, %v (NeedsSkeleton %v): want itself, unchanged", s, got, changed, NeedsSkeleton(s))
		}
	}
}

// TestNeedsSkeletonIsTheByteLoop: NeedsSkeleton, eight bytes a step,
// finds every byte its table names at every place, beside fillers that
// make a step's subtractions borrow or not.
func TestNeedsSkeletonIsTheByteLoop(t *testing.T) {
	for _, filler := range []string{"a", " ", "!", "~", "\x1f", "\n", "\xc3"} {
		eachByteAtEachPlace(filler, func(b []byte, c byte) {
			want := skeletonBytes[c]&1 != 0 || len(b) > 1 && skeletonBytes[filler[0]]&1 != 0
			if got := NeedsSkeleton(string(b)); got != want {
				t.Fatalf("NeedsSkeleton(%q) = %v, want %v", b, got, want)
			}
			// skeletonAndLineBreak makes the same pass, and finds the
			// line breaks beside.
			lb := c == '\n' || c == '\r' || len(b) > 1 && (filler[0] == '\n' || filler[0] == '\r')
			if sk, l := skeletonAndLineBreak(string(b)); sk != want || l != lb {
				t.Fatalf("skeletonAndLineBreak(%q) = %v, %v, want %v, %v", b, sk, l, want, lb)
			}
		})
	}
}

// FuzzSkeleton: a skeleton is its own skeleton, valid UTF-8 when changed;
// a string NeedsSkeleton passes over is its own; and an ASCII token with
// ignorable characters put into it and a letter given an accent has the
// token as its skeleton.
func FuzzSkeleton(f *testing.F) {
	f.Add("r\u00e9voked\u200b", 3)
	f.Add("caf\xe9", 0)
	f.Add("\u33c2\u0130\ufb03", 1)
	f.Fuzz(func(t *testing.T, s string, at int) {
		sk, changed := Skeleton(s)
		if !NeedsSkeleton(s) && (changed || sk != s) {
			t.Fatalf("Skeleton(%q) = %q, %v; NeedsSkeleton says it has nothing to change", s, sk, changed)
		}
		if changed && !utf8.ValidString(sk) {
			t.Fatalf("Skeleton(%q) = %q: not UTF-8", s, sk)
		}
		if again, ch := Skeleton(sk); ch || again != sk {
			t.Fatalf("Skeleton(%q) = %q, whose skeleton is %q", s, sk, again)
		}
		var tok strings.Builder
		for i := 0; i < len(s); i++ {
			if tokenBytes[s[i]] {
				tok.WriteByte(s[i])
			}
		}
		plain := tok.String()
		if plain == "" {
			return
		}
		at = (at%len(plain) + len(plain)) % len(plain)
		spelled := plain[:at] + "\u200b\x01" + string(rune(plain[at])+0xFF01-'!') /* fullwidth */ + "\u0301" + plain[at+1:]
		if got, _ := Skeleton(spelled); got != plain {
			t.Fatalf("Skeleton(%q) = %q, want %q", spelled, got, plain)
		}
	})
}
