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

// revokeAt revokes tok through c's RFC 7009 route (layoutCaddyfile).
func revokeAt(t *testing.T, c *Caddy, tok string) {
	t.Helper()
	if res := postForm(t, c.URL("/oauth/revoke"), url.Values{"token": {tok}}); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
}

// rejectedAt waits until c answers 401 to each of toks (what says which
// step is checked).
func rejectedAt(t *testing.T, what string, c *Caddy, toks ...string) {
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

// TestRollingUpgradeToCompactLayout: an instance of the previous release
// (legacy layout, built from legacyRevision) and one of this release with
// no layout option share a Redis: the new one finds the legacy data, runs
// the upgrade layout and warns, naming migrate-layout, and each enforces
// what the other revoked; once the old one is gone, `caddy
// token-revocation migrate-layout` moves the legacy entries, and an
// instance in the compact layout enforces every revocation made before and
// during the upgrade.
func TestRollingUpgradeToCompactLayout(t *testing.T) {
	oldBin := buildCaddyAt(t, legacyRevision)
	r := startRedis(t)
	up := startUpstream(t)
	revoke := func(c *Caddy, tok string) { t.Helper(); revokeAt(t, c, tok) }
	rejected := func(what string, c *Caddy, toks ...string) { t.Helper(); rejectedAt(t, what, c, toks...) }

	old := startCaddyWith(t, CaddyOptions{Bin: oldBin}, layoutCaddyfile, r.Addr, "", up.Addr())
	before := "before-" + randomString()
	revoke(old, before)

	upgrading := startCaddy(t, layoutCaddyfile, r.Addr, "", up.Addr())
	if !strings.Contains(upgrading.Logs(), "caddy token-revocation migrate-layout") {
		t.Fatalf("the new release logged no warning naming migrate-layout on a legacy prefix:\n%s", upgrading.Logs())
	}
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
	// 3 revocations, the marker of via-new's length (the new release
	// stores one for an opaque token of 16 bytes or more: README, "What
	// the gateway checks") and, when via-new has capital letters, the
	// identity of its lower-case spelling (docs/enforcement.md, "In any
	// case").
	moved := 4
	if strings.ToLower(viaNew) != viaNew {
		moved++
	}
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("moved %d ", moved)) {
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

// releaseRevision is the last commit before the layout marker (0.2, whose
// default layout is legacy and which writes no marker).
const releaseRevision = "5278a122c4688cea712668840ed311aacc43eb94"

// upgradeWarning is a piece of the warning an instance logs when it
// serves a prefix of an earlier release in the upgrade layout.
const upgradeWarning = "caddy token-revocation migrate-layout"

// TestDefaultLayout: with no layout option, a new key prefix is served in
// the compact layout (marker "compact", nothing in the legacy hash), and
// "layout legacy" on it is refused; a prefix written by the previous
// release (built from releaseRevision, no marker) is found and served in
// the upgrade layout with a warning naming migrate-layout, its revocations
// enforced and the new ones seen by the old release; "layout compact" is
// refused until `migrate-layout` has moved the legacy entries and marked
// the prefix compact; an instance started after it, with no option, runs
// the compact layout without a warning and enforces every revocation.
func TestDefaultLayout(t *testing.T) {
	oldBin := buildCaddyAt(t, releaseRevision)
	r := startRedis(t)
	up := startUpstream(t)
	rc := r.Client()
	ctx := context.Background()
	onlySentinel := func(key string) {
		t.Helper()
		if f := rc.HKeys(ctx, key).Val(); len(f) > 1 || len(f) == 1 && f[0] != "!sentinel" {
			t.Fatalf("%s holds %q, want the sentinel at most", key, f)
		}
	}

	// A new prefix.
	fresh := startCaddy(t, layoutCaddyfile, r.Addr, "key_prefix fresh", up.Addr())
	tok := "fresh-" + randomString()
	revokeAt(t, fresh, tok)
	rejectedAt(t, "on a new prefix", fresh, tok)
	if m := rc.Get(ctx, "{fresh}:layout").Val(); m != "compact" {
		t.Fatalf("marker of a new prefix: %q, want compact", m)
	}
	onlySentinel("{fresh}:entries")
	if n, _ := rc.Get(ctx, "{fresh}:c:count").Int(); n < 1 {
		t.Fatalf("{fresh}:c:count is %d after a revocation, want 1 or more", n)
	}
	if strings.Contains(fresh.Logs(), upgradeWarning) {
		t.Fatalf("a new prefix logged the upgrade warning:\n%s", fresh.Logs())
	}
	out, err := runCaddyOnce(t, fmt.Sprintf(layoutCaddyfile, r.Addr, "key_prefix fresh\n\t\t\tlayout legacy", up.Addr()))
	if err == nil || !strings.Contains(out, "token_revocation: redis: key prefix") || !strings.Contains(out, "is in the compact layout ({fresh}:layout), which layout legacy does not read: remove") {
		t.Fatalf("layout legacy on a compact prefix: %v, want a refusal saying to remove it:\n%s", err, out)
	}

	// A prefix of the previous release.
	old := startCaddyWith(t, CaddyOptions{Bin: oldBin}, layoutCaddyfile, r.Addr, "", up.Addr())
	before := "before-" + randomString()
	revokeAt(t, old, before)
	if n := rc.Exists(ctx, "{trv}:layout").Val(); n != 0 {
		t.Fatal("the previous release wrote a layout marker: the test does not start from an unmarked prefix")
	}
	cur := startCaddy(t, layoutCaddyfile, r.Addr, "", up.Addr())
	if !strings.Contains(cur.Logs(), upgradeWarning) {
		t.Fatalf("no warning naming migrate-layout on a prefix of the previous release:\n%s", cur.Logs())
	}
	if m := rc.Get(ctx, "{trv}:layout").Val(); m != "legacy" {
		t.Fatalf("marker of the previous release's prefix: %q, want legacy", m)
	}
	rejectedAt(t, "revoked by the previous release, on this one", cur, before)
	viaNew := "via-new-" + randomString()
	revokeAt(t, cur, viaNew)
	rejectedAt(t, "revoked by this release, on the previous one", old, viaNew)
	out, err = runCaddyOnce(t, fmt.Sprintf(layoutCaddyfile, r.Addr, "layout compact", up.Addr()))
	if err == nil || !strings.Contains(out, "token_revocation: redis: key prefix") || !strings.Contains(out, "holds the legacy layout ({trv}:layout)") || !strings.Contains(out, "migrate-layout") {
		t.Fatalf("layout compact on a legacy prefix: %v, want a refusal naming migrate-layout:\n%s", err, out)
	}

	old.Stop()
	cli := exec.Command(caddyBinary(t), "token-revocation", "migrate-layout", "--config", cur.Caddyfile, "--adapter", "caddyfile")
	if out, err := cli.CombinedOutput(); err != nil || !strings.Contains(string(out), "moved ") {
		t.Fatalf("migrate-layout: %v\n%s", err, out)
	}
	if m := rc.Get(ctx, "{trv}:layout").Val(); m != "compact" {
		t.Fatalf("marker after migrate-layout: %q, want compact", m)
	}
	onlySentinel("{trv}:entries")
	after := startCaddy(t, layoutCaddyfile, r.Addr, "", up.Addr())
	if strings.Contains(after.Logs(), upgradeWarning) {
		t.Fatalf("the upgrade warning after migrate-layout:\n%s", after.Logs())
	}
	rejectedAt(t, "after migrate-layout, on a new instance", after, before, viaNew)
	rejectedAt(t, "after migrate-layout, on the instance still in the upgrade layout", cur, before, viaNew)
	if s := get(t, after.URL("/api"), "Authorization: Bearer never-revoked").Status; s != http.StatusOK {
		t.Fatalf("a token never revoked, after migrate-layout: %d", s)
	}
}
