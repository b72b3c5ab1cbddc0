package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		name   string
		json   string
		output string
		want   []string
	}{
		{
			name: "local plugin gets the zero pseudo-version",
			json: `{"caddy_version":"v2.11.9","plugins":[{"module":"example.com/a","replace":"."}]}`,
			want: []string{"v2.11.9", "--with", "example.com/a@v0.0.0-00010101000000-000000000000=/repo"},
		},
		{
			name:   "output flag and published plugin",
			json:   `{"caddy_version":"v2.11.9","output":"bin/caddy","plugins":[{"module":"example.com/b","version":"v1.2.3"}]}`,
			output: "/tmp/x/caddy",
			want:   []string{"v2.11.9", "--output", "/tmp/x/caddy", "--with", "example.com/b@v1.2.3"},
		},
		{
			name: "config output is relative to the config directory",
			json: `{"caddy_version":"v2.11.9","output":"bin/caddy","plugins":[{"module":"example.com/c","version":"v1.0.0","replace":"../c"}]}`,
			want: []string{"v2.11.9", "--output", "/repo/bin/caddy", "--with", "example.com/c@v1.0.0=/c"},
		},
		{
			name: "no plugins",
			json: `{"caddy_version":"v2.11.9","plugins":[]}`,
			want: []string{"v2.11.9"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(strings.NewReader(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			got, err := cfg.Args("/repo", tt.output)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Args() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		``,
		`{"plugins":[]}`,
		`{"caddy_version":"v2.11.9","plugin":[]}`,
		`{"caddy_version":"v2.11.9","plugins":[{"version":"v1.0.0"}]}`,
		`{"caddy_version":"v2.11.9","plugins":[{"module":"a@v1"}]}`,
		`{"caddy_version":"v2.11.9\n--with x","plugins":[]}`,
		`{"caddy_version":"v2.11.9","plugins":[]} {}`,
	} {
		if _, err := Parse(strings.NewReader(in)); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", in)
		}
	}
}

// TestRepoConfig checks the repository's own xcaddy.json: it must parse and
// build this module from the repository root.
func TestRepoConfig(t *testing.T) {
	path := filepath.Join("..", "..", "xcaddy.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	const self = "github.com/caddy-token-revocation/caddy-token-revocation"
	for _, p := range cfg.Plugins {
		if p.Module == self {
			if p.Replace != "." {
				t.Errorf("plugin %s: replace = %q, want \".\" (the repository root)", self, p.Replace)
			}
			return
		}
	}
	t.Errorf("xcaddy.json does not build %s", self)
}
