package tests

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// familyCase is one request of issue 22's families: a spelling of a token
// that a real upstream (the oracle) reads, sent directly (the oracle must
// read the revoked token: the row has teeth) and through the gateway with
// the revoked token (want: 401, or 400 for a refused shape, the gateway's
// JSON answer with error "invalid_request") and with a live one (the
// control: it reaches the oracle, which reads it; or, for a refused shape,
// it is refused too, 400 invalid_request, never 401).
type familyCase struct {
	family int
	name   string
	oracle string
	// kind of token: "opaque" (default), "jwt", "sanctum", "api_token",
	// "api_token_words" (api_token with "10", "3d", "new", "sos" in it),
	// "len32" (opaque, 32 characters of the base64 alphabet), "short"
	// (opaque, 13 bytes).
	kind string
	// revokeAs spells the token as it is revoked at the gateway; nil: as is.
	revokeAs func(tok string) string
	// present spells the token in the request (the raw token is what the
	// oracle must read back); nil: as is.
	present func(tok string) string
	// build is the request carrying the presented token.
	build func(p string) rawReq
	// h2c: the request is an h2c upgrade, and the token travels in an
	// HTTP/2 request inside the tunnel (Authorization: Bearer).
	h2c  bool
	want int
	// open, when set, says why the row is an open finding: the gateway
	// still lets the revoked token through. Such a row is skipped unless
	// ENFORCEMENT_OPEN_FINDINGS is set (then it runs, and fails).
	open string
}

// familyCaddyfile fronts the oracle with the module's defaults and the
// suite's configured names.
const familyCaddyfile = `http:// {
	token_revocation {
		store embedded %s
		revoke /oauth/revoke
		cookie session
		header X-Api-Key
	}
	reverse_proxy %s
}`

// nodeCookieSecret is the Express oracle's cookie-parser secret
// (tests/differential/oracles/node/server.js).
const nodeCookieSecret = "differential-oracle-cookie-secret"

// signedCookie is cookie-parser's signed value of v ("s:" is added by the
// caller): v + "." + base64(HMAC-SHA256(secret, v)) without padding.
func signedCookie(v string) string {
	m := hmac.New(sha256.New, []byte(nodeCookieSecret))
	m.Write([]byte(v))
	return v + "." + strings.TrimRight(base64.StdEncoding.EncodeToString(m.Sum(nil)), "=")
}

// looseBase64 is std base64 of s with a '*' and a space put inside: not
// strict base64, which Werkzeug and PHP decode all the same.
func looseBase64(s string) string {
	b := base64.StdEncoding.EncodeToString([]byte(s))
	return b[:4] + "*" + b[4:8] + " " + b[8:]
}

