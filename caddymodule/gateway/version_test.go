package gateway

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestVersionEverywhere: xcaddy.json, the recipe scripts/build runs,
// builds this module at Version (so that `caddy list-modules --versions`
// shows it), and CHANGELOG.md's latest entry is Version (after an
// Unreleased section, if any).
func TestVersionEverywhere(t *testing.T) {
	b, err := os.ReadFile("../../xcaddy.json")
	if err != nil {
		t.Fatal(err)
	}
	var recipe struct {
		Plugins []struct{ Module, Version, Replace string }
	}
	if err := json.Unmarshal(b, &recipe); err != nil {
		t.Fatalf("xcaddy.json: %v", err)
	}
	found := false
	for _, p := range recipe.Plugins {
		if p.Module == "github.com/caddy-token-revocation/caddy-token-revocation" {
			found = true
			if p.Version != Version {
				t.Errorf("xcaddy.json builds the module at %q, want Version %q", p.Version, Version)
			}
		}
	}
	if !found {
		t.Error("xcaddy.json does not build this module")
	}
	cl, err := os.ReadFile("../../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	latest := "" // the first entry with a version: "Unreleased" may come before it
	for _, l := range strings.Split(string(cl), "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok && !strings.EqualFold(strings.TrimSpace(h), "Unreleased") {
			latest = h
			break
		}
	}
	if !strings.HasPrefix(latest, strings.TrimPrefix(Version, "v")) {
		t.Errorf("CHANGELOG.md's latest entry is %q, not %s", latest, Version)
	}
}
