package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// dpopClientCredentials gets an access token from the OP, bound to key when
// it is not nil (a DPoP proof sent along): a JWT for the API (RFC 9068)
// with resource, else opaque.
func (op *oidcProvider) dpopClientCredentials(t *testing.T, key *jwttest.DPoPKey, resource string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
	if resource != "" {
		form.Set("resource", resource)
	}
	headers := []string{"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(opClient+":"+opSecret))}
	if key != nil {
		headers = append(headers, "DPoP: "+key.Proof(t, http.MethodPost, op.url("/token"), "dpop+jwt", true))
	}
	res := postForm(t, op.url("/token"), form, headers...)
	var ts struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal([]byte(res.Body), &ts); res.Status != http.StatusOK || err != nil || ts.AccessToken == "" {
		t.Fatalf("client_credentials (DPoP %v): %d %s", key != nil, res.Status, res.Body)
	}
	if want := map[bool]string{true: "DPoP", false: "Bearer"}[key != nil]; ts.TokenType != want {
		t.Fatalf("token_type %q, want %q", ts.TokenType, want)
	}
	return ts.AccessToken
}

// TestOIDCProviderDPoPTokensRevokedByKey: panva's oidc-provider, as the
// other tests run it (tests/idp/oidc-provider, DPoP enabled), issues
// DPoP-bound JWT access tokens whose cnf.jkt is the RFC 7638 thumbprint
// go-jose computes of the client's key; the engine reads it, and once the
// key is revoked (as the admin API does: engine.Revocation.BoundKeys) the
// Checker rejects every token bound to it, a token issued after the
// revocation too, while a token bound to another key and a Bearer token of
// the same client pass. The layers below Caddy only (issue 25, item 4):
// TestGatewayRevokesDPoPKey, below, puts a Caddy in front.
func TestOIDCProviderDPoPTokensRevokedByKey(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	op := startOIDCProvider(t, ports[0], "http://127.0.0.1:9/backchannel")
	key, other := jwttest.NewDPoPKey(t), jwttest.NewDPoPKey(t)
	bound, boundOther, bearer := op.dpopClientCredentials(t, key, opResource), op.dpopClientCredentials(t, other, opResource), op.dpopClientCredentials(t, nil, opResource)
	for what, c := range map[string]struct{ raw, jkt string }{"bound": {bound, key.JKT}, "bound to another key": {boundOther, other.JKT}, "bearer": {bearer, ""}} {
		if tok := token.Parse(c.raw); !tok.JWT || tok.Claims.Confirmation.JKT != c.jkt {
			t.Fatalf("%s token: JWT %v, cnf %+v; want cnf.jkt %q", what, tok.JWT, tok.Claims.Confirmation, c.jkt)
		}
	}

	store, err := boltstore.OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	keys := &engine.Keys{Hasher: denylist.NewHasher(nil), ClockSkew: 5 * time.Minute, ClientCutoffs: true}
	rec := engine.NewRecorder(keys, store, engine.RecorderConfig{DefaultTTL: time.Hour, MaxTokenLifetime: time.Hour, ClockSkew: 5 * time.Minute})
	check := engine.NewChecker(keys, store, nil)
	ctx := context.Background()
	revoked := func(raw string) bool {
		t.Helper()
		m, err := check.Check(ctx, "", raw)
		if err != nil {
			t.Fatal(err)
		}
		return m.Revoked
	}
	if revoked(bound) || revoked(boundOther) || revoked(bearer) {
		t.Fatal("a token is revoked before anything was")
	}
	es, err := rec.Entries(ctx, &engine.Revocation{BoundKeys: []engine.BoundKey{{Method: denylist.MethodJKT, Thumbprint: key.JKT}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Store(ctx, false, es); err != nil {
		t.Fatal(err)
	}
	after := op.dpopClientCredentials(t, key, opResource)
	if !revoked(bound) || !revoked(after) {
		t.Errorf("tokens bound to the revoked key: revoked %v, issued after the revocation %v; want both", revoked(bound), revoked(after))
	}
	if revoked(boundOther) || revoked(bearer) {
		t.Errorf("revoked: bound to another key %v, bearer %v; want neither", revoked(boundOther), revoked(bearer))
	}
}

// dpopGatewayCaddyfile: a gateway in front of an upstream, the OP's access
// tokens verified (keys by discovery), metrics on. Arguments: store, OP
// port (issuer), upstream address.
const dpopGatewayCaddyfile = `{
	metrics
}
http:// {
	token_revocation {
		%s
		jwt http://127.0.0.1:%d {
			audience https://api.test app
		}
	}
	reverse_proxy %s
}`

// dpopAPIStatus polls until every instance answers want to an API call
// with tok: "Authorization: DPoP" and a proof signed by key, as RFC 9449 §7
// sends a DPoP-bound token, or "Authorization: Bearer" when key is nil.
func dpopAPIStatus(t *testing.T, what, tok string, key *jwttest.DPoPKey, want int, cs ...*Caddy) {
	t.Helper()
	scheme := "Bearer "
	if key != nil {
		scheme = "DPoP "
	}
	dpopStatus(t, what, "Authorization: "+scheme+tok, key, want, cs...)
}

// dpopStatus is dpopAPIStatus with the token in the header line tokHeader
// (an API that reads it from a header of its own, say).
func dpopStatus(t *testing.T, what, tokHeader string, key *jwttest.DPoPKey, want int, cs ...*Caddy) {
	t.Helper()
	for i, c := range cs {
		pollUntil(t, 5*time.Second, func() string {
			target := c.URL("/api/items")
			headers := []string{tokHeader}
			if key != nil {
				headers = append(headers, "DPoP: "+key.Proof(t, http.MethodGet, target, "dpop+jwt", true))
			}
			if res := get(t, target, headers...); res.Status != want {
				return fmt.Sprintf("%s: instance %d: %d %s, want %d", what, i, res.Status, res.Body, want)
			}
			return ""
		})
	}
}

// TestGatewayRevokesDPoPKey: DPoP-bound access tokens of panva's
// oidc-provider pass a real Caddy in front of an upstream until their key
// is revoked through the admin API (jkt, issue 25 item 4); then that
// token, and one the OP binds to the same key after the revocation, get
// 401 (reason cnf), while a token bound to another key and a Bearer token
// of the same client pass; so does an opaque DPoP-bound token (no
// resource), found by the key of the proof it is presented with (without
// that look-up, at 2f9b84e, it passed), and so is one the API reads from a
// header of its own, by its proof's key alone (at 02f1027 it passed). The CLI checks, revokes and un-revokes keys;
// a restart forgets none of it. On the embedded store, and on Redis with two instances: revoked through
// A, enforced by B. On 5278a12 the admin API answers {"jkt"} 400 (unknown
// field) and the CLI has no --jkt.
func TestGatewayRevokesDPoPKey(t *testing.T) {
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) {
			ports, err := freePorts(1)
			if err != nil {
				t.Fatal(err)
			}
			up := startUpstream(t)
			store := tc.store(t)
			var cs []*Caddy
			for range tc.instances {
				cs = append(cs, startCaddy(t, dpopGatewayCaddyfile, store, ports[0], up.Addr()))
			}
			a, b := cs[0], cs[len(cs)-1]
			addrA := "127.0.0.1:" + strconv.Itoa(a.AdminPort)
			op := startOIDCProvider(t, ports[0], "http://127.0.0.1:9/backchannel")
			key, other := jwttest.NewDPoPKey(t), jwttest.NewDPoPKey(t)
			bound, boundOther, bearer := op.dpopClientCredentials(t, key, opResource), op.dpopClientCredentials(t, other, opResource), op.dpopClientCredentials(t, nil, opResource)
			dpopAPIStatus(t, "DPoP-bound token before any revocation", bound, key, http.StatusOK, cs...)
			dpopAPIStatus(t, "token bound to another key", boundOther, other, http.StatusOK, cs...)
			dpopAPIStatus(t, "Bearer token", bearer, nil, http.StatusOK, cs...)
			// Opaque DPoP-bound tokens (no resource): the gateway cannot
			// read their cnf, and looks up the key of the request's proof.
			opaque, opaqueOther := op.dpopClientCredentials(t, key, ""), op.dpopClientCredentials(t, other, "")
			if token.Parse(opaque).JWT || token.Parse(opaqueOther).JWT {
				t.Fatal("an access token issued without resource is a JWT")
			}
			dpopAPIStatus(t, "opaque DPoP-bound token before any revocation", opaque, key, http.StatusOK, cs...)

			// The admin API of A revokes the key by its RFC 7638
			// thumbprint, as go-jose computes it.
			entry := revokeBoundKey(t, a, "jkt", key.JKT)
			after := op.dpopClientCredentials(t, key, opResource)
			dpopAPIStatus(t, "token bound to the revoked key", bound, key, http.StatusUnauthorized, cs...)
			dpopAPIStatus(t, "token bound to the revoked key, issued after the revocation", after, key, http.StatusUnauthorized, cs...)
			dpopAPIStatus(t, "token bound to another key", boundOther, other, http.StatusOK, cs...)
			dpopAPIStatus(t, "Bearer token", bearer, nil, http.StatusOK, cs...)
			dpopAPIStatus(t, "opaque token bound to the revoked key, its proof signed with it", opaque, key, http.StatusUnauthorized, cs...)
			dpopAPIStatus(t, "opaque token bound to another key", opaqueOther, other, http.StatusOK, cs...)
			// An API that reads its token from a header of its own: no
			// named channel holds it, and the key is looked up alone.
			dpopStatus(t, "opaque token bound to the revoked key, in X-Access-Token", "X-Access-Token: "+opaque, key, http.StatusUnauthorized, cs...)
			dpopStatus(t, "opaque token bound to another key, in X-Access-Token", "X-Access-Token: "+opaqueOther, other, http.StatusOK, cs...)
			assertRevokedByKey(t, b, after, entry)

			// The CLI, against A: check says revoked (exit 1); revoke the
			// other key; un-revoke the first: B follows.
			cliWants(t, 1, "revoked by cnf ", "check", "--jkt", key.JKT, "--address", addrA)
			cliWants(t, 0, "revoked cnf ", "revoke", "--jkt", other.JKT, "--until", time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339), "--address", addrA)
			dpopAPIStatus(t, "token bound to the key revoked by the CLI", boundOther, other, http.StatusUnauthorized, cs...)
			cliWants(t, 0, "un-revoked cnf ", "unrevoke", "--jkt", key.JKT, "--address", addrA)
			dpopAPIStatus(t, "token bound to the un-revoked key", bound, key, http.StatusOK, cs...)
			dpopAPIStatus(t, "Bearer token", bearer, nil, http.StatusOK, cs...)

			// After a restart of B (the embedded store's file, or Redis)
			// the revoked key is still refused, the un-revoked one not.
			b.Restart()
			dpopAPIStatus(t, "token bound to the key revoked by the CLI, after a restart", boundOther, other, http.StatusUnauthorized, b)
			dpopAPIStatus(t, "opaque token bound to the key revoked by the CLI, after a restart", opaqueOther, other, http.StatusUnauthorized, b)
			dpopAPIStatus(t, "token bound to the un-revoked key, after a restart", bound, key, http.StatusOK, b)
			dpopAPIStatus(t, "opaque token bound to the un-revoked key, after a restart", opaque, key, http.StatusOK, b)
			if _, errOut, code := cli(t, nil, "", "revoke", "--jkt", key.JKT[:20], "--address", addrA); code == 0 || !strings.Contains(errOut, "token_revocation: jkt") || !strings.Contains(errOut, "43 base64url characters") {
				t.Errorf("revoke --jkt with a truncated thumbprint: exit %d %q, want a 400 saying what to give", code, errOut)
			}
		})
	}
}

