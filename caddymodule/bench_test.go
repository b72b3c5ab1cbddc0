package caddymodule

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// The request check benchmarks (BenchmarkCheck*) measure ServeHTTP on a
// request that is not a revocation route, with a next handler that does
// nothing: route matching, token extraction, parsing, hashing and the
// in-memory look-up, which is what every proxied request pays. The store is
// a Redis store in mirror mode holding benchCheckEntries other revocations.
// `make bench` reports them.

const benchCheckEntries = 10_000

// benchJWT is a Keycloak-like access token (unsigned: the check path never
// verifies signatures).
var benchJWT = jwt(map[string]any{
	"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	"jti": "1f0c3c3e-5e7a-4d8e-9a43-5b4f3c8d2a11", "iss": "https://idp.example.com/realms/demo",
	"aud": "account", "sub": "6f1c2d4e-8b7a-4c3d-9e2f-1a0b9c8d7e6f", "typ": "Bearer",
	"azp": "web", "sid": "0b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "scope": "openid profile email",
	"email_verified": true, "preferred_username": "alice", "email": "alice@example.com",
})

// benchOpaque is a 43-character opaque token, as many servers issue.
const benchOpaque = "h4Qw9tY2pL7vX3mN8sK1rD6fG0jZ5cB2aE4uI7oPqRs"

type nopNext struct{}

func (nopNext) ServeHTTP(http.ResponseWriter, *http.Request) error { return nil }

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler rather than a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// newBenchHandler provisions a handler on a Redis store in mirror mode (the
// default) holding benchCheckEntries unrelated revocations.
func newBenchHandler(b *testing.B, hmacKey string) *Handler {
	b.Helper()
	return newBenchHandlerWith(b, &Handler{HMACKey: hmacKey})
}

