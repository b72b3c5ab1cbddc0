package token

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDocumentTextIsTheDecoders: a token in a YAML or CBOR body, in the
// spellings their decoders join (escaped line breaks, !!binary over
// lines, text in chunks), is found by the scan; another type is not read
// so; a YAML alias bomb costs the decoder's bound, not its expansion.
func TestDocumentTextIsTheDecoders(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	b64 := base64.StdEncoding.EncodeToString([]byte(tok))
	chunks := []byte{0xa1, 0x61, 't', 0x7f}
	for i := 0; i < len(tok); i += 3 {
		c := tok[i:min(i+3, len(tok))]
		chunks = append(append(chunks, 0x60+byte(len(c))), c...)
	}
	chunks = append(chunks, 0xff)
	for _, c := range []struct{ ct, body string }{
		{"application/yaml", "t: \"" + tok[:7] + "\\\n   " + tok[7:] + "\"\n"},
		{"text/yaml; charset=utf-8", "t: !!binary |\n  " + b64[:8] + "\n  " + b64[8:20] + "\n  " + b64[20:] + "\n"},
		{"application/x-yaml", "---\na: 1\n---\nlist: [x, {t: \"" + tok + "\"}]\n"},
		{"application/cbor", string(chunks)},
	} {
		r, _ := http.NewRequest("POST", "http://h/", nil)
		r.RequestURI = "/"
		r.Header = http.Header{"Content-Type": {c.ct}}
		if _, ok := candidatesOf(r, c.body)[tok]; !ok {
			t.Errorf("%s %q: the token is not among the candidates", c.ct, c.body)
		}
	}
	r, _ := http.NewRequest("POST", "http://h/", nil)
	r.Header = http.Header{"Content-Type": {"text/plain"}}
	if _, ok := documentText(mediaTypeOf(r), []byte("t: x\n")); ok {
		t.Errorf("a text/plain body was read as YAML")
	}
	bomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	for i, prev := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		name := string(rune('b' + i))
		bomb += name + ": &" + name + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
	}
	r.Header.Set("Content-Type", "application/yaml")
	start := time.Now()
	text, _ := documentText(mediaTypeOf(r), []byte(bomb))
	if len(text) > 1<<20 {
		t.Errorf("a YAML alias bomb of %d bytes read as %d bytes of text (in %v)", len(bomb), len(text), time.Since(start))
	}
}
