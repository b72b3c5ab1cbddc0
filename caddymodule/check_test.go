package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

func TestTokenKeyIsTheIdentityKey(t *testing.T) {
	for _, key := range []string{"", "hmac-secret"} {
		h := newTestHandler(t, &Handler{HMACKey: key}, nil)
		for _, raw := range []string{"opaque-token", benchOpaque, benchJWT, jwt(map[string]any{"sub": "u"})} {
			tok := token.Parse(raw)
			want := h.hasher.Key(denylist.KindToken, "tenant", tok.Identity()...)
			if got := h.tokenKey("tenant", &tok); got != want {
				t.Errorf("key %q, token %.20q (jwt %v): tokenKey %s, want %s", key, raw, tok.JWT, got, want)
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
