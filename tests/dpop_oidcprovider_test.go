package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/jwttest"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// dpopClientCredentials gets a JWT access token for the API from the OP,
// bound to key when it is not nil (a DPoP proof sent along).
func (op *oidcProvider) dpopClientCredentials(t *testing.T, key *jwttest.DPoPKey) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}, "resource": {opResource}}
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
// key is revoked (as the admin API will: engine.Revocation.BoundKeys) the
// Checker rejects every token bound to it, a token issued after the
// revocation too, while a token bound to another key and a Bearer token of
// the same client pass. The layers below Caddy only (issue 25, item 4):
// the glue's end-to-end test puts a Caddy in front (see engine/doc.go).
func TestOIDCProviderDPoPTokensRevokedByKey(t *testing.T) {
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	op := startOIDCProvider(t, ports[0], "http://127.0.0.1:9/backchannel")
	key, other := jwttest.NewDPoPKey(t), jwttest.NewDPoPKey(t)
	bound, boundOther, bearer := op.dpopClientCredentials(t, key), op.dpopClientCredentials(t, other), op.dpopClientCredentials(t, nil)
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
	after := op.dpopClientCredentials(t, key)
	if !revoked(bound) || !revoked(after) {
		t.Errorf("tokens bound to the revoked key: revoked %v, issued after the revocation %v; want both", revoked(bound), revoked(after))
	}
	if revoked(boundOther) || revoked(bearer) {
		t.Errorf("revoked: bound to another key %v, bearer %v; want neither", revoked(boundOther), revoked(bearer))
	}
}
