package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/admin"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
)

// adminLike serves h as Caddy's admin endpoint serves an AdminRoute: an
// error is answered with its status and {"error": message}.
func adminLike(h caddy.AdminHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h.ServeHTTP(w, r)
		if err == nil {
			return
		}
		var ae caddy.APIError
		if !errors.As(err, &ae) {
			ae = caddy.APIError{HTTPStatus: http.StatusInternalServerError, Err: err}
		}
		if ae.Message == "" && ae.Err != nil {
			ae.Message = ae.Err.Error()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(ae.HTTPStatus)
		_ = json.NewEncoder(w).Encode(ae)
	})
}

// startAdmin registers hs as the handlers of one running config and
// serves the admin API over HTTP on loopback.
func startAdmin(t *testing.T, hs ...*Handler) *httptest.Server {
	t.Helper()
	config := prometheus.NewRegistry()
	for _, h := range hs {
		s := h.newServed()
		admin.RegisterLiveIn(config, s)
		t.Cleanup(func() { admin.UnregisterLive(s) })
	}
	mux := http.NewServeMux()
	for _, r := range (admin.AdminAPI{}).Routes() {
		mux.Handle(r.Pattern, adminLike(r.Handler))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

type apiResult struct {
	status int
	header http.Header
	body   string // the error message when the body is an API error
}

// call sends a request to the admin API; body, when not a string, is
// encoded as JSON.
func call(t *testing.T, srv *httptest.Server, method, path string, body any) apiResult {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(j))
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := apiResult{res.StatusCode, res.Header, string(b)}
	var ae struct {
		Error string `json:"error"`
	}
	if res.StatusCode >= 400 {
		if err := json.Unmarshal(b, &ae); err != nil || !strings.HasPrefix(ae.Error, "token_revocation: ") {
			t.Errorf("%s %s: %d %s is not a Caddy API error starting with token_revocation:", method, path, res.StatusCode, b)
		}
		out.body = ae.Error
	}
	return out
}

// ok fails the test unless r is 200, then decodes its body into out.
func (r apiResult) ok(t *testing.T, out any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(r.body), out); err != nil {
			t.Fatalf("decoding %s: %v", r.body, err)
		}
	}
}

func strp(s string) *string { return &s }

