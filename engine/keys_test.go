package engine

import (
	"encoding/base64"
	"fmt"
	"sync"
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

// TestCheckerQueriesAreKeysQueries: the Checker's queries (parsed into a
// reused buffer, claim keys remembered, queries cached) are those Keys
// builds from token.Parse, for tokens that share and do not share claims,
// in namespaces, with client cut-offs, checked once and again, with and
// without an HMAC key; and the claims it shows noteClaims are the token's.
func TestCheckerQueriesAreKeysQueries(t *testing.T) {
	for _, key := range []string{"", "hmac-secret"} {
		k := &Keys{Hasher: denylist.NewHasher([]byte(key)), ClientCutoffs: true}
		var noted token.Claims
		c := NewChecker(k, nil, func(cl token.Claims) { noted = cl })
		for round := range 2 {
			for i := range 3000 {
				// Users and sessions come back (i%50, i%200); jti never.
				raw := testJWT(fmt.Sprintf(`{"iss":"https://idp/%d","sub":"user-%d","sid":"session-%d","jti":"jti-%d","azp":"app-%d","iat":%d}`,
					i%3, i%50, i%200, i, i%5, 1700000000+i))
				for _, ns := range []string{"", "tenant-a"} {
					var got denylist.Query
					c.FillQuery(&got, ns, raw)
					tok := token.Parse(raw)
					if want := k.Query(ns, &tok); got != want {
						t.Fatalf("key %q, round %d, token %d, namespace %q: Checker's query %+v, want %+v", key, round, i, ns, got, want)
					}
					if round == 0 && ns == "" && (noted.Subject != tok.Claims.Subject || noted.ID != tok.Claims.ID || noted.Issuer != tok.Claims.Issuer) {
						t.Fatalf("token %d: noteClaims saw %+v, want the claims %+v", i, noted, tok.Claims)
					}
				}
			}
		}
	}
}

// TestCheckerConcurrentFirstSeen: checks of first-seen JWTs from many
// goroutines at once (pooled parse buffers, shared caches) build the
// queries Keys builds (run with -race).
func TestCheckerConcurrentFirstSeen(t *testing.T) {
	k := &Keys{Hasher: denylist.NewHasher([]byte("k"))}
	c := NewChecker(k, nil, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				raw := testJWT(fmt.Sprintf(`{"iss":"i","sub":"u-%d","sid":"s-%d","jti":"g%d-%d"}`, i%40, i%90, g, i))
				var got denylist.Query
				c.FillQuery(&got, "", raw)
				tok := token.Parse(raw)
				if want := k.Query("", &tok); got != want {
					errs <- fmt.Sprintf("goroutine %d, token %d: a query not its own", g, i)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
