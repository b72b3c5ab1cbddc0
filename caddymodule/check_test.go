package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

func TestTokenKeyIsTheIdentityKey(t *testing.T) {
	for _, key := range []string{"", "hmac-secret"} {
		h := newTestHandler(t, &Handler{HMACKey: key}, nil)
		for _, raw := range []string{"opaque-token", benchOpaque, benchJWT, jwt(map[string]any{"sub": "u"})} {
			tok := token.Parse(raw)
			want := h.hasher.Key(denylist.KindToken, "", tok.Identity()...)
			if got := h.tokenKey(&tok); got != want {
				t.Errorf("key %q, token %.20q (jwt %v): tokenKey %s, want %s", key, raw, tok.JWT, got, want)
			}
			legacy := h.hasher.Key(denylist.KindToken, "tenant", tok.Identity()...)
			if got := h.tokenKeyIn("tenant", &tok); got != legacy {
				t.Errorf("key %q, token %.20q: tokenKeyIn(tenant) %s, want %s", key, raw, got, legacy)
			}
		}
	}
}

func FuzzAppendSplitCleanMatchesSplitClean(f *testing.F) {
	for _, p := range []string{"", "/", "//", "/a/b", "a/b", "/a//b/", "/a/./b/../c", "/" + string(make([]byte, 40)), "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := appendSplitClean(nil, p), splitClean(p); !reflect.DeepEqual(got, want) {
			t.Fatalf("appendSplitClean(%q) = %q, splitClean %q", p, got, want)
		}
	})
}

// TestCheckOpaqueAllocatesNothing holds the request check of an opaque
// token to zero allocations (issue 5): route matching, extraction, parsing,
// hashing and the in-memory look-up.
func TestCheckOpaqueAllocatesNothing(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*Route{{Type: "revoke", Path: "/oauth/revoke"}}}, nil)
	r := httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil)
	r.Header.Set("Authorization", "Bearer "+benchOpaque)
	w := &discardWriter{h: http.Header{}}
	n := testing.AllocsPerRun(200, func() {
		if err := h.ServeHTTP(w, r, nopNext{}); err != nil {
			t.Fatal(err)
		}
	})
	if w.code != 0 {
		t.Fatalf("status %d, want the request passed on", w.code)
	}
	if n != 0 {
		t.Fatalf("the check of an opaque token allocates %v times per request, want 0", n)
	}
}

func TestCachedJWTQueryStillSeesNewRevocations(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*Route{{Type: "revoke", Path: "/oauth/revoke"}}}, nil)
	tok := jwt(map[string]any{"sub": "u", "jti": "j", "exp": time.Now().Add(time.Hour).Unix()})
	for i := 0; i < 2; i++ { // the second check finds the query in the cache
		if res := serve(t, h, &upstream{}, bearer("/api", tok)); res.status != http.StatusOK {
			t.Fatalf("check %d before the revocation: %d", i, res.status)
		}
	}
	if res := serve(t, h, &upstream{}, formRequest(http.MethodPost, "/oauth/revoke", url.Values{"token": {tok}})); res.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.status, res.body)
	}
	if res := serve(t, h, &upstream{}, bearer("/api", tok)); res.status != http.StatusUnauthorized {
		t.Fatalf("a revoked JWT whose query was cached: %d, want 401", res.status)
	}
}

func TestQueryCacheKeysByNamespaceAndStaysBounded(t *testing.T) {
	c := newQueryCache()
	if c.key("a", "x.y.z") == c.key("b", "x.y.z") || c.key("a", "bx.y.z") == c.key("ab", "x.y.z") {
		t.Fatal("namespace not part of the key")
	}
	var q denylist.Query
	q.IssuedAt = 42
	for i := 0; i < 5*queryCacheShards*queryCacheGeneration; i++ {
		c.put(c.key("", strconv.Itoa(i)), &q)
	}
	total := 0
	for i := range c.shards {
		total += len(c.shards[i].cur) + len(c.shards[i].old)
	}
	if total > 2*queryCacheShards*queryCacheGeneration {
		t.Fatalf("cache holds %d queries, more than its bound %d", total, 2*queryCacheShards*queryCacheGeneration)
	}
	last := c.key("", strconv.Itoa(5*queryCacheShards*queryCacheGeneration-1))
	var got denylist.Query
	if !c.get(last, &got) || got.IssuedAt != 42 {
		t.Fatal("the query cached last is gone")
	}
}

// TestCheckJWTAgainAllocatesNothing: a JWT presented again is answered from
// the query cache, with no allocation.
func TestCheckJWTAgainAllocatesNothing(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	r.Header.Set("Authorization", "Bearer "+benchJWT)
	w := &discardWriter{h: http.Header{}}
	if n := testing.AllocsPerRun(100, func() { _ = h.ServeHTTP(w, r, nopNext{}) }); n != 0 {
		t.Fatalf("checking a JWT seen before allocates %v times, want 0", n)
	}
}
