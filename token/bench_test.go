package token

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// benchPayload is a Keycloak-like access token payload.
const benchPayload = `{"exp":1700003600,"iat":1700000000,"jti":"1f0c3c3e-5e7a-4d8e-9a43-5b4f3c8d2a11","iss":"https://idp.example.com/realms/demo","aud":"account","sub":"6f1c2d4e-8b7a-4c3d-9e2f-1a0b9c8d7e6f","typ":"Bearer","azp":"web","sid":"0b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d","scope":"openid profile email","email_verified":true,"preferred_username":"alice","email":"alice@example.com"}`

var benchRaw = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)) + "." +
	base64.RawURLEncoding.EncodeToString([]byte(benchPayload)) + ".c2lnbmF0dXJl"

func BenchmarkParseJWT(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Parse(benchRaw)
	}
}

// BenchmarkParseJWTEncodingJSON is the same parse with encoding/json, as
// Parse did before the scanner.
func BenchmarkParseJWTEncodingJSON(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		parseReference(benchRaw)
	}
}

func BenchmarkScanClaims(b *testing.B) {
	p := []byte(benchPayload)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var c Claims
		scanClaims(p, &c, true)
	}
}

func BenchmarkValidJSON(b *testing.B) {
	p := []byte(benchPayload)
	b.SetBytes(int64(len(p)))
	for i := 0; i < b.N; i++ {
		validJSON(p)
	}
}

func BenchmarkEncodingJSONValid(b *testing.B) {
	p := []byte(benchPayload)
	b.SetBytes(int64(len(p)))
	for i := 0; i < b.N; i++ {
		json.Valid(p)
	}
}

// BenchmarkParseJWTInto is ParseJWT into a buffer, as the request check
// parses: nothing allocated.
func BenchmarkParseJWTInto(b *testing.B) {
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		ParseInto(benchRaw, buf)
	}
}

// BenchmarkExtractBearerJWT finds a 600-byte JWT in "Authorization:
// Bearer", with every channel configured, as each proxied request does.
func BenchmarkExtractBearerJWT(b *testing.B) {
	s := lenientSources()
	r := &http.Request{URL: &url.URL{Path: "/api/items", RawQuery: "page=2"}, Header: http.Header{"Authorization": {"Bearer " + benchRaw}}}
	var buf [4]Found
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if f, err := s.Extract(r, buf[:0]); err != nil || len(f) != 1 {
			b.Fatalf("found %v, %v", f, err)
		}
	}
}
