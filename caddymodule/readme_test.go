package caddymodule

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeSyntaxMatchesGodoc keeps the README's directive syntax the one
// documented on UnmarshalCaddyfile, line for line.
func TestReadmeSyntaxMatchesGodoc(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := strings.TrimRight(strings.Join(godocGrammar(t), "\n"), "\n")
	if !strings.Contains(string(readme), "```caddyfile\n"+block+"\n```") {
		t.Errorf("README.md's directive syntax differs from UnmarshalCaddyfile's godoc; paste this into the README:\n%s", block)
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