// thumbprint is a SHA-256 thumbprint as a cnf claim spells it: 43
// base64url characters.
func thumbprint(of string) string {
	sum := sha256.Sum256([]byte(of))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestAdminRevokeUnrevokeEveryKind(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	srv := startAdmin(t, h)
	up := &upstream{}
	now := time.Now().Unix()
	iss := "https://idp.example"
	opaque := "opaque-token-0123456789"
	mixed := "Opaque-Token-ABCdef0123456789"
	secret := "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	tokJTI := jwt(map[string]any{"iss": iss, "jti": "j-1", "iat": now - 10, "exp": now + 600})
	tokSession := jwt(map[string]any{"iss": iss, "sid": "s-1", "iat": now - 10, "exp": now + 600})
	tokUser := jwt(map[string]any{"iss": iss, "sub": "alice", "iat": now - 10, "exp": now + 600})
	// Tokens bound to a key (RFC 7800 cnf): a DPoP key's, a certificate's.
	jkt, x5t := thumbprint("dpop key"), thumbprint("client certificate")
	tokJKT := jwt(map[string]any{"iss": iss, "sub": "bob", "cnf": map[string]any{"jkt": jkt}, "iat": now - 10, "exp": now + 600})
	tokX5T := jwt(map[string]any{"iss": iss, "sub": "bob", "cnf": map[string]any{"x5t#S256": x5t}, "iat": now - 10, "exp": now + 600})

	tests := []struct {
		name    string
		req     admin.AdminRequest
		tok     string
		kind    string
		checkBy admin.AdminRequest // what check is called with
		// variants: other strings the revocation revokes (and the
		// unrevocation gives back): the token in another case, its part.
		variants []string
	}{
		{"token", admin.AdminRequest{Token: opaque}, opaque, "token", admin.AdminRequest{Token: opaque}, nil},
		{"token in mixed case", admin.AdminRequest{Token: mixed}, mixed, "token", admin.AdminRequest{Token: mixed},
			[]string{strings.ToLower(mixed), strings.ToUpper(mixed)}},
		{"token with a secret part", admin.AdminRequest{Token: "5|" + secret}, "5|" + secret, "token", admin.AdminRequest{Token: "5|" + secret},
			[]string{secret, strings.ToUpper(secret), "5|" + strings.ToLower(secret)}},
		{"jti", admin.AdminRequest{JTI: "j-1", Issuer: strp(iss)}, tokJTI, "jti", admin.AdminRequest{Token: tokJTI}, nil},
		{"session", admin.AdminRequest{Session: "s-1", Issuer: strp(iss)}, tokSession, "session", admin.AdminRequest{Session: "s-1", Issuer: strp(iss)}, nil},
		{"user", admin.AdminRequest{User: "alice", Issuer: strp(iss)}, tokUser, "user", admin.AdminRequest{User: "alice", Issuer: strp(iss)}, nil},
		{"jkt", admin.AdminRequest{JKT: jkt}, tokJKT, "cnf", admin.AdminRequest{Token: tokJKT}, nil},
		{"x5t#S256", admin.AdminRequest{X5TS256: x5t}, tokX5T, "cnf", admin.AdminRequest{X5TS256: x5t}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res := serve(t, h, up, bearer("/api", tt.tok)); res.status != http.StatusOK {
				t.Fatalf("before revoking: %d, want 200", res.status)
			}
			before := counterValue(gateway.MetricRevocations.WithLabelValues("admin", tt.kind))

			var rev admin.AdminRevokeResponse
			call(t, srv, http.MethodPost, "/token-revocation/revoke", tt.req).ok(t, &rev)
			if len(rev.Revoked) != 1 || rev.Revoked[0].Kind != tt.kind {
				t.Fatalf("revoked %+v, want one %s entry", rev.Revoked, tt.kind)
			}
			if got := counterValue(gateway.MetricRevocations.WithLabelValues("admin", tt.kind)); got != before+1 {
				t.Errorf("revocations_total{route=admin,kind=%s} = %v, want %v", tt.kind, got, before+1)
			}
			if res := serve(t, h, up, bearer("/api", tt.tok)); res.status != http.StatusUnauthorized {
				t.Fatalf("after revoking: %d, want 401", res.status)
			}
			for _, v := range tt.variants {
				if res := serve(t, h, up, bearer("/api", v)); res.status != http.StatusUnauthorized {
					t.Errorf("after revoking, %q: %d, want 401", v, res.status)
				}
			}

			var chk admin.AdminCheckResponse
			call(t, srv, http.MethodPost, "/token-revocation/check", tt.checkBy).ok(t, &chk)
			if !chk.Revoked || chk.Entry == nil || chk.Entry.Kind != tt.kind || chk.Entry.Key != rev.Revoked[0].Key {
				t.Fatalf("check after revoking: %+v, want revoked by %s", chk, rev.Revoked[0].Key)
			}

			var un admin.AdminUnrevokeResponse
			call(t, srv, http.MethodPost, "/token-revocation/unrevoke", tt.req).ok(t, &un)
			if len(un.Removed) != 1 || un.Removed[0].Key != rev.Revoked[0].Key || un.StillRevokedBy != nil {
				t.Fatalf("unrevoke: %+v", un)
			}
			if res := serve(t, h, up, bearer("/api", tt.tok)); res.status != http.StatusOK {
				t.Fatalf("after un-revoking: %d, want 200", res.status)
			}
			for _, v := range tt.variants {
				if res := serve(t, h, up, bearer("/api", v)); res.status != http.StatusOK {
					t.Errorf("after un-revoking, %q: %d, want 200", v, res.status)
				}
			}
			call(t, srv, http.MethodPost, "/token-revocation/check", tt.checkBy).ok(t, &chk)
			if chk.Revoked {
				t.Fatalf("check after un-revoking: %+v, want not revoked", chk)
			}
			// A second unrevoke finds nothing.
			un = admin.AdminUnrevokeResponse{}
			call(t, srv, http.MethodPost, "/token-revocation/unrevoke", tt.req).ok(t, &un)
			if len(un.Removed) != 0 || len(un.NotFound) != 1 {
				t.Fatalf("second unrevoke: %+v, want not_found", un)
			}
		})
	}
}

