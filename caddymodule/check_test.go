package caddymodule

import (
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
	"time"
)

func FuzzAppendSplitCleanMatchesSplitClean(f *testing.F) {
	for _, p := range []string{"", "/", "//", "/a/b", "a/b", "/a//b/", "/a/./b/../c", "/" + string(make([]byte, 40)), "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := route.AppendSplitClean(nil, p), route.SplitClean(p); !reflect.DeepEqual(got, want) {
			t.Fatalf("appendSplitClean(%q) = %q, splitClean %q", p, got, want)
		}
	})
}

// TestCheckOpaqueAllocatesNothing holds the request check of an opaque
// token to zero allocations (issue 5): route matching, extraction, parsing,
// hashing and the in-memory look-up.
func TestCheckOpaqueAllocatesNothing(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/oauth/revoke"}}}, nil)
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
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/oauth/revoke"}}}, nil)
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
