package token

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// isWordDelim is the reference for where an Authorization value's words
// end: Rails splits on commas, semicolons and whitespace, Node code on a
// space.
func isWordDelim(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == ';' }

// FuzzAuthorizationFindsEveryWord holds the word splitter (wordEnds) equal
// to strings.FieldsFunc over the same four bytes, and checks that Extract
// finds every such word of every Authorization value that is not a scheme
// name, as an upstream splitting the value would read it.
func FuzzAuthorizationFindsEveryWord(f *testing.F) {
	for _, s := range []string{"Bearer T", "Bearer  T", "Bearer\tT", "Bearer T;x=y", "Bearer a,Bearer b", ";;", "T,", " T ",
		"Token token=\"T\"", "Basic VDBrM24tdmFsdWU6", "Bearer é\tT,", "a\tb c,d;e", "\xff\t\xfe"} {
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
		if want := strings.FieldsFunc(v, isWordDelim); !slices.Equal(words, want) {
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