func TestAdminSessionCutoff(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	srv := startAdmin(t, h)
	up := &upstream{}
	now := time.Now().Unix()
	iss := "https://idp.example"
	skew := int64(time.Duration(h.ClockSkew) / time.Second)
	old := jwt(map[string]any{"iss": iss, "sid": "s", "iat": now - 100, "exp": now + 600})
	// Issued later than the cut-off below by more than the clock skew.
	fresh := jwt(map[string]any{"iss": iss, "sid": "s", "iat": now - 50 + skew + 10, "exp": now + 600})

	// Cutoff as Unix seconds: tokens issued until now-50 (+ the clock
	// skew) are revoked.
	body := fmt.Sprintf(`{"issuer": %q, "session": "s", "cutoff": %d}`, iss, now-50)
	var rev admin.AdminRevokeResponse
	call(t, srv, http.MethodPost, "/token-revocation/revoke", body).ok(t, &rev)
	if c := rev.Revoked[0].Cutoff; c == nil || c.Unix() != now-50 {
		t.Fatalf("cutoff %v, want %d", c, now-50)
	}
	if res := serve(t, h, up, bearer("/api", old)); res.status != http.StatusUnauthorized {
		t.Errorf("token issued before the cutoff: %d, want 401", res.status)
	}
	if res := serve(t, h, up, bearer("/api", fresh)); res.status != http.StatusOK {
		t.Errorf("token issued after the cutoff: %d, want 200", res.status)
	}

	// Cutoff as RFC 3339: now covers the fresh token too; the entry merges.
	body = fmt.Sprintf(`{"issuer": %q, "session": "s", "cutoff": %q}`, iss, time.Unix(now, 0).UTC().Format(time.RFC3339))
	call(t, srv, http.MethodPost, "/token-revocation/revoke", body).ok(t, &rev)
	if res := serve(t, h, up, bearer("/api", fresh)); res.status != http.StatusUnauthorized {
		t.Errorf("token issued before the later cutoff: %d, want 401", res.status)
	}

	// A cutoff beyond max_token_lifetime is refused.
	body = fmt.Sprintf(`{"issuer": %q, "session": "s", "cutoff": %d}`, iss, now+int64(2*DefaultMaxTokenLifetime/time.Second))
	if res := call(t, srv, http.MethodPost, "/token-revocation/revoke", body); res.status != http.StatusBadRequest || !strings.Contains(res.body, "max_token_lifetime") {
		t.Errorf("far-future cutoff: %d %s, want 400 naming max_token_lifetime", res.status, res.body)
	}
}

// TestAdminBoundKeyUntil: a bound key is revoked until the time given,
// by default for max_token_lifetime, and whatever the tokens' iat: one
// issued after the revocation is refused too (issue 25, item 4).
func TestAdminBoundKeyUntil(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	srv := startAdmin(t, h)
	now := time.Now()
	jkt := thumbprint("dpop key")
	var rev admin.AdminRevokeResponse
	call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{JKT: jkt}).ok(t, &rev)
	if len(rev.Revoked) != 1 || rev.Revoked[0].Cutoff != nil || !strings.HasPrefix(rev.Revoked[0].Key, "k:") {
		t.Fatalf("revoked %+v, want one cnf entry k:..., no cutoff", rev.Revoked)
	}
	if exp := rev.Revoked[0].Expires; exp.Before(now.Add(time.Duration(h.MaxTokenLifetime))) {
		t.Errorf("kept until %s, want at least max_token_lifetime (%s) from now", exp, time.Duration(h.MaxTokenLifetime))
	}
	until := now.Add(30 * 24 * time.Hour).Truncate(time.Second).UTC()
	call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{JKT: jkt, Until: &admin.Timestamp{Time: until}}).ok(t, &rev)
	if exp := rev.Revoked[0].Expires; !exp.Equal(until) {
		t.Errorf("kept until %s, want the until given, %s", exp, until)
	}
	later := jwt(map[string]any{"iss": "https://idp.example", "cnf": map[string]any{"jkt": jkt}, "iat": now.Unix() + 60, "exp": now.Unix() + 600})
	if res := serve(t, h, &upstream{}, bearer("/api", later)); res.status != http.StatusUnauthorized {
		t.Errorf("a token bound to the key, issued after the revocation: %d, want 401", res.status)
	}
}

func TestAdminUnrevokeTokenStillRevokedBySession(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	srv := startAdmin(t, h)
	now := time.Now().Unix()
	tok := jwt(map[string]any{"iss": "i", "sid": "s", "iat": now - 10, "exp": now + 600})
	call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Token: tok}).ok(t, nil)
	var sess admin.AdminRevokeResponse
	call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Session: "s", Issuer: strp("i")}).ok(t, &sess)

	var un admin.AdminUnrevokeResponse
	call(t, srv, http.MethodPost, "/token-revocation/unrevoke", admin.AdminRequest{Token: tok}).ok(t, &un)
	if len(un.Removed) != 1 || un.StillRevokedBy == nil || un.StillRevokedBy.Key != sess.Revoked[0].Key {
		t.Fatalf("unrevoke of a token whose session is revoked: %+v, want still_revoked_by %s", un, sess.Revoked[0].Key)
	}
	// Removing the session by its key lets the token through.
	call(t, srv, http.MethodPost, "/token-revocation/unrevoke", admin.AdminRequest{Key: un.StillRevokedBy.Key}).ok(t, &un)
	if res := serve(t, h, &upstream{}, bearer("/api", tok)); res.status != http.StatusOK {
		t.Fatalf("after removing the session by key: %d, want 200", res.status)
	}
}