// familyCases are the families 1-9 of issue 22 (the WebSocket first
// messages of family 9 are tested in tests/live).
func familyCases() []familyCase {
	const api = "/api/secret"
	form := text("x=1&access_token=%s")
	return []familyCase{
		// 1. The request target: a fragment after the token; 0xA0 ending it.
		{family: 1, name: "query-fragment", oracle: "python", build: getWith(api + "?access_token=%s#x"), want: 400},
		{family: 1, name: "query-fragment", oracle: "node", build: getWith(api + "?access_token=%s#x"), want: 400},
		{family: 1, name: "query-fragment", oracle: "php", build: getWith(api + "?access_token=%s#x"), want: 400},
		{family: 1, name: "query-fragment", oracle: "ruby", build: getWith(api + "?access_token=%s#x"), want: 400},
		{family: 1, name: "query-nbsp-end", oracle: "python", build: getWith(api + "?access_token=%s\xa0"), want: 400},
		// 2. Upgrade: h2c, then HTTP/2 requests inside the tunnel.
		{family: 2, name: "h2c-tunnel", oracle: "hypercorn", h2c: true, want: 400},
		// 3. Content-Type: a list; a parameter without ';'; a multipart
		// type with another parameter ending in "boundary" first.
		{family: 3, name: "ct-list", oracle: "python", build: postWith(api, form, "Content-Type: application/x-www-form-urlencoded, text/plain"), want: 400},
		{family: 3, name: "ct-list", oracle: "php", build: postWith(api, form, "Content-Type: application/x-www-form-urlencoded, text/plain"), want: 400},
		{family: 3, name: "ct-list", oracle: "ruby", build: postWith(api, form, "Content-Type: application/x-www-form-urlencoded, text/plain"), want: 400},
		{family: 3, name: "ct-param-no-semicolon", oracle: "php", build: postWith(api, form, "Content-Type: application/x-www-form-urlencoded charset=utf-8"), want: 400},
		{family: 3, name: "multipart-xboundary-first", oracle: "php",
			build: postWith(api, func(tok string) []byte {
				// PHP reads the AbC part; a reader taking the boundary
				// parameter finds the AbC part in the XyZ body's preamble.
				return []byte("--AbC\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\n" + tok + "\r\n--AbC--\r\n" +
					"--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--XyZ--\r\n")
			}, "Content-Type: multipart/form-data; xboundary=AbC; boundary=XyZ"), want: 400},
		// 4. Express cookie-parser's JSON and signed cookies.
		{family: 4, name: "json-cookie", oracle: "node", build: getWith(api, `Cookie: session=j:"%s"`), want: 401},
		{family: 4, name: "json-cookie-pct", oracle: "node", build: getWith(api, `Cookie: session=j%3A%22%s%22`), want: 401},
		{family: 4, name: "signed-cookie", oracle: "node", present: func(tok string) string { return "s:" + signedCookie(tok) },
			build: getWith(api, "Cookie: session=%s"), want: 401},
		{family: 4, name: "signed-json-cookie", oracle: "node", present: func(tok string) string { return "s:" + signedCookie(`j:"`+tok+`"`) },
			build: getWith(api, "Cookie: session=%s"), want: 401},
		// 5. Basic credentials: strict (the password checked) and not.
		{family: 5, name: "basic-password", oracle: "gostruct", present: func(tok string) string { return base64.StdEncoding.EncodeToString([]byte("user:" + tok)) },
			build: getWith(api, "Authorization: Basic %s"), want: 401},
		{family: 5, name: "basic-password", oracle: "python", present: func(tok string) string { return base64.StdEncoding.EncodeToString([]byte("user:" + tok)) },
			build: getWith(api, "Authorization: Basic %s"), want: 401},
		{family: 5, name: "basic-loose-base64", oracle: "python", present: func(tok string) string { return looseBase64("user:" + tok) },
			build: getWith(api, "Authorization: Basic %s"), want: 400},
		{family: 5, name: "basic-loose-base64", oracle: "php", present: func(tok string) string { return looseBase64("user:" + tok) },
			build: getWith(api, "Authorization: Basic %s"), want: 400},
		// 6. JSON member names under encoding/json's case folding.
		{family: 6, name: "json-long-s", oracle: "gostruct", build: postWith(api, text(`{"acceſſ_token":"%s"}`), jsonCTLine), want: 401},
		{family: 6, name: "json-kelvin", oracle: "gostruct", build: postWith(api, text("{\"access_to\u212aen\":\"%s\"}"), jsonCTLine), want: 401},
		// Found by TestMutationDifferential: a Go API decodes the body as
		// JSON whatever its Content-Type says, or without one.
		{family: 6, name: "json-body-text-plain", oracle: "gostruct", build: postWith(api, text(`{"access_token":"%s"}`), "Content-Type: text/plain"), want: 401},
		{family: 6, name: "json-body-no-ct", oracle: "gostruct", build: postWith(api, text(`{"access_token":"%s"}`)), want: 401},
		// 7. Trailing dots on a JWT: presented, and revoked.
		{family: 7, name: "bearer-jwt-dot", oracle: "ruby", kind: "jwt", present: func(tok string) string { return tok + "." },
			build: getWith(api, "Authorization: Bearer %s"), want: 401},
		{family: 7, name: "query-jwt-dotdot", oracle: "ruby", kind: "jwt", present: func(tok string) string { return tok + ".." },
			build: getWith(api + "?access_token=%s"), want: 401},
		{family: 7, name: "revoked-as-jwt-dot", oracle: "node", kind: "jwt", revokeAs: func(tok string) string { return tok + "." },
			build: getWith(api, "Authorization: Bearer %s"), want: 401},
		// 8. Sanctum's <id>|<secret>: by the secret alone, by a padded id.
		{family: 8, name: "sanctum-secret-alone", oracle: "laravel", kind: "sanctum", present: func(tok string) string { _, s, _ := strings.Cut(tok, "|"); return s },
			build: getWith(api, "Authorization: Bearer %s"), want: 401},
		{family: 8, name: "sanctum-zero-padded-id", oracle: "laravel", kind: "sanctum", present: func(tok string) string { return "00" + tok },
			build: getWith(api, "Authorization: Bearer %s"), want: 401},
		// 10. Not one of issue 22's: a token in another case, which
		// Laravel's token guard finds in a column that compares without
		// case (as MySQL's default collation does); by name (bearer) and
		// found by the scan (api_token is no configured name).
		{family: 10, name: "api-token-other-case", oracle: "laravel", kind: "api_token", present: swapCase,
			build: getWith(api, "Authorization: Bearer %s"), want: 401},
		{family: 10, name: "api-token-query-other-case", oracle: "laravel", kind: "api_token", present: swapCase,
			build: getWith(api + "?api_token=%s"), want: 401},
		// 11. Not one of issue 22's: a token in another spelling that a
		// database comparing at the primary level finds (PostgreSQL with
		// ICU's und-u-ks-level1; MySQL 8's default utf8mb4_0900_ai_ci
		// compares so too): accents, width, ignorable characters, another
		// script's digits. By name (bearer), and found by the scan
		// (api_token is no configured name) in the query and bodies.
		{family: 11, name: "api-token-accent", oracle: "laravel-pgsql", kind: "api_token", present: func(tok string) string { return strings.Replace(tok, "e", "\u00e9", 1) },
			build: getWith(api, "Authorization: Bearer %s"), want: 401},
		{family: 11, name: "api-token-fullwidth", oracle: "laravel-pgsql", kind: "api_token", present: func(tok string) string { return string(rune(tok[0])+0xFF01-'!') + tok[1:] }, // fullwidth
			build: getWith(api, "Authorization: Bearer %s"), want: 401},
		{family: 11, name: "api-token-zero-width", oracle: "laravel-pgsql", kind: "api_token", present: func(tok string) string { return tok[:3] + "\u200b" + tok[3:] },
			build: getWith(api, "Authorization: Bearer %s"), want: 401},
		{family: 11, name: "api-token-other-case-and-accent", oracle: "laravel-pgsql", kind: "api_token", present: func(tok string) string { return strings.Replace(swapCase(tok), "E", "\u00c8", 1) },
			build: getWith(api, "Authorization: Bearer %s"), want: 401},
		{family: 11, name: "api-token-query-combining-mark", oracle: "laravel-pgsql", kind: "api_token", present: func(tok string) string { return url.QueryEscape(tok[:1] + "\u0301" + tok[1:]) },
			build: getWith(api + "?api_token=%s"), want: 401},
		{family: 11, name: "api-token-query-control-byte", oracle: "laravel-pgsql", kind: "api_token", present: func(tok string) string { return url.QueryEscape(tok[:3] + "\x01" + tok[3:]) },
			build: getWith(api + "?api_token=%s"), want: 401},
		{family: 11, name: "api-token-form-soft-hyphen", oracle: "laravel-pgsql", kind: "api_token", present: func(tok string) string { return url.QueryEscape(tok[:3] + "\u00ad" + tok[3:]) },
			build: postWith(api, text("api_token=%s"), formCTLine), want: 401},
		{family: 11, name: "api-token-json-arabic-digit", oracle: "laravel-pgsql", kind: "api_token", present: func(tok string) string { return strings.Replace(tok, "0", `\u0660`, 1) },
			build: postWith(api, text(`{"api_token":"%s"}`), jsonCTLine), want: 401},
		// 12. Not one of issue 22's: a token in an XML body, split by
		// markup that Python's ElementTree reads through (whatever the
		// Content-Type); entities a DOCTYPE declares are refused.
		{family: 12, name: "xml-char-ref", oracle: "python", present: func(tok string) string { return tok[:3] + "&#" + strconv.Itoa(int(tok[3])) + ";" + tok[4:] },
			build: postWith(api, text("<r><access_token>%s</access_token></r>"), "Content-Type: application/xml"), want: 401},
		{family: 12, name: "xml-cdata", oracle: "python", present: func(tok string) string { return tok[:5] + "<![CDATA[" + tok[5:9] + "]]>" + tok[9:] },
			build: postWith(api, text("<r><access_token>%s</access_token></r>"), "Content-Type: text/xml"), want: 401},
		{family: 12, name: "xml-comment-text-plain", oracle: "python", present: func(tok string) string { return tok[:5] + "<!-- -->" + tok[5:] },
			build: postWith(api, text("<r><access_token>%s</access_token></r>"), "Content-Type: text/plain"), want: 401},
		{family: 12, name: "xml-processing-instruction", oracle: "python", present: func(tok string) string { return tok[:5] + "<?x?>" + tok[5:] },
			build: postWith(api, text("<r><access_token>%s</access_token></r>"), "Content-Type: application/soap+xml"), want: 401},
		{family: 12, name: "xml-attribute-char-ref", oracle: "python", present: func(tok string) string { return "&#x" + strconv.FormatInt(int64(tok[0]), 16) + ";" + tok[1:] },
			build: postWith(api, text(`<r access_token="%s"/>`), "Content-Type: application/xml"), want: 401},
		{family: 12, name: "xml-declared-entities", oracle: "python", present: func(tok string) string { return tok[:5] + `"><!ENTITY b "` + tok[5:] },
			build: postWith(api, text(`<!DOCTYPE r [<!ENTITY a "%s">]><r><access_token>&a;&b;</access_token></r>`), "Content-Type: application/xml"), want: 400},
		// 13. Not one of issue 22's: a token kept in Flask's signed
		// session cookie (base64url JSON; compressed when that is
		// shorter), replayed: the application reads it back from the
		// session, though no run of the request is the token.
		{family: 13, name: "flask-session", oracle: "python", present: func(tok string) string { return flaskSessionCookie(`{"access_token":"`+tok+`"}`, false) },
			build: getWith(api, "Cookie: session=%s"), want: 401},
		{family: 13, name: "flask-session-compressed", oracle: "python",
			present: func(tok string) string {
				return flaskSessionCookie(`{"access_token":"`+tok+`","theme":"`+strings.Repeat("dark", 16)+`"}`, true)
			},
			build: getWith(api, "Cookie: session=%s"), want: 401},
		// Go's gorilla/sessions (securecookie): base64 of
		// "date|base64(gob)|mac", two base64 layers.
		{family: 13, name: "gorilla-session", oracle: "gostruct", present: gorillaSessionCookie,
			build: getWith(api, "Cookie: "+gorillaSessionName+"=%s"), want: 401},
		// A JWT the application signs as its session (Play's, hand-made
		// ones), its claims holding the access token.
		{family: 13, name: "jwt-session", oracle: "gostruct", present: jwtSessionCookie,
			build: getWith(api, "Cookie: "+jwtSessionName+"=%s"), want: 401},
		// 9. Kubernetes' WebSocket bearer subprotocol.
		{family: 9, name: "k8s-ws-subprotocol", oracle: "gostruct", present: func(tok string) string { return base64.RawURLEncoding.EncodeToString([]byte(tok)) },
			build: getWith(api, "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
				"Sec-WebSocket-Protocol: "+k8sBearerProtocol+"%s, base64.binary.k8s.io"), want: 401},
	}
}