// newBenchHandlerWith is newBenchHandler for the settings in h.
func newBenchHandlerWith(b *testing.B, h *Handler) *Handler {
	b.Helper()
	h.Routes = []*route.Route{{Type: "revoke", Path: "/oauth/revoke"}}
	h.logger = zap.NewNop()
	if err := h.setup(); err != nil {
		b.Fatal(err)
	}
	srv := redistest.Start(b)
	ctx := context.Background()
	rs, err := redisstore.OpenRedis(ctx, redisstore.RedisOptions{Addrs: []string{srv.Addr}})
	if err != nil {
		b.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	entries := make([]denylist.Entry, 0, benchCheckEntries)
	for i := 0; i < benchCheckEntries; i++ {
		k := h.gw.Keys.Hasher.Key(denylist.KindToken, "", []byte(fmt.Sprintf("other-%d", i)))
		entries = append(entries, denylist.NewEntry(k, time.Now(), exp))
	}
	if err := rs.Revoke(ctx, entries...); err != nil {
		b.Fatal(err)
	}
	m, err := redisstore.OpenMirror(ctx, rs, redisstore.MirrorOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	h.useStore(m)
	return h
}

// revokeForBench revokes tok by its identity.
func revokeForBench(b *testing.B, h *Handler, tok string) {
	b.Helper()
	t := token.Parse(tok)
	e := denylist.NewEntry(h.gw.Keys.Hasher.Key(denylist.KindToken, "", t.Identity()...), time.Now(), time.Now().Add(time.Hour))
	if err := h.gw.Store.Revoke(context.Background(), e); err != nil {
		b.Fatal(err)
	}
}

func benchCheck(b *testing.B, tok string, revoked bool, hmacKey string) {
	r := httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	benchCheckRequest(b, newBenchHandler(b, hmacKey), r, tok, revoked)
}

// benchCheckRequest measures h.ServeHTTP of r, which carries tok (revoked
// or not).
func benchCheckRequest(b *testing.B, h *Handler, r *http.Request, tok string, revoked bool) {
	if revoked {
		revokeForBench(b, h, tok)
	}
	r.Header.Set("Accept", "application/json")
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	r = r.WithContext(ctx)
	want := http.StatusOK
	if revoked {
		want = http.StatusUnauthorized
	}
	w := &discardWriter{h: http.Header{}}
	if err := h.ServeHTTP(w, r, nopNext{}); err != nil {
		b.Fatal(err)
	}
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.code != want {
		b.Fatalf("status %d, want %d", w.code, want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	reportCPUPerOp(b)
	for i := 0; i < b.N; i++ {
		if revoked {
			clear(w.h) // the 401 sets WWW-Authenticate every time
		}
		_ = h.ServeHTTP(w, r, nopNext{})
	}
}

func BenchmarkCheckOpaque(b *testing.B)  { benchCheck(b, benchOpaque, false, "") }
func BenchmarkCheckNoToken(b *testing.B) { benchCheck(b, "", false, "") }

// BenchmarkCheckOpaqueEveryChannel: an opaque token in the Authorization
// header of a request that also has a query, cookies and a configured
// header, with every channel configured (issue 9's readers at work).
func BenchmarkCheckOpaqueEveryChannel(b *testing.B) {
	h := newBenchHandlerWith(b, &Handler{Cookies: []string{"session"}, Headers: []string{"X-Api-Key"}})
	r := httptest.NewRequest(http.MethodGet, "/api/items?page=2&sort=name", nil)
	r.Header.Set("Authorization", "Bearer "+benchOpaque)
	r.Header.Set("Cookie", "theme=dark; lang=en")
	r.Header.Set("User-Agent", "bench")
	benchCheckRequest(b, h, r, benchOpaque, false)
}
func BenchmarkCheckOpaqueRevoked(b *testing.B) { benchCheck(b, benchOpaque, true, "") }
func BenchmarkCheckJWT(b *testing.B)           { benchCheck(b, benchJWT, false, "") }
func BenchmarkCheckJWTRevoked(b *testing.B)    { benchCheck(b, benchJWT, true, "") }

// BenchmarkCheckJWTFirstSeen checks a JWT not seen lately on every
// iteration (firstSeenTokens distinct tokens in turn, more than the query
// cache holds): the parse and the four digests, which BenchmarkCheckJWT
// pays only once.
func BenchmarkCheckJWTFirstSeen(b *testing.B) {
	h := newBenchHandler(b, "")
	reqs := firstSeenRequests()
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = h.ServeHTTP(w, reqs[i%len(reqs)], nopNext{})
	}
	if w.code != 0 {
		b.Fatalf("status %d, want every token passed on", w.code)
	}
}

// BenchmarkCheckJWTNew checks a JWT never seen before on every iteration,
// with its bytes in the CPU's cache, as a request just read from the
// network has them: one request whose token carries a counter in its jti,
// rewritten in place (BenchmarkCheckJWTFirstSeen reads each of its tokens
// from main memory). Nothing keeps the token's bytes past the check (the
// query cache keeps hashes), so rewriting them is safe here.
func BenchmarkCheckJWTNew(b *testing.B) {
	h := newBenchHandler(b, "")
	// The jti's 12 counter bytes start at payload offset 9, a multiple
	// of 3: they are 16 base64 characters of their own.
	payload := `{"jti":"X000000000000","exp":` + strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) +
		`,"iat":` + strconv.FormatInt(time.Now().Unix(), 10) + `,"iss":"https://idp.example.com/realms/demo","aud":"account",` +
		`"sub":"6f1c2d4e-8b7a-4c3d-9e2f-1a0b9c8d7e6f","typ":"Bearer","azp":"web","sid":"0b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",` +
		`"scope":"openid profile email","email_verified":true,"preferred_username":"alice","email":"alice@example.com"}`
	head := "Bearer " + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "."
	buf := []byte(head + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2lnbmF0dXJl")
	counter := buf[len(head)+12 : len(head)+28]
	r := httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil)
	r.Header["Authorization"] = []string{unsafe.String(&buf[0], len(buf))}
	w := &discardWriter{h: http.Header{}}
	var jti [12]byte
	next := func(i int) {
		for j := len(jti) - 1; j >= 0; j-- {
			jti[j] = "0123456789abcdef"[i&15]
			i >>= 4
		}
		base64.RawURLEncoding.Encode(counter, jti[:])
	}
	next(-1)
	if tok := token.Parse(string(buf[len("Bearer "):])); !tok.JWT || tok.Claims.ID != "Xffffffffffff" {
		b.Fatalf("the benchmark's token reads as %+v", tok)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next(i)
		_ = h.ServeHTTP(w, r, nopNext{})
	}
	if w.code != 0 {
		b.Fatalf("status %d, want every token passed on", w.code)
	}
}

// firstSeenTokens is twice what the query cache can hold in one shard's
// two generations, times the shards: every token has left the cache when
// it comes round again.
const firstSeenTokens = 2 * engine.MaxCachedQueries

// firstSeenRequests are made once per test binary, not once per b.N tried.
var firstSeenRequests = sync.OnceValue(func() []*http.Request {
	reqs := make([]*http.Request, firstSeenTokens)
	for i := range reqs {
		tok := jwt(map[string]any{
			"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "jti": fmt.Sprintf("jti-%d", i),
			"iss": "https://idp.example.com/realms/demo", "aud": "account", "sub": "6f1c2d4e-8b7a-4c3d-9e2f-1a0b9c8d7e6f",
			"typ": "Bearer", "azp": "web", "sid": "0b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "scope": "openid profile email",
			"email_verified": true, "preferred_username": "alice", "email": "alice@example.com",
		})
		reqs[i] = httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil)
		reqs[i].Header.Set("Authorization", "Bearer "+tok)
	}
	return reqs
})

// With hmac_key set: HMAC-SHA-256 digests.
func BenchmarkCheckOpaqueHMAC(b *testing.B) { benchCheck(b, benchOpaque, false, "bench-key") }
func BenchmarkCheckJWTHMAC(b *testing.B)    { benchCheck(b, benchJWT, false, "bench-key") }