func TestAdminExpiredTokenNothingToRevoke(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	srv := startAdmin(t, h)
	tok := jwt(map[string]any{"iss": "i", "exp": time.Now().Unix() - 3600})
	var rev admin.AdminRevokeResponse
	call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Token: tok}).ok(t, &rev)
	if len(rev.Revoked) != 0 || !strings.Contains(rev.Note, "expired") {
		t.Fatalf("revoking an expired token: %+v, want nothing revoked and a note", rev)
	}
}

func TestAdminNamespaces(t *testing.T) {
	h := newTestHandler(t, &Handler{Namespace: "{http.request.header.tenant}"}, nil)
	srv := startAdmin(t, h)
	res := call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Token: "t1"})
	if res.status != http.StatusBadRequest || !strings.Contains(res.body, "give the namespace") {
		t.Fatalf("template namespace without namespace: %d %s, want 400 asking for it", res.status, res.body)
	}
	var rev admin.AdminRevokeResponse
	call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Token: "t1", Namespace: strp("acme")}).ok(t, &rev)
	if rev.Namespace != "acme" {
		t.Fatalf("namespace %q, want acme", rev.Namespace)
	}
	// The token itself is revoked in every namespace (the request names
	// the tenant).
	for tenant, want := range map[string]int{"acme": http.StatusUnauthorized, "other": http.StatusUnauthorized} {
		r := bearer("/api", "t1")
		r.Header.Set("Tenant", tenant)
		if res := serveHTTP(t, h, &upstream{}, r); res.status != want {
			t.Errorf("tenant %s: %d, want %d", tenant, res.status, want)
		}
	}

	// A constant namespace is the default.
	c := newTestHandler(t, &Handler{Namespace: "fixed"}, nil)
	srv = startAdmin(t, c)
	call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Token: "t2"}).ok(t, &rev)
	if rev.Namespace != "fixed" {
		t.Fatalf("default namespace %q, want fixed", rev.Namespace)
	}
	if res := serve(t, c, &upstream{}, bearer("/api", "t2")); res.status != http.StatusUnauthorized {
		t.Errorf("token revoked in the default namespace: %d, want 401", res.status)
	}
}