// TestEnforcementFamilies is issue 22's families 1-9 (but WebSocket first
// messages), and the families found since (10-18), end to end: for each, a real upstream that reads the token
// when asked directly, the real Caddy binary in front of it, the revoked
// token refused (401, or 400 for an ambiguous shape) and the control.
//
// On 5278a12 every case reaches its oracle with the revoked token (200,
// or 101 for the h2c tunnel) but the strict Basic passwords (gostruct,
// python), already answered 401 there.
//
// A row with open set is a finding not fixed yet: skipped, and run (to
// fail) with ENFORCEMENT_OPEN_FINDINGS=1.
//
// Run: CI=true CADDY_BIN=... go test -count=1 -run TestEnforcementFamilies -v ./tests
func TestEnforcementFamilies(t *testing.T) {
	cases := slices.Concat(familyCases(), moreFamilyCases(), documentFamilyCases(), namedFamilyCases(), binaryFamilyCases(), round3FamilyCases())
	var names []string
	for _, fc := range cases {
		names = append(names, fc.oracle)
	}
	subjects := map[string]*gatewayedOracle{}
	for _, s := range startGatewayedOracles(t, names, func(o *oracle) string {
		return expand(familyCaddyfile, []any{strconv.Quote(filepath.Join(t.TempDir(), "denylist.db")), o.addr})
	}) {
		subjects[s.o.name] = s
	}

	var report []string
	sanctumID := 10
	for _, fc := range cases {
		s := subjects[fc.oracle]
		name := fmt.Sprintf("family%d/%s/%s", fc.family, fc.name, fc.oracle)
		if s == nil {
			t.Logf("%s: skipped (no oracle)", name)
			continue
		}
		t.Run(fmt.Sprintf("%d-%s-%s", fc.family, fc.name, fc.oracle), func(t *testing.T) {
			if fc.open != "" && os.Getenv("ENFORCEMENT_OPEN_FINDINGS") == "" {
				report = append(report, fmt.Sprintf("%-48s want %d, open finding: skipped", name, fc.want))
				t.Skipf("open finding (ENFORCEMENT_OPEN_FINDINGS=1 runs it): %s", fc.open)
			}
			revoked, live := familyTokens(t, fc.kind, s.o, &sanctumID)
			revokeAs := revoked
			if fc.revokeAs != nil {
				revokeAs = fc.revokeAs(revoked)
			}
			s.revoke(t, revokeAs)
			send := func(addr, tok string) (int, oracleAnswer, []byte, error) {
				p := tok
				if fc.present != nil {
					p = fc.present(tok)
				}
				if fc.h2c {
					req := h2cUpgrade("/api/secret")
					status, ans, err := h2cExchange(addr, req, "/api/secret", "authorization", "Bearer "+p)
					return status, ans, append(req, []byte(" then, on HTTP/2 stream 3: GET /api/secret authorization: Bearer "+p)...), err
				}
				req := fc.build(p).bytes()
				status, ans, err := exchange(addr, req)
				return status, ans, req, err
			}
			reads := func(ans oracleAnswer, tok string) []string {
				var srcs []string
				for _, tk := range ans.Tokens {
					if tk.Value == tok {
						srcs = append(srcs, tk.Source)
					}
				}
				return srcs
			}

			// Teeth: the oracle reads the revoked token when asked directly.
			_, direct, req, err := send(s.o.addr, revoked)
			if err != nil {
				t.Fatalf("directly: %v", err)
			}
			if len(reads(direct, revoked)) == 0 {
				t.Errorf("the oracle does not read the token directly (answer %+v): the case proves nothing\n%s", direct, quoteReq(req))
			}
			// The revoked token through the gateway.
			gw := s.gateway()
			status, via, req, err := send(gw, revoked)
			if err != nil {
				t.Fatalf("through the gateway: %v", err)
			}
			got := statusText(status, via)
			if srcs := reads(via, revoked); len(srcs) > 0 {
				got += " read " + strings.Join(srcs, ",")
				t.Errorf("the oracle read the revoked token through the gateway (%s), status %d, want %d\n%s", strings.Join(srcs, ","), status, fc.want, quoteReq(req))
			} else if status != fc.want {
				t.Errorf("revoked token: status %d, want %d\n%s", status, fc.want, quoteReq(req))
			} else if status == http.StatusBadRequest && (via.Oracle != "" || via.GatewayError != "invalid_request") {
				t.Errorf("revoked token: 400 from %q with error %q, want the gateway's own, error \"invalid_request\"\n%s", via.Oracle, via.GatewayError, quoteReq(req))
			}
			report = append(report, fmt.Sprintf("%-48s want %d, got %s", name, fc.want, got))
			// The control: the same spelling with a live token.
			status, via, req, err = send(gw, live)
			if err != nil {
				t.Fatalf("control through the gateway: %v", err)
			}
			switch fc.want {
			case http.StatusUnauthorized:
				if status < 200 || status > 299 || len(reads(via, live)) == 0 {
					t.Errorf("control: a live token got status %d and the oracle read %+v, want 2xx with the token read\n%s", status, via.Tokens, quoteReq(req))
				}
			default:
				if status != fc.want || via.Oracle != "" || via.GatewayError != "invalid_request" {
					t.Errorf("control: a live token got status %d (oracle %q, error %q), want the gateway's %d invalid_request (the shape is refused whatever the token)\n%s",
						status, via.Oracle, via.GatewayError, fc.want, quoteReq(req))
				}
			}
		})
	}
	slices.Sort(report)
	t.Logf("revoked token through the gateway, per case:\n%s", strings.Join(report, "\n"))
}

