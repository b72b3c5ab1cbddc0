package caddymodule

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// revokeFails is a store whose writes fail as an unreachable backend's do.
type revokeFails struct{ denylist.Store }

func (revokeFails) Revoke(context.Context, ...denylist.Entry) error { return denylist.ErrUnavailable }

// TestForwardLongAnswer: a 2xx longer than max_upstream_answer is decided
// on its prefix and streamed; when the revocation cannot be stored, the
// answer is 503 and no byte of the upstream's goes out, also when the
// upstream (as Caddy's reverse proxy does) aborts with ErrAbortHandler on
// the failed write.
func TestForwardLongAnswer(t *testing.T) {
	long := bytes.Repeat([]byte("y"), 100<<10)
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(long); err != nil {
			panic(http.ErrAbortHandler)
		}
		return nil
	})
	req := func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/revoke", strings.NewReader("token=long"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/revoke", Mode: route.ModeForward}}, MaxUpstreamAnswer: 1024}, nil)
	if res := serve(t, h, next, req()); res.status != http.StatusOK || len(res.body) != len(long) {
		t.Fatalf("stored: %d, %d bytes", res.status, len(res.body))
	}
	h = newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/revoke", Mode: route.ModeForward}}, MaxUpstreamAnswer: 1024}, nil)
	h.useStore(revokeFails{h.gw.Store})
	res := serve(t, h, next, req())
	if res.status != http.StatusServiceUnavailable || strings.Contains(res.body, "yyyy") || res.header.Get("Retry-After") == "" {
		t.Fatalf("not stored: %d Retry-After=%q %.80s", res.status, res.header.Get("Retry-After"), res.body)
	}
}