func TestAdminListPaging(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	srv := startAdmin(t, h)
	want := map[string]bool{}
	for i := range 7 {
		var rev admin.AdminRevokeResponse
		call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Session: fmt.Sprint("s", i), Issuer: strp("i")}).ok(t, &rev)
		want[rev.Revoked[0].Key] = true
	}
	got := map[string]bool{}
	cursor, pages := "", 0
	for {
		q := url.Values{"limit": {"3"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page admin.AdminListResponse
		call(t, srv, http.MethodGet, "/token-revocation/entries?"+q.Encode(), nil).ok(t, &page)
		pages++
		if len(page.Entries) > 3 {
			t.Fatalf("page of %d entries, limit 3", len(page.Entries))
		}
		for _, e := range page.Entries {
			if got[e.Key] {
				t.Errorf("entry %s listed twice", e.Key)
			}
			got[e.Key] = true
			if e.Kind != "session" || e.Cutoff == nil || e.Hash == "" {
				t.Errorf("entry %+v: want a session with cutoff and hash", e)
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(got) != len(want) || pages != 3 {
		t.Fatalf("listed %d entries in %d pages, want %d in 3", len(got), pages, len(want))
	}
	for k := range want {
		if !got[k] {
			t.Errorf("entry %s not listed", k)
		}
	}
}

func TestAdminStatus(t *testing.T) {
	store, err := boltstore.OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	a := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/a/revoke"}}}, store)
	b := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/b/revoke"}}}, store)
	a.gw.StoreKey, b.gw.StoreKey = "embedded:test", "embedded:test"
	srv := startAdmin(t, a, b)
	call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Token: "x"}).ok(t, nil)
	var st admin.AdminStatusResponse
	call(t, srv, http.MethodGet, "/token-revocation/status", nil).ok(t, &st)
	if len(st.Handlers) != 1 {
		t.Fatalf("status lists %d handlers, want the two identical ones as one: %+v", len(st.Handlers), st)
	}
	hs := st.Handlers[0]
	if hs.Instances != 2 || !hs.Store.Healthy || hs.Store.Backend != "embedded" || hs.Store.Entries != 1 ||
		strings.Join(hs.Routes, ",") != "revoke /a/revoke,revoke /b/revoke" || hs.FailMode != FailClosed {
		t.Fatalf("status %+v", hs)
	}
}

func TestAdminPicksHandler(t *testing.T) {
	h1 := newTestHandler(t, &Handler{Name: "api", Namespace: "one"}, nil)
	h2 := newTestHandler(t, &Handler{Name: "web", Namespace: "two"}, nil)
	h3 := newTestHandler(t, &Handler{Namespace: "three"}, nil)
	srv := startAdmin(t, h1, h2, h3)

	res := call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Token: "x"})
	if res.status != http.StatusBadRequest || !strings.Contains(res.body, "?handler=") || !strings.Contains(res.body, `"api"`) {
		t.Fatalf("several handlers, none picked: %d %s, want 400 naming them", res.status, res.body)
	}
	var rev admin.AdminRevokeResponse
	call(t, srv, http.MethodPost, "/token-revocation/revoke?handler=web", admin.AdminRequest{Token: "x"}).ok(t, &rev)
	if rev.Handler != "web" || rev.Namespace != "two" {
		t.Fatalf("?handler=web answered by %q in namespace %q", rev.Handler, rev.Namespace)
	}
	if r := serve(t, h2, &upstream{}, bearer("/", "x")); r.status != http.StatusUnauthorized {
		t.Errorf("handler web after its revocation: %d, want 401", r.status)
	}
	if r := serve(t, h1, &upstream{}, bearer("/", "x")); r.status != http.StatusOK {
		t.Errorf("handler api after web's revocation: %d, want 200", r.status)
	}
	call(t, srv, http.MethodPost, "/token-revocation/check?handler=", admin.AdminRequest{Token: "x"}).ok(t, nil) // the unnamed one
	res = call(t, srv, http.MethodGet, "/token-revocation/entries?handler=nope", nil)
	if res.status != http.StatusNotFound || !strings.Contains(res.body, `"web"`) {
		t.Fatalf("unknown handler: %d %s, want 404 listing the names", res.status, res.body)
	}
	var st admin.AdminStatusResponse
	call(t, srv, http.MethodGet, "/token-revocation/status", nil).ok(t, &st)
	if len(st.Handlers) != 3 {
		t.Fatalf("status lists %d handlers, want 3", len(st.Handlers))
	}
}

func TestAdminNoHandler(t *testing.T) {
	srv := startAdmin(t)
	res := call(t, srv, http.MethodGet, "/token-revocation/status", nil)
	// Handlers of other tests may be registered, but never as the newest
	// config; with none at all the answer is 404.
	if res.status != http.StatusOK && res.status != http.StatusNotFound {
		t.Fatalf("status without handlers: %d %s", res.status, res.body)
	}
	admin.LiveHandlers.Lock()
	n := len(admin.LiveHandlers.M)
	admin.LiveHandlers.Unlock()
	if n == 0 && (res.status != http.StatusNotFound || !strings.Contains(res.body, "no token_revocation handler")) {
		t.Fatalf("status without handlers: %d %s, want 404", res.status, res.body)
	}
}

