package caddymodule

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestVersionEverywhere: scripts/build builds the module at Version (so
// that `caddy list-modules --versions` shows it), and CHANGELOG.md's latest
// entry is Version.
func TestVersionEverywhere(t *testing.T) {
	b, err := os.ReadFile("../scripts/build")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^MODULE_VERSION=(\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("scripts/build has no MODULE_VERSION= line")
	}
	if string(m[1]) != Version {
		t.Errorf("scripts/build builds the module at %q, want Version %q", m[1], Version)
	}
	cl, err := os.ReadFile("../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(cl), "\n## ")
	if i < 0 || !strings.HasPrefix(string(cl[i+4:]), strings.TrimPrefix(Version, "v")) {
		t.Errorf("CHANGELOG.md's latest entry is not %s", Version)
	}
}
