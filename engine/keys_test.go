package engine

import (
	"encoding/base64"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// testJWT is an unsigned JWT with the given payload.
func testJWT(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(payload)) + ".sig"
}

func TestTokenKeyIsTheIdentityKey(t *testing.T) {
	for _, key := range []string{"", "hmac-secret"} {
		k := &Keys{Hasher: denylist.NewHasher([]byte(key))}
		for _, raw := range []string{"opaque-token", testJWT(`{"sub":"u","jti":"j"}`), testJWT(`{"sub":"u","exp":"odd"}`)} {
			tok := token.Parse(raw)
			want := k.Hasher.Key(denylist.KindToken, "", tok.Identity()...)
			if got := k.Token(&tok); got != want {
				t.Errorf("key %q, token %.20q (jwt %v): Token %s, want %s", key, raw, tok.JWT, got, want)
			}
			legacy := k.Hasher.Key(denylist.KindToken, "tenant", tok.Identity()...)
			if got := k.tokenIn("tenant", &tok); got != legacy {
				t.Errorf("key %q, token %.20q: tokenIn(tenant) %s, want %s", key, raw, got, legacy)
			}
			if q := k.Query("tenant", &tok); q.Keys[0] != want {
				t.Errorf("key %q, token %.20q: the query's first key %s, want the identity %s", key, raw, q.Keys[0], want)
			}
		}
	}
}
