package caddymodule

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeSyntaxMatchesGodoc keeps the README's directive syntax the one
// documented on UnmarshalCaddyfile, line for line.
func TestReadmeSyntaxMatchesGodoc(t *testing.T) {
	src, err := os.ReadFile("caddyfile.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	start := strings.Index(s, "//\ttoken_revocation [<matcher>] {")
	end := strings.Index(s, "// Route types: see Route.Type.")
	if start < 0 || end < start {
		t.Fatal("the syntax block of UnmarshalCaddyfile's godoc was not found")
	}
	var want []string
	for _, l := range strings.Split(s[start:end], "\n") {
		switch l = strings.TrimPrefix(l, "//"); {
		case strings.HasPrefix(l, "\t"):
			want = append(want, l[1:])
		case l == "":
			want = append(want, "") // a blank line inside the block
		}
	}
	block := strings.TrimRight(strings.Join(want, "\n"), "\n")
	if !strings.Contains(string(readme), "```caddyfile\n"+block+"\n```") {
		t.Errorf("README.md's directive syntax differs from UnmarshalCaddyfile's godoc; paste this into the README:\n%s", block)
	}
}
