package caddymodule

import (
	"os"
	"strings"
	"testing"
)

// grammarDoc is the page whose directive block is the grammar; the README
// links it.
const grammarDoc = "../docs/caddyfile.md"

// TestDocsSyntaxMatchesGodoc keeps the directive syntax of docs/caddyfile.md
// the one documented on UnmarshalCaddyfile, line for line.
func TestDocsSyntaxMatchesGodoc(t *testing.T) {
	doc, err := os.ReadFile(grammarDoc)
	if err != nil {
		t.Fatal(err)
	}
	block := strings.TrimRight(strings.Join(godocGrammar(t), "\n"), "\n")
	if !strings.Contains(string(doc), "```caddyfile\n"+block+"\n```") {
		t.Errorf("docs/caddyfile.md's directive syntax differs from UnmarshalCaddyfile's godoc; paste this into its ```caddyfile block under \"The `token_revocation` directive\":\n%s", block)
	}
}

// godocGrammar returns the lines of UnmarshalCaddyfile's syntax block, ""
// for a blank line inside it.
func godocGrammar(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("caddyfile.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	start := strings.Index(s, "//\ttoken_revocation [<matcher>] {")
	end := strings.Index(s, "// Route types: see Route.Type.")
	if start < 0 || end < start {
		t.Fatal("the syntax block of UnmarshalCaddyfile's godoc was not found")
	}
	var out []string
	for _, l := range strings.Split(s[start:end], "\n") {
		switch l = strings.TrimPrefix(l, "//"); {
		case strings.HasPrefix(l, "\t"):
			out = append(out, l[1:])
		case l == "":
			out = append(out, "") // a blank line inside the block
		}
	}
	return out
}