// familyTokens returns a revoked and a live token of kind: opaque, a JWT
// (distinct subjects), a Sanctum token issued by the laravel oracle
// ("<id>|<secret>", ids taken from *next), or a token of its token guard
// (api_token, in mixed case, with a digit and an 'e').
func familyTokens(t *testing.T, kind string, o *oracle, next *int) (revoked, live string) {
	t.Helper()
	switch kind {
	case "jwt":
		sig := make([]byte, 256)
		rand.Read(sig)
		return diffJWT("jwt", `"revoked-`+randomHex(4)+`"`, sig)["jwt"], diffJWT("jwt", `"live-`+randomHex(4)+`"`, sig)["jwt"]
	case "sanctum":
		issue := func() string {
			*next++
			secret := randomHex(20)
			body := url.Values{"id": {strconv.Itoa(*next)}, "secret": {secret}}.Encode()
			_, ans, err := exchange(o.addr, postWith("/sanctum/issue", text(body), formCTLine)("").bytes())
			if err != nil || len(ans.Tokens) != 1 {
				t.Fatalf("issuing a Sanctum token: %v %+v", err, ans)
			}
			return ans.Tokens[0].Value
		}
		return issue(), issue()
	case "api_token":
		return issueAPIToken(t, o, "Revoked0"), issueAPIToken(t, o, "LiveToken0") // a digit, a lower-case e
	case "api_token_words":
		// An api_token holding "10", "3d", "new" and "sos", which some
		// characters stand for whole.
		return issueAPIToken(t, o, "Revoked10new3dsos"), issueAPIToken(t, o, "LiveToken10new3dsos")
	case "octal":
		// Opaque, with "123" in it (an octal escape's digits).
		return "revoked123" + randomHex(11), "livetoken123" + randomHex(11)
	case "short":
		// Shorter than 16 bytes: checked in the named channels alone.
		return "rvk" + randomHex(5), "liv" + randomHex(5)
	case "len32":
		// 32 characters of the base64 alphabet (a 128-bit hex token's
		// shape), so that bytes whose base64 it is exist.
		return "revoked" + randomHex(12) + "a", "liveto" + randomHex(13)
	default:
		if n, err := strconv.Atoi(strings.TrimPrefix(kind, "len")); err == nil && strings.HasPrefix(kind, "len") && n > 16 {
			// "len<n>": opaque, n characters (a length a binary
			// serialization's length prefix spells as a token byte).
			return ofLength("revoked", n), ofLength("livetoken", n)
		}
		return "revoked" + randomHex(12), "livetoken" + randomHex(12)
	}
}

