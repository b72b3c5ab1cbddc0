package caddymodule

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
)

// BenchmarkCheckJWTStatusList: a signed JWT's check without status_list
// (off), and with it (on: the token's entry in a cached list of 10^6
// entries, the token verified once before the timer starts): what the
// glue and the list look-up add to a cached JWT's check (issue 25's
// target: at most 100 ns).
func BenchmarkCheckJWTStatusList(b *testing.B) {
	secret := strings.Repeat("s", 32)
	key := []byte(secret)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 1_000_000/8))
	zw.Close()
	var list string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/statuslist+jwt")
		_, _ = w.Write([]byte(list))
	}))
	b.Cleanup(srv.Close)
	uri := srv.URL + "/lists/1"
	issuer := "https://idp.example.com/realms/demo"
	list = jwttest.Sign(b, jose.HS256, key, "", "statuslist+jwt", map[string]any{
		"sub": uri, "iat": time.Now().Unix(), "ttl": 3600,
		"status_list": map[string]any{"bits": 1, "lst": base64.RawURLEncoding.EncodeToString(z.Bytes())},
	})
	now := time.Now().Unix()
	tok := jwttest.Sign(b, jose.HS256, key, "", "JWT", map[string]any{
		"iss": issuer, "sub": "6f1c2d4e-8b7a-4c3d-9e2f-1a0b9c8d7e6f", "iat": now, "exp": now + 3600,
		"jti": "1f0c3c3e-5e7a-4d8e-9a43-5b4f3c8d2a11", "aud": "account", "azp": "web",
		"sid": "0b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "scope": "openid profile email",
		"status": map[string]any{"status_list": map[string]any{"idx": 765_432, "uri": uri}},
	})
	for _, on := range []bool{false, true} {
		name := "off"
		jc := &gateway.JWTConfig{Issuer: issuer, HMACSecrets: []string{secret}}
		if on {
			name = "on"
			jc.StatusList = &gateway.StatusListConfig{AllowHosts: []string{strings.TrimPrefix(srv.URL, "http://")}}
		}
		b.Run(name, func(b *testing.B) {
			h := newBenchHandlerWith(b, &Handler{JWT: []*gateway.JWTConfig{jc}})
			b.Cleanup(func() { h.gw.Status.Close(); h.gw.Verifier.Close() })
			r := httptest.NewRequest(http.MethodGet, "/api/items?page=2", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			benchCheckRequest(b, h, r, tok, false)
		})
	}
}
