package token

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// referenceWords splits v, a byte at a time, where an upstream splitting
// its Latin-1 text on whitespace and Rails' commas and semicolons would:
// space, tab, ',', ';', 0x85 and 0xA0 (Python's str.split(); 0xA0 is a
// JavaScript \s too). Empty words are left out, as strings.Fields does.
func referenceWords(v string) []string {
	var words []string
	start := 0
	for i := 0; i <= len(v); i++ {
		if i == len(v) || strings.IndexByte(" \t,;\x85\xa0", v[i]) >= 0 {
			if i > start {
				words = append(words, v[start:i])
			}
			start = i + 1
		}
	}
	return words
}

// FuzzAuthorizationFindsEveryWord holds the word splitter (wordEnds) equal
// to referenceWords, and checks that Extract
// finds every such word of every Authorization value that is not a scheme
// name, as an upstream splitting the value would read it.
func FuzzAuthorizationFindsEveryWord(f *testing.F) {
	for _, s := range []string{"Bearer T", "Bearer  T", "Bearer\tT", "Bearer T;x=y", "Bearer a,Bearer b", ";;", "T,", " T ",
		"Token token=\"T\"", "Basic VDBrM24tdmFsdWU6", "Bearer é\tT,", "a\tb c,d;e", "\xff\t\xfe",
		"Bearer\xa0T", "Bearer\x85T", "Bearer T\xa0", "Bearer\u00a0T"} {
		f.Add(s, "Bearer X")
	}
	f.Fuzz(func(t *testing.T, v, v2 string) {
		var words []string
		w := newWordEnds(v)
		for word, ok := w.word(); ok; word, ok = w.word() {
			if word != "" {
				words = append(words, word)
			}
		}
		if want := referenceWords(v); !slices.Equal(words, want) {
			t.Fatalf("%q: words %q, want %q", v, words, want)
		}
		r := &http.Request{URL: &url.URL{Path: "/"}, Header: http.Header{"Authorization": {v, v2}}}
		s := lenientSources()
		got, err := s.Extract(r, nil)
		if err != nil {
			return // refused (too many, too large)
		}
		for _, word := range words {
			if strings.EqualFold(word, "Basic") || isScheme(word, s.Schemes) {
				continue
			}
			if !slices.ContainsFunc(got, func(x Found) bool { return x.Raw == word }) {
				t.Fatalf("Authorization %q: the word %q not found in %v", v, word, got)
			}
		}
	})
}

// TestAllTokenBytesIsTheByteLoop: eight bytes a branch, the same answer as
// looking at each byte, for every byte at every place of strings of 0 to
// 19 bytes.
func TestAllTokenBytesIsTheByteLoop(t *testing.T) {
	eachByteAtEachPlace("a", func(b []byte, c byte) {
		if got, want := allTokenBytes(string(b)), tokenBytes[c]; got != want {
			t.Fatalf("%q: %v, want %v", b, got, want)
		}
	})
	if !allTokenBytes("") {
		t.Fatal(`"": false, want true`)
	}
}

// eachByteAtEachPlace calls fn with every string of 1 to 39 bytes of
// filler but one byte c, for every c at every place: what a function that
// reads eight or 32 bytes a step must agree on with a byte loop.
func eachByteAtEachPlace(filler string, fn func(b []byte, c byte)) {
	for n := 1; n < 40; n++ {
		for at := 0; at < n; at++ {
			b := []byte(strings.Repeat(filler, n))[:n]
			for c := 0; c < 256; c++ {
				b[at] = byte(c)
				fn(b, byte(c))
			}
		}
	}
}