// ofLength is prefix and random hex digits, n characters in all.
func ofLength(prefix string, n int) string {
	s := prefix
	for len(s) < n {
		s += randomHex(8)
	}
	return s[:n]
}

// issueAPIToken has the laravel oracle store a token of its token guard
// (api_token): prefix and random hex digits.
func issueAPIToken(t *testing.T, o *oracle, prefix string) string {
	t.Helper()
	body := url.Values{"token": {prefix + randomHex(12)}}.Encode()
	_, ans, err := exchange(o.addr, postWith("/api_token/issue", text(body), formCTLine)("").bytes())
	if err != nil || len(ans.Tokens) != 1 {
		t.Fatalf("issuing an api_token: %v %+v", err, ans)
	}
	return ans.Tokens[0].Value
}

// flaskOracleSecret is the python oracle's Flask secret_key
// (tests/differential/oracles/python/app.py).
const flaskOracleSecret = "differential-oracle-session-secret"

// flaskSessionCookie is Flask's session cookie holding the JSON object
// session, as itsdangerous' URLSafeTimedSerializer signs it (salt
// "cookie-session", an HMAC-SHA1 key derived from the secret, SHA-1
// signatures): base64url of the JSON, zlib-compressed behind a '.' when
// compress, then a timestamp and the signature.
func flaskSessionCookie(session string, compress bool) string {
	b64 := base64.RawURLEncoding.EncodeToString
	payload := b64([]byte(session))
	if compress {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write([]byte(session))
		zw.Close()
		payload = "." + b64(z.Bytes())
	}
	ts := big.NewInt(time.Now().Unix()).Bytes()
	value := payload + "." + b64(ts)
	return value + "." + flaskSignature(value)
}

// flaskSignature is itsdangerous' signature of value under the python
// oracle's secret (salt "cookie-session", HMAC-SHA1), base64url.
func flaskSignature(value string) string {
	derive := hmac.New(sha1.New, []byte(flaskOracleSecret))
	derive.Write([]byte("cookie-session"))
	sig := hmac.New(sha1.New, derive.Sum(nil))
	sig.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(sig.Sum(nil))
}

// swapCase is tok with each ASCII letter in the other case.
func swapCase(tok string) string {
	b := []byte(tok)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}
