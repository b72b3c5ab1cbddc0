package token

import (
	"encoding/json"
	"testing"
)

// FuzzUnquoteJSONIsUnmarshal: unquoteJSON decodes a JSON string's content
// exactly as json.Unmarshal into a string does, and refuses what it
// refuses.
func FuzzUnquoteJSONIsUnmarshal(f *testing.F) {
	for _, s := range []string{`plain`, `a\"b\\c\/d`, `\b\f\n\r\t`, `\u0041\u00e9\u20AC`, `\ud83d\ude00`,
		`\ud83d`, `\ude00\ud83d x`, `\ud83d\u0041`, "\xff\xfe", "é€😀", `\'`, `\x41`, `\u12`, `\u12G4`, "a\x01b", `"`, `\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		quoted := append(append([]byte{'"'}, content...), '"')
		var want string
		werr := json.Unmarshal(quoted, &want)
		got, ok := unquoteJSON(content)
		if ok != (werr == nil) {
			t.Fatalf("%q: ok %v, Unmarshal's error %v", content, ok, werr)
		}
		if ok && got != want {
			t.Fatalf("%q: %q, Unmarshal %q", content, got, want)
		}
	})
}