func TestAdminBadRequests(t *testing.T) {
	h := newTestHandler(t, &Handler{MaxTokenSize: 16}, nil)
	srv := startAdmin(t, h)
	tests := []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"unknown endpoint", "GET", "/token-revocation/nope", nil, 404, "the endpoints are"},
		{"GET revoke", "GET", "/token-revocation/revoke", nil, 405, "use POST"},
		{"POST status", "POST", "/token-revocation/status", "{}", 405, "use GET"},
		{"empty body", "POST", "/token-revocation/revoke", "", 400, "the body is empty"},
		{"not JSON", "POST", "/token-revocation/revoke", "token=abc", 400, `the body is not JSON: the admin API reads JSON only; send a JSON object such as {"token": "..."} with Content-Type: application/json`},
		{"JSON not an object", "POST", "/token-revocation/revoke", `"abc"`, 400, "the body is JSON but not an object"},
		{"unknown field", "POST", "/token-revocation/revoke", `{"tokn": "x"}`, 400, `unknown field "tokn"`},
		{"two values", "POST", "/token-revocation/revoke", `{"token": "x"} {}`, 400, "more than one JSON value"},
		{"nothing named", "POST", "/token-revocation/revoke", `{"namespace": "x"}`, 400, "give one of token, jti, session, user, client, jkt or x5t#S256"},
		{"two named", "POST", "/token-revocation/revoke", `{"token": "x", "session": "s", "issuer": "i"}`, 400, "got token and session"},
		{"no issuer", "POST", "/token-revocation/revoke", `{"session": "s"}`, 400, "issuer is required with session"},
		{"issuer with token", "POST", "/token-revocation/revoke", `{"token": "x", "issuer": "i"}`, 400, "not with token"},
		{"cutoff with jti", "POST", "/token-revocation/revoke", `{"jti": "j", "issuer": "i", "cutoff": 1}`, 400, "cutoff applies only"},
		{"cutoff on unrevoke", "POST", "/token-revocation/unrevoke", `{"user": "u", "issuer": "i", "cutoff": 1}`, 400, "cutoff applies only"},
		{"bad cutoff", "POST", "/token-revocation/revoke", `{"user": "u", "issuer": "i", "cutoff": "yesterday"}`, 400, "RFC 3339"},
		{"key on revoke", "POST", "/token-revocation/revoke", `{"key": "s:00"}`, 400, "not key"},
		{"jkt with issuer", "POST", "/token-revocation/revoke", `{"jkt": "` + thumbprint("k") + `", "issuer": "i"}`, 400, "leave issuer out"},
		{"jkt with cutoff", "POST", "/token-revocation/revoke", `{"jkt": "` + thumbprint("k") + `", "cutoff": 1}`, 400, "leave cutoff out"},
		{"jkt not a thumbprint", "POST", "/token-revocation/revoke", `{"jkt": "abc"}`, 400, "give the 43 base64url characters"},
		{"x5t#S256 padded", "POST", "/token-revocation/check", `{"x5t#S256": "` + thumbprint("k") + `="}`, 400, "not a SHA-256 thumbprint"},
		{"jkt and x5t#S256", "POST", "/token-revocation/revoke", `{"jkt": "` + thumbprint("k") + `", "x5t#S256": "` + thumbprint("k") + `"}`, 400, "got jkt and x5t#S256"},
		{"until with user", "POST", "/token-revocation/revoke", `{"user": "u", "issuer": "i", "until": 4102444800}`, 400, "until applies only"},
		{"until on unrevoke", "POST", "/token-revocation/unrevoke", `{"jkt": "` + thumbprint("k") + `", "until": 4102444800}`, 400, "until applies only"},
		{"until past", "POST", "/token-revocation/revoke", `{"jkt": "` + thumbprint("k") + `", "until": "2020-01-02T15:04:05Z"}`, 400, "which is past: give a time to come"},
		{"bad until", "POST", "/token-revocation/revoke", `{"jkt": "` + thumbprint("k") + `", "until": "tomorrow"}`, 400, "RFC 3339"},
		{"bad key", "POST", "/token-revocation/unrevoke", `{"key": "s:00"}`, 400, "malformed entry key"},
		{"key with namespace", "POST", "/token-revocation/check", `{"key": "s:0123456789abcdef0123456789abcdef", "namespace": ""}`, 400, "leave them out"},
		{"token too long", "POST", "/token-revocation/check", `{"token": "0123456789abcdef0"}`, 400, "max_token_size (16 bytes)"},
		{"bad limit", "GET", "/token-revocation/entries?limit=0", nil, 400, "from 1 to 1000"},
		{"huge limit", "GET", "/token-revocation/entries?limit=5000", nil, 400, "from 1 to 1000"},
		{"bad cursor", "GET", "/token-revocation/entries?cursor=zz", nil, 400, "next_cursor"},
		{"huge body", "POST", "/token-revocation/revoke", `{"token": "` + strings.Repeat("a", admin.AdminMaxBody) + `"}`, 413, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := call(t, srv, tt.method, tt.path, tt.body)
			if res.status != tt.status || !strings.Contains(res.body, tt.want) {
				t.Fatalf("%d %s, want %d containing %q", res.status, res.body, tt.status, tt.want)
			}
			if tt.status == 405 && res.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
}

