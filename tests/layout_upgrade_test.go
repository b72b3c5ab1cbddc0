package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// legacyRevision is a commit of this repository from before the compact
// Redis layout (issue 14): the release a rolling upgrade starts from.
const legacyRevision = "d775f11685b9bd9abeba1ad099cb29ba7623abe9"

// buildCaddyAt builds ./cmd/caddy of revision rev of this repository (git
// archive into a temporary directory) once per machine: the binary is kept
// in the system's temporary directory under the revision's name.
func buildCaddyAt(t *testing.T, rev string) string {
	t.Helper()
	bin := filepath.Join(os.TempDir(), "trv-caddy-"+rev[:12])
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	archive := exec.Command("sh", "-c", fmt.Sprintf("git -C %q archive %s | tar -x -C %q", root, rev, src))
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s (the test needs the repository's history): %v\n%s", rev, err, out)
	}
	start := time.Now()
	tmp := bin + ".tmp"
	build := exec.Command("go", "build", "-buildvcs=false", "-o", tmp, "./cmd/caddy")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building caddy at %s: %v\n%s", rev, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	t.Logf("built caddy at %s in %s", rev[:12], time.Since(start).Round(time.Second))
	return bin
}

// layoutCaddyfile is a gateway on a Redis store (address, then the store's
// extra lines) answering RFC 7009 revocations itself.
const layoutCaddyfile = `http:// {
	token_revocation {
		store redis {
			address %s
			%s
		}
		revoke /oauth/revoke
	}
	reverse_proxy %s
}`

// TestRollingUpgradeToCompactLayout: an instance of the previous release
// (legacy layout, built from legacyRevision) and one of this release in
// the upgrade layout share a Redis, and each enforces what the other
// revoked; once the old one is gone, `caddy token-revocation
// migrate-layout` moves the legacy entries, and an instance in the compact
// layout enforces every revocation made before and during the upgrade.
func TestRollingUpgradeToCompactLayout(t *testing.T) {
	oldBin := buildCaddyAt(t, legacyRevision)
	r := startRedis(t)
	up := startUpstream(t)
	revoke := func(c *Caddy, tok string) {
		t.Helper()
		if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {tok}}); res.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
	}
	rejected := func(what string, c *Caddy, toks ...string) {
		t.Helper()
		for _, tok := range toks {
			pollUntil(t, 5*time.Second, func() string {
				if s := get(t, c.URL("/api"), "Authorization: Bearer "+tok).Status; s != http.StatusUnauthorized {
					return fmt.Sprintf("%s: %s answered %d, want 401", what, tok, s)
				}
				return ""
			})
		}
	}

	old := startCaddyWith(t, CaddyOptions{Bin: oldBin}, layoutCaddyfile, r.Addr, "", up.Addr())
	before := "before-" + randomString()
	revoke(old, before)

	upgrading := startCaddy(t, layoutCaddyfile, r.Addr, "layout upgrade", up.Addr())
	rejected("revoked by the old release, on the new one", upgrading, before)
	viaNew, viaOld := "via-new-"+randomString(), "via-old-"+randomString()
	revoke(upgrading, viaNew)
	revoke(old, viaOld)
	rejected("revoked by the new release, on the old one", old, viaNew)
	rejected("revoked by the old release during the upgrade, on the new one", upgrading, viaOld)
	if s := get(t, old.URL("/api"), "Authorization: Bearer never-revoked").Status; s != http.StatusOK {
		t.Fatalf("a token never revoked, on the old release: %d", s)
	}

	old.Stop()
	cli := exec.Command(caddyBinary(t), "token-revocation", "migrate-layout", "--config", upgrading.Caddyfile, "--adapter", "caddyfile")
	out, err := cli.CombinedOutput()
	// 3 revocations, and the marker of via-new's length (the new release
	// stores one for an opaque token of 16 bytes or more: README, "What
	// the gateway checks").
	if err != nil || !strings.Contains(string(out), "moved 4 ") {
		t.Fatalf("migrate-layout: %v\n%s", err, out)
	}
	rc := r.Client()
	// What is left of the legacy keys is their eviction sentinel
	// (denylist/redisstore/redis_guard.go): an instance still in the upgrade layout
	// reads them, and their loss would start a new epoch.
	ctx := context.Background()
	if fields := rc.HKeys(ctx, "{trv}:entries").Val(); len(fields) > 1 || len(fields) == 1 && fields[0] != "!sentinel" {
		t.Fatalf("legacy entries left after migrate-layout: %q\n%s", fields, out)
	}
	if members := rc.ZRange(ctx, "{trv}:expiry", 0, -1).Val(); len(members) > 1 || len(members) == 1 && members[0] != "!sentinel" {
		t.Fatalf("legacy expiries left after migrate-layout: %q\n%s", members, out)
	}

	compact := startCaddy(t, layoutCaddyfile, r.Addr, "layout compact", up.Addr())
	rejected("after the migration, on the compact layout", compact, before, viaNew, viaOld)
	rejected("after the migration, on the instance still in the upgrade layout", upgrading, before, viaNew, viaOld)
	after := "after-" + randomString()
	revoke(compact, after)
	rejected("revoked on the compact layout, on the upgrade one", upgrading, after)
	if s := get(t, compact.URL("/api"), "Authorization: Bearer never-revoked").Status; s != http.StatusOK {
		t.Fatalf("a token never revoked, on the compact layout: %d", s)
	}
}