// revokeBoundKey revokes, through c's admin API, every token bound to the
// key field ("jkt" or "x5t#S256") names by its thumbprint, and returns the
// one entry it stores (kind cnf).
func revokeBoundKey(t *testing.T, c *Caddy, field, thumbprint string) opsEntry {
	t.Helper()
	var rev struct {
		Revoked []opsEntry `json:"revoked"`
	}
	mustAdmin(t, c, "POST", "/token-revocation/revoke", map[string]any{field: thumbprint}, &rev)
	if len(rev.Revoked) != 1 || rev.Revoked[0].Kind != "cnf" || !strings.HasPrefix(rev.Revoked[0].Key, "k:") {
		t.Fatalf("revoke %s answered %+v, want one cnf entry", field, rev.Revoked)
	}
	return rev.Revoked[0]
}

// assertRevokedByKey: instance c counted a rejection of reason cnf, and
// its admin API's check of tok (issued after the revocation) names entry.
func assertRevokedByKey(t *testing.T, c *Caddy, tok string, entry opsEntry) {
	t.Helper()
	if res := get(t, c.AdminURL("/metrics")); !regexp.MustCompile(`(?m)^caddy_token_revocation_requests_rejected_total\{reason="cnf"\} [1-9]`).MatchString(res.Body) {
		t.Errorf("the instance counted no rejection of reason cnf:\n%s", grepLines(res.Body, "requests_rejected_total"))
	}
	if e := adminCheck(t, c, map[string]any{"token": tok}); e == nil || e.Key != entry.Key {
		t.Errorf("check of the token issued after the revocation: %+v, want revoked by %s", e, entry.Key)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
