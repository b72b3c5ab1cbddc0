package caddymodule

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// The whole-request scan's benchmarks (issue 22): a request a browser
// sends, with no token, and a 64 KiB JSON body. The denylist holds an
// opaque token of benchOpaque's length revoked through a route, as a
// deployment whose IdP issues opaque tokens has.

// browserHeaders are the headers of a browser's request to an API: ten
// headers, a 300-byte cookie of analytics and session ids.
var browserHeaders = [][2]string{
	{"Host", "api.example.com"},
	{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
	{"Accept", "application/json, text/plain, */*"},
	{"Accept-Language", "en-US,en;q=0.9,de;q=0.8"},
	{"Accept-Encoding", "gzip, deflate, br, zstd"},
	{"Referer", "https://app.example.com/dashboard/projects/42?tab=settings"},
	{"Origin", "https://app.example.com"},
	{"Sec-Fetch-Mode", "cors"},
	{"Sec-Fetch-Site", "same-site"},
	{"Cookie", "_ga=GA1.2.1234567890.1701234567; _gid=GA1.2.987654321.1701234567; theme=dark; " +
		"locale=en-US; _hjSessionUser_123456=eyJpZCI6ImFiY2RlZiIsImNyZWF0ZWQiOjE3MDEyMzQ1Njd9; " +
		"csrftoken=Zx8Qm3Lp0Vb7Nc2Kd9Rf4Tg6Hj1Wy5Ue; consent=necessary%2Canalytics; " +
		"ajs_anonymous_id=%22b2f7c9e4-1a3d-4e5f-8a9b-0c1d2e3f4a5b%22; sidebar=collapsed"},
}

// revokeThroughRoute revokes tok as a revoke route does (its length's
// marker too, where the code stores one).
func revokeThroughRoute(b *testing.B, h *Handler, tok string) {
	b.Helper()
	rev := &engine.Revocation{Tokens: []token.Token{token.Parse(tok)}}
	if err := h.gw.Record(context.Background(), "revoke /oauth/revoke", rev); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkCheckBrowserNoToken(b *testing.B) {
	h := newBenchHandler(b, "")
	revokeThroughRoute(b, h, strings.Repeat("r", len(benchOpaque)))
	r := httptest.NewRequest(http.MethodGet, "/api/v2/projects/42/items?page=2&sort=updated_at", nil)
	for _, kv := range browserHeaders {
		r.Header.Set(kv[0], kv[1])
	}
	benchCheckRequest(b, h, r, "", false)
}

// jsonBody64K is a 64 KiB JSON array of records as an API takes them.
func jsonBody64K() []byte {
	var buf bytes.Buffer
	buf.WriteString("[")
	for i := 0; buf.Len() < 64<<10-400; i++ {
		if i > 0 {
			buf.WriteString(",")
		}
		fmt.Fprintf(&buf, `{"id":"%08x-1a3d-4e5f-8a9b-0c1d2e3f4a5b","name":"Item number %d","description":"A description of the item, with words and \"quotes\" and more words.","price":%d.99,"tags":["red","large","sale"],"updated_at":"2026-12-04T16:%02d:00Z"}`, i, i, i%500, i%60)
	}
	buf.WriteString("]")
	return buf.Bytes()
}

func BenchmarkCheckJSONBody64K(b *testing.B) {
	h := newBenchHandler(b, "")
	revokeThroughRoute(b, h, strings.Repeat("r", len(benchOpaque)))
	body := jsonBody64K()
	ctx := context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer())
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	w := &discardWriter{h: http.Header{}}
	rd := bytes.NewReader(body)
	r := httptest.NewRequest(http.MethodPost, "/api/items", nil).WithContext(ctx)
	r.Header.Set("Content-Type", "application/json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	reportCPUPerOp(b)
	for i := 0; i < b.N; i++ {
		rd.Reset(body)
		r.Body, r.ContentLength = io.NopCloser(rd), int64(len(body))
		w.code = 0
		if err := h.ServeHTTP(w, r, nopNext{}); err != nil || w.code > 299 {
			b.Fatalf("%v %d", err, w.code)
		}
	}
}