// TestAdminFormBodySaysJSON: a form body (curl -d token=...) is answered
// with what to send instead; on 5278a12 with "invalid character 'o' in
// literal true".
func TestAdminFormBodySaysJSON(t *testing.T) {
	srv := startAdmin(t, newTestHandler(t, &Handler{}, nil))
	res, err := srv.Client().Post(srv.URL+"/token-revocation/revoke", "application/x-www-form-urlencoded", strings.NewReader("token=abc"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ae struct {
		Error string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&ae); err != nil {
		t.Fatal(err)
	}
	want := "token_revocation: the body is not JSON (it was sent as application/x-www-form-urlencoded): the admin API reads JSON only"
	if res.StatusCode != http.StatusBadRequest || !strings.HasPrefix(ae.Error, want) {
		t.Errorf("%d %q, want 400 starting with %q", res.StatusCode, ae.Error, want)
	}
}

func TestAdminStoreUnavailable(t *testing.T) {
	h := newTestHandler(t, &Handler{}, brokenStore{})
	srv := startAdmin(t, h)
	before := counterValue(gateway.MetricStoreErrors.WithLabelValues("revoke"))
	res := call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{User: "u", Issuer: strp("i")})
	if res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, "nothing was changed; try again") {
		t.Fatalf("revoke with the store down: %d %s, want 503", res.status, res.body)
	}
	if got := counterValue(gateway.MetricStoreErrors.WithLabelValues("revoke")); got != before+1 {
		t.Errorf("store_errors_total{op=revoke} = %v, want %v", got, before+1)
	}
}

// TestNoRawTokenInLogs runs a revocation route, a rejection and an admin
// revocation, unrevocation and check with debug logging on, and finds no
// token (nor any part of a JWT) in any logged field.
func TestNoRawTokenInLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "revoke", Path: "/oauth/revoke"}}}, nil)
	h.logger = zap.New(core)
	h.gw.Logger = h.logger
	h.gw.ErrLog = route.NewRateLimitedLogger(h.gw.Logger, time.Second)
	srv := startAdmin(t, h)
	now := time.Now().Unix()
	viaRoute := jwt(map[string]any{"iss": "i", "jti": "jti-secret-1", "sid": "sid-secret", "iat": now, "exp": now + 600})
	viaAdmin := "opaque-admin-secret-token"
	up := &upstream{}

	if res := serve(t, h, up, formRequest("POST", "/oauth/revoke", url.Values{"token": {viaRoute}})); res.status != http.StatusOK {
		t.Fatalf("revoke route: %d", res.status)
	}
	if res := serve(t, h, up, bearer("/api", viaRoute)); res.status != http.StatusUnauthorized {
		t.Fatalf("rejection: %d", res.status)
	}
	call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Token: viaAdmin}).ok(t, nil)
	if res := serve(t, h, up, bearer("/api", viaAdmin)); res.status != http.StatusUnauthorized {
		t.Fatalf("rejection after the admin revocation: %d", res.status)
	}
	call(t, srv, http.MethodPost, "/token-revocation/check", admin.AdminRequest{Token: viaAdmin}).ok(t, nil)
	call(t, srv, http.MethodPost, "/token-revocation/unrevoke", admin.AdminRequest{Token: viaAdmin}).ok(t, nil)

	secrets := append([]string{viaAdmin, "sid-secret"}, strings.Split(viaRoute, ".")...)
	var revoked, rejected, adminLines int
	for _, e := range logs.All() {
		line := e.Message + " " + fmt.Sprint(e.ContextMap())
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line holds a token (or part of one) %q: %s", s, line)
			}
		}
		switch e.Message {
		case "revoked":
			revoked++
			if strings.HasPrefix(e.ContextMap()["route"].(string), "admin ") {
				adminLines++
			}
			if len(e.ContextMap()["hash"].(string)) != 12 {
				t.Errorf("revoked line without a 12-digit hash prefix: %v", e.ContextMap())
			}
		case "rejected revoked token":
			rejected++
		}
	}
	if revoked < 2 || adminLines != 1 || rejected != 2 {
		t.Fatalf("logged %d revoked lines (%d from admin) and %d rejections; want >= 2 (1) and 2:\n%v", revoked, adminLines, rejected, logs.All())
	}
}

func TestMetricsSurviveNewRegistry(t *testing.T) {
	reg1 := prometheus.NewPedanticRegistry()
	for range 2 { // two handlers of one config
		if err := admin.RegisterMetricsInto(reg1); err != nil {
			t.Fatal(err)
		}
	}
	gateway.CountRevocation("test_route", denylist.KindUser)
	want := counterValue(gateway.MetricRevocations.WithLabelValues("test_route", "user"))
	reg2 := prometheus.NewPedanticRegistry() // the next config
	if err := admin.RegisterMetricsInto(reg2); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg2.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "caddy_token_revocation_revocations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == "test_route" && labels["kind"] == "user" {
				found = m.GetCounter().GetValue() == want
			}
		}
	}
	if !found {
		t.Fatalf("the new registry does not show revocations_total{route=test_route,kind=user} = %v", want)
	}
}

