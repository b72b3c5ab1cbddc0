package tests

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// TestUpgradeKeepsLegacyRevocations: entries stored by release 0.1 under
// the key derivations that changed (a token's identity in the request's
// namespace; a JWT with an odd claim keyed as an opaque token by its raw
// string) are still enforced after the upgrade, on both stores. The
// entries are written straight into the store, as 0.1 wrote them, before
// Caddy starts.
func TestUpgradeKeepsLegacyRevocations(t *testing.T) {
	now := time.Now()
	odd := jwttest.Unsigned(`{"alg":"RS256","typ":"JWT"}`, map[string]any{"sub": 42, "iat": now.Unix(), "exp": now.Unix() + 600}, "c2ln")
	hasher := denylist.NewHasher(nil)
	legacy := []denylist.Entry{
		// meshydb: revoked in account acct, default tenant.
		denylist.NewEntry(hasher.KeyStrings(denylist.KindToken, "acct/default", token.OpaqueMarker, "legacy-opaque"), now, now.Add(time.Hour)),
		// a JWT with "sub": 42, keyed as opaque in the same namespace.
		denylist.NewEntry(hasher.KeyStrings(denylist.KindToken, "acct/default", token.OpaqueMarker, odd), now, now.Add(time.Hour)),
	}
	// check runs Caddy (the meshydb profile) on the store and checks the
	// legacy entries are in force.
	check := func(t *testing.T, store string) {
		up := startUpstream(t)
		c := startCaddy(t, `http:// {
	token_revocation {
		%s
		profile meshydb
	}
	reverse_proxy %s
}`, store, up.Addr())
		for name, tok := range map[string]string{"namespaced opaque token": "legacy-opaque", "odd-claim JWT keyed as opaque": odd} {
			if s := get(t, c.URL("/acct/users/me"), "Authorization: Bearer "+tok).Status; s != http.StatusUnauthorized {
				t.Errorf("%s revoked before the upgrade: %d, want 401", name, s)
			}
		}
		if s := get(t, c.URL("/acct/users/me"), "Authorization: Bearer not-revoked").Status; s != http.StatusOK {
			t.Errorf("a token never revoked: %d, want 200", s)
		}
	}

	t.Run("embedded", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "denylist.db")
		st, err := boltstore.OpenEmbedded(path, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Revoke(context.Background(), legacy...); err != nil {
			t.Fatal(err)
		}
		st.Close()
		check(t, "store embedded "+path)
	})

	t.Run("redis", func(t *testing.T) {
		r := startRedis(t)
		st, err := redisstore.OpenRedis(context.Background(), redisstore.RedisOptions{Addrs: []string{r.Addr}, KeyPrefix: "trv"})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Revoke(context.Background(), legacy...); err != nil {
			t.Fatal(err)
		}
		st.Close()
		check(t, "store redis {\n\t\t\taddress "+r.Addr+"\n\t\t}")
	})
}
