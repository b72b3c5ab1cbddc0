package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestPlaceholdersOfEachResult: the {http.token_revocation.*} values a
// check leaves on the request's replacer.
func TestPlaceholdersOfEachResult(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/oauth/revoke"}}, Namespace: "{http.request.header.tenant}"}, nil)
	r := formRequest(http.MethodPost, "/oauth/revoke", url.Values{"token": {"gone"}})
	r.Header.Set("Tenant", "acme")
	if res := serveHTTP(t, h, nopNext{}, r); res.status != http.StatusOK {
		t.Fatalf("revoke: %d", res.status)
	}
	for _, tt := range []struct {
		name  string
		req   *http.Request
		want  map[string]string
		unset []string
	}{
		{"no token", httptest.NewRequest(http.MethodGet, "/api", nil),
			map[string]string{gateway.PlaceholderResult: gateway.ResultNone}, []string{gateway.PlaceholderReason, gateway.PlaceholderKind, gateway.PlaceholderNamespace}},
		{"a live token", bearer("/api", "live"),
			map[string]string{gateway.PlaceholderResult: gateway.ResultPass, gateway.PlaceholderNamespace: "acme"}, []string{gateway.PlaceholderReason, gateway.PlaceholderKind, gateway.PlaceholderHash}},
		{"the revoked token, in the query", httptest.NewRequest(http.MethodGet, "/api?access_token=gone", nil),
			map[string]string{gateway.PlaceholderResult: gateway.ResultRevoked, gateway.PlaceholderReason: "token", gateway.PlaceholderKind: "token", gateway.PlaceholderNamespace: "acme", gateway.PlaceholderSource: "query"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Header.Set("Tenant", "acme")
			repl := caddyhttp.NewTestReplacer(tt.req)
			serveWith(t, h, nopNext{}, tt.req, repl)
			for k, v := range tt.want {
				if got, _ := repl.GetString(k); got != v {
					t.Errorf("{%s} = %q, want %q", k, got, v)
				}
			}
			for _, k := range tt.unset {
				if got, ok := repl.Get(k); ok {
					t.Errorf("{%s} = %v, want unset", k, got)
				}
			}
			if tt.want[gateway.PlaceholderResult] == gateway.ResultRevoked {
				if hash, _ := repl.GetString(gateway.PlaceholderHash); len(hash) != 12 {
					t.Errorf("{%s} = %q, want 12 hex digits", gateway.PlaceholderHash, hash)
				}
			}
		})
	}
}

// TestPlaceholdersKeepTheCheckAllocationFree: with the request's replacer
// present (as in Caddy), a request with no token and one with a live
// opaque token still cost no allocation.
func TestPlaceholdersKeepTheCheckAllocationFree(t *testing.T) {
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/oauth/revoke"}}}, nil)
	for name, r := range map[string]*http.Request{
		"no token":          httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil),
		"live opaque token": bearer("/api/items?page=2", benchOpaque),
	} {
		repl := caddy.NewReplacer()
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
		w := &discardWriter{h: http.Header{}}
		n := testing.AllocsPerRun(200, func() {
			if err := h.ServeHTTP(w, r, nopNext{}); err != nil {
				t.Fatal(err)
			}
		})
		if got, _ := repl.GetString(gateway.PlaceholderResult); got == "" {
			t.Errorf("%s: no result placeholder set", name)
		}
		if n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", name, n)
		}
	}
}