func TestStoreMetricsCollected(t *testing.T) {
	h := newTestHandler(t, &Handler{}, nil)
	h.gw.StoreKey = "embedded:metrics-test"
	srv := startAdmin(t, h)
	call(t, srv, http.MethodPost, "/token-revocation/revoke", admin.AdminRequest{Token: "m"}).ok(t, nil)
	reg := prometheus.NewPedanticRegistry()
	if err := admin.RegisterMetricsInto(reg); err != nil {
		t.Fatal(err)
	}
	got := gatherStore(t, reg, "embedded:metrics-test")
	if got["caddy_token_revocation_store_entries"] != 1 || got["caddy_token_revocation_store_healthy"] != 1 {
		t.Fatalf("store gauges %v, want entries 1 and healthy 1", got)
	}
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// downStatus is a store whose backend does not answer.
type downStatus struct{ denylist.Store }

func (downStatus) Status(context.Context) denylist.Status {
	return denylist.Status{Backend: "redis", Error: "connection refused"}
}

func TestStoreMetricsUnhealthy(t *testing.T) {
	h := newTestHandler(t, &Handler{}, downStatus{})
	h.gw.StoreKey = "embedded:down-test"
	startAdmin(t, h)
	reg := prometheus.NewPedanticRegistry()
	if err := admin.RegisterMetricsInto(reg); err != nil {
		t.Fatal(err)
	}
	got := gatherStore(t, reg, "embedded:down-test")
	if v, ok := got["caddy_token_revocation_store_healthy"]; !ok || v != 0 {
		t.Errorf("store_healthy of a down store: %v (present %v), want 0", v, ok)
	}
	if _, ok := got["caddy_token_revocation_store_entries"]; ok {
		t.Error("store_entries reported for a store that does not answer: the count is unknown")
	}
}

// fakeMirror is a store with an in-process mirror whose shared store is
// down.
type fakeMirror struct{ downStatus }

func (fakeMirror) Freshness() (time.Duration, bool) { return 3 * time.Second, false }
func (fakeMirror) Len() int                         { return 42 }
func (fakeMirror) EventLag() time.Duration          { return 2 * time.Millisecond }

func TestStoreMetricsMirror(t *testing.T) {
	h := newTestHandler(t, &Handler{}, fakeMirror{})
	h.gw.StoreKey = "embedded:mirror-test"
	startAdmin(t, h)
	reg := prometheus.NewPedanticRegistry()
	if err := admin.RegisterMetricsInto(reg); err != nil {
		t.Fatal(err)
	}
	got := gatherStore(t, reg, "embedded:mirror-test")
	want := map[string]float64{
		"caddy_token_revocation_store_healthy":            0,
		"caddy_token_revocation_store_entries":            42, // known from the mirror while Redis is down
		"caddy_token_revocation_mirror_lag_seconds":       3,
		"caddy_token_revocation_mirror_fresh":             0,
		"caddy_token_revocation_mirror_event_lag_seconds": 0.002,
	}
	for name, v := range want {
		if g, ok := got[name]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", name, g, ok, v)
		}
	}
}

// gatherStore returns the gauges of store label from reg, by name.
func gatherStore(t *testing.T, reg *prometheus.Registry, store string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "store" && l.GetValue() == store {
					got[mf.GetName()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return got
}

func TestCaddyfileName(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("token_revocation {\n\tname api\n}")); err != nil {
		t.Fatal(err)
	}
	if h.Name != "api" {
		t.Fatalf("name %q, want api", h.Name)
	}
	if err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser("token_revocation {\n\tname\n}")); err == nil {
		t.Fatal("name without a value accepted")
	}
}

// TestAdminReadyNeedsARunningConfig: readiness is 503 while no config is
// running (Caddy has not started one: it is still loading), even when the
// loading config's handlers are provisioned and their stores ready, and
// when no handler is registered at all. Before the fix both answered 200,
// the second {"ready":true,"stores":{}}.
func TestAdminReadyNeedsARunningConfig(t *testing.T) {
	for name, hs := range map[string][]*Handler{
		"no handler yet":           nil,
		"handlers of a new config": {newTestHandler(t, &Handler{}, nil)},
	} {
		t.Run(name, func(t *testing.T) {
			srv := startAdmin(t, hs...)
			res := call(t, srv, http.MethodGet, "/token-revocation/ready", nil)
			if res.status != http.StatusServiceUnavailable || !strings.Contains(res.body, "not ready") {
				t.Errorf("ready with no running config: %d %s, want 503 not ready", res.status, res.body)
			}
		})
	}
}
