package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const root = "../.."

// TestRecipeIsGoMods: xcaddy.json builds the Caddy go.mod requires, and
// this checkout (the module go.mod names, replaced by "."); a recipe
// naming another Caddy than go.mod's fails.
func TestRecipeIsGoMods(t *testing.T) {
	rc, err := ReadRecipe(filepath.Join(root, "xcaddy.json"))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/caddyserver/caddy/v2 (\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod requires no github.com/caddyserver/caddy/v2")
	}
	if rc.CaddyVersion != string(m[1]) {
		t.Errorf("xcaddy.json builds Caddy %s, go.mod requires %s: make them equal", rc.CaddyVersion, m[1])
	}
	mod := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(gomod)
	if mod == nil {
		t.Fatal("go.mod names no module")
	}
	if !slices.ContainsFunc(rc.Plugins, func(p Plugin) bool { return p.Module == string(mod[1]) && p.Replace == "." }) {
		t.Errorf("xcaddy.json does not build %s from this checkout (replace \".\"): %+v", mod[1], rc.Plugins)
	}
}

// TestDocsShowTheRecipe: the README (or a page under docs/) shows the
// xcaddy command xcaddy.json stands for, on one line.
func TestDocsShowTheRecipe(t *testing.T) {
	rc, err := ReadRecipe(filepath.Join(root, "xcaddy.json"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(strings.TrimSpace(l), rc.Command()) {
				return
			}
		}
	}
	t.Errorf("neither README.md nor docs/*.md shows the command xcaddy.json stands for; show this line:\n%s", rc.Command())
}

func TestArgs(t *testing.T) {
	rc, err := Parse(strings.NewReader(`{"caddy_version": "v2.11.9", "output": "bin/caddy", "plugins": [
		{"module": "example.com/a", "version": "v0.2.0", "replace": "."},
		{"module": "example.com/b", "version": "v1.2.3"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"v2.11.9", "--output", "bin/caddy", "--with", "example.com/a@v0.2.0=.", "--with", "example.com/b@v1.2.3"}
	if got := rc.Args(""); !slices.Equal(got, want) {
		t.Errorf("Args = %q, want %q", got, want)
	}
	if got := rc.Args("/tmp/c"); got[2] != "/tmp/c" {
		t.Errorf("Args(/tmp/c) writes %q", got[2])
	}
	if got, want := rc.Command(), "xcaddy build v2.11.9 --output bin/caddy --with example.com/a@v0.2.0=. --with example.com/b@v1.2.3"; got != want {
		t.Errorf("Command = %q, want %q", got, want)
	}
}

func TestParseRefuses(t *testing.T) {
	for body, want := range map[string]string{
		`{"caddy_version": "2.11.9", "output": "o", "plugins": [{"module": "m", "version": "v1.0.0"}]}`:                      "want a Caddy 2 release",
		`{"caddy_version": "v2.11.9", "plugins": [{"module": "m", "version": "v1.0.0"}]}`:                                    "output is missing",
		`{"caddy_version": "v2.11.9", "output": "o", "plugins": []}`:                                                         "plugins is empty",
		`{"caddy_version": "v2.11.9", "output": "o", "plugins": [{"module": "m", "replace": "."}]}`:                          "v0.0.0-00010101000000-000000000000",
		`{"caddy_version": "v2.11.9", "output": "o", "plugins": [{"module": "m@v1", "version": "v1.0.0"}]}`:                  "want a Go module path",
		`{"caddy_version": "v2.11.9", "output": "o", "plugins": [{"module": "m", "version": "v1.0.0", "replace_dir": "."}]}`: `unknown field "replace_dir"`,
	} {
		if _, err := Parse(strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want an error saying %q", body, err, want)
		}
	}
}
