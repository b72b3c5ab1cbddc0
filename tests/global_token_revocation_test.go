package tests

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Global Token Revocation (draft-parecki-oauth-global-token-revocation,
// issue 25 item 2) through the real binary: the draft's example requests,
// sent by Go's HTTP client, each answer the draft names, a user's tokens
// refused at every instance sharing the store and after a restart, another
// user's passing.

const (
	// The draft's examples name users of this issuer (section 3.2): the
	// gateway's jwt block takes its name, with the test IdP's keys.
	gtrIssuer = "https://issuer.example.com/"
	// gtrOther is a second issuer with a jwt block (another tenant).
	gtrOther = "https://other-tenant.example.com/"
	// The draft's iss_sub and opaque subjects.
	gtrIssSubUser = "af19c476f1dc4470fa3d0d9a25"
	gtrOpaqueUser = "e193177dfdc52e3dd03f78c"
	gtrClientAuth = "ops-secret-ops-secret-ops-secret"
)

// The draft's three example bodies, as written there.
const (
	gtrDraftEmail = `{
  "sub_id": {
    "format": "email",
    "email": "user@example.com"
  }
}`
	gtrDraftOpaque = `{
  "sub_id": {
    "format": "opaque",
    "id": "e193177dfdc52e3dd03f78c"
  }
}`
	gtrDraftIssSub = `{
  "sub_id": {
    "format": "iss_sub",
    "iss": "https://issuer.example.com/",
    "sub": "af19c476f1dc4470fa3d0d9a25"
  }
}`
)

// gtrCaddyfile: a bearer-authenticated route and a client-authenticated
// one. Arguments: store, issuer, its JWKS, the other issuer, its JWKS,
// upstream.
const gtrCaddyfile = `http:// {
	token_revocation {
		%s
		jwt %s {
			jwks_url %s
			jwks_min_refresh 100ms
		}
		jwt %s {
			jwks_url %s
		}
		clients {
			ops ` + gtrClientAuth + `
		}
		global_token_revocation /global-token-revocation
		global_token_revocation /gtr-clients {
			client_auth required
		}
		global_token_revocation /gtr-email {
			email_is_sub
		}
	}
	reverse_proxy %s
}`

type gtrGateway struct {
	cs         []*Caddy
	idp, other *testIdP
}

func (g *gtrGateway) token(t *testing.T, p *testIdP, iss string, claims map[string]any) string {
	t.Helper()
	claims["iss"] = iss
	return p.sign(t, "k1", "JWT", claims)
}

// user is an access token of sub, issued a minute ago.
func (g *gtrGateway) user(t *testing.T, sub string) string {
	return g.token(t, g.idp, gtrIssuer, map[string]any{"sub": sub, "iat": time.Now().Unix() - 60})
}

// caller is a credential for the endpoint (scope global_token_revocation).
func (g *gtrGateway) caller(t *testing.T, p *testIdP, iss string) string {
	return g.token(t, p, iss, map[string]any{"sub": "security-tool", "scope": "global_token_revocation"})
}

// post sends body to path at instance i, as the draft's examples are
// sent, with the Authorization header auth ("" for none).
func (g *gtrGateway) post(t *testing.T, i int, path, auth, body string) Response {
	t.Helper()
	h := []string{"Content-Type: application/json"}
	if auth != "" {
		h = append(h, "Authorization: "+auth)
	}
	return do(t, http.MethodPost, g.cs[i].URL(path), strings.NewReader(body), h...)
}

func (g *gtrGateway) want(t *testing.T, what string, res Response, status int) {
	t.Helper()
	if res.Status != status {
		t.Errorf("%s: %d %s, want %d", what, res.Status, res.Body, status)
	}
}

func TestGlobalTokenRevocation(t *testing.T) {
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) {
			g := &gtrGateway{idp: startIdP(t), other: startIdP(t)}
			g.idp.publish(t, "k1")
			g.other.publish(t, "k1")
			up := startUpstream(t)
			store := tc.store(t)
			for range tc.instances {
				g.cs = append(g.cs, startCaddy(t, gtrCaddyfile, store, gtrIssuer, g.idp.URL, gtrOther, g.other.URL, up.Addr()))
			}
			last := len(g.cs) - 1 // revoked through the first, enforced by the last
			bearer := "Bearer " + g.caller(t, g.idp, gtrIssuer)
			issSubUser, opaqueUser, bystander := g.user(t, gtrIssSubUser), g.user(t, gtrOpaqueUser), g.user(t, "bystander")
			apiStatus(t, "the iss_sub user before", issSubUser, http.StatusOK, g.cs...)

			// 204: the draft's iss_sub and opaque examples.
			g.want(t, "the draft's iss_sub example", g.post(t, 0, "/global-token-revocation", bearer, gtrDraftIssSub), http.StatusNoContent)
			apiStatus(t, "the iss_sub user after", issSubUser, http.StatusUnauthorized, g.cs...)
			apiStatus(t, "another user after", bystander, http.StatusOK, g.cs...)
			g.want(t, "the draft's opaque example", g.post(t, last, "/global-token-revocation", bearer, gtrDraftOpaque), http.StatusNoContent)
			apiStatus(t, "the opaque user after", opaqueUser, http.StatusUnauthorized, g.cs...)
			apiStatus(t, "another user after two revocations", bystander, http.StatusOK, g.cs...)
			fresh := g.token(t, g.idp, gtrIssuer, map[string]any{"sub": gtrIssSubUser, "iat": time.Now().Unix() + 6*60})
			apiStatus(t, "the iss_sub user's token issued after the cut-off (and clock_skew)", fresh, http.StatusOK, g.cs...)

			// 422: the draft's email example: the gateway's tokens are
			// keyed by iss and sub, not the e-mail address.
			g.want(t, "the draft's email example", g.post(t, 0, "/global-token-revocation", bearer, gtrDraftEmail), http.StatusUnprocessableEntity)
			g.want(t, "a complex subject naming no user", g.post(t, 0, "/global-token-revocation", bearer,
				`{"sub_id":{"format":"complex","session":{"format":"opaque","id":"s1"}}}`), http.StatusUnprocessableEntity)

			// 400: not the draft's request.
			g.want(t, "a form body", do(t, http.MethodPost, g.cs[0].URL("/global-token-revocation"), strings.NewReader("sub_id=x"),
				"Content-Type: application/x-www-form-urlencoded", "Authorization: "+bearer), http.StatusBadRequest)
			g.want(t, "no sub_id", g.post(t, 0, "/global-token-revocation", bearer, `{"subject":{"format":"opaque","id":"x"}}`), http.StatusBadRequest)
			g.want(t, "an unsupported format", g.post(t, 0, "/global-token-revocation", bearer, `{"sub_id":{"format":"phone_number","phone_number":"+12065550100"}}`), http.StatusBadRequest)
			g.want(t, "iss_sub without sub", g.post(t, 0, "/global-token-revocation", bearer, `{"sub_id":{"format":"iss_sub","iss":"`+gtrIssuer+`"}}`), http.StatusBadRequest)

			// 401: unauthenticated.
			res := g.post(t, 0, "/global-token-revocation", "", gtrDraftIssSub)
			g.want(t, "no credential", res, http.StatusUnauthorized)
			if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer: %v", res.Header)
			}
			g.want(t, "the draft's opaque bearer token", g.post(t, 0, "/global-token-revocation", "Bearer f5641763544a7b24b08e4f74045", gtrDraftIssSub), http.StatusUnauthorized)
			forged := g.idp.sign(t, "unpublished", "JWT", map[string]any{"iss": gtrIssuer, "sub": "security-tool", "scope": "global_token_revocation"})
			g.want(t, "a forged credential", g.post(t, 0, "/global-token-revocation", "Bearer "+forged, gtrDraftIssSub), http.StatusUnauthorized)

			// 403: authenticated, not allowed.
			g.want(t, "a user's own access token", g.post(t, 0, "/global-token-revocation", "Bearer "+bystander,
				`{"sub_id":{"format":"opaque","id":"victim"}}`), http.StatusForbidden)
			g.want(t, "another tenant's caller", g.post(t, 0, "/global-token-revocation", "Bearer "+g.caller(t, g.other, gtrOther), gtrDraftIssSub), http.StatusForbidden)

			// 404: an issuer the gateway has no jwt block for.
			g.want(t, "a user of an unknown issuer", g.post(t, 0, "/global-token-revocation", bearer,
				`{"sub_id":{"format":"iss_sub","iss":"https://unknown.example.com/","sub":"u1"}}`), http.StatusNotFound)
			apiStatus(t, "another user after the refused calls", bystander, http.StatusOK, g.cs...)

			// A credential whose aud is this endpoint's URL (Okta's signed
			// JWT) is accepted as the scope is.
			okta := g.token(t, g.idp, gtrIssuer, map[string]any{"sub": "okta", "aud": g.cs[0].URL("/global-token-revocation")})
			oktaUser := g.user(t, "okta-user")
			g.want(t, "a JWT for this endpoint's URL", g.post(t, 0, "/global-token-revocation", "Bearer "+okta,
				`{"sub_id":{"format":"iss_sub","iss":"`+gtrIssuer+`","sub":"okta-user"}}`), http.StatusNoContent)
			apiStatus(t, "the user revoked by the endpoint-audience JWT", oktaUser, http.StatusUnauthorized, g.cs...)

			// Client authentication instead (client_auth required): the
			// other tenant's users too.
			basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+gtrClientAuth))
			otherUser := g.token(t, g.other, gtrOther, map[string]any{"sub": "dave", "iat": time.Now().Unix() - 60})
			g.want(t, "a client's call", g.post(t, 0, "/gtr-clients", basic, `{"sub_id":{"format":"iss_sub","iss":"`+gtrOther+`","sub":"dave"}}`), http.StatusNoContent)
			apiStatus(t, "the other tenant's user revoked by a client", otherUser, http.StatusUnauthorized, g.cs...)
			g.want(t, "a wrong client secret", g.post(t, 0, "/gtr-clients", "Basic "+base64.StdEncoding.EncodeToString([]byte("ops:wrong")), gtrDraftIssSub), http.StatusUnauthorized)
			g.want(t, "a bearer on the client route", g.post(t, 0, "/gtr-clients", bearer, gtrDraftIssSub), http.StatusUnauthorized)
			g.want(t, "a client's opaque subject with two jwt blocks", g.post(t, 0, "/gtr-clients", basic, gtrDraftOpaque), http.StatusUnprocessableEntity)

			// email_is_sub: the draft's email example names the user
			// whose sub is the address.
			emailUser := g.user(t, "user@example.com")
			g.want(t, "the draft's email example with email_is_sub", g.post(t, 0, "/gtr-email", bearer, gtrDraftEmail), http.StatusNoContent)
			apiStatus(t, "the email user after", emailUser, http.StatusUnauthorized, g.cs...)
			apiStatus(t, "another user after the email revocation", bystander, http.StatusOK, g.cs...)

			// Counted as every route's revocations, a user cut-off each:
			// through instance 0 the iss_sub and email examples', the
			// endpoint-audience JWT's and the client's, and the opaque
			// example's when it is also the last.
			want := 4.0
			if last == 0 {
				want++
			}
			if n := scrape(t, g.cs[0])[`caddy_token_revocation_revocations_total{kind="user",route="global_token_revocation"}`]; n != want {
				t.Errorf("revocations_total of the route at instance 0: %v, want %v", n, want)
			}

			// After a restart of every instance.
			for _, c := range g.cs {
				c.Restart()
			}
			apiStatus(t, "the iss_sub user after a restart", issSubUser, http.StatusUnauthorized, g.cs...)
			apiStatus(t, "the opaque user after a restart", opaqueUser, http.StatusUnauthorized, g.cs...)
			apiStatus(t, "another user after a restart", bystander, http.StatusOK, g.cs...)
		})
	}
}

// TestGlobalTokenRevocationStoreDown: a revocation Redis did not store is
// answered 503, never 204.
func TestGlobalTokenRevocationStoreDown(t *testing.T) {
	g := &gtrGateway{idp: startIdP(t), other: startIdP(t)}
	g.idp.publish(t, "k1")
	rs := startRedis(t)
	up := startUpstream(t)
	g.cs = []*Caddy{startCaddy(t, gtrCaddyfile, "store redis {\n\t\t\taddress "+rs.Addr+"\n\t\t}", gtrIssuer, g.idp.URL, gtrOther, g.other.URL, up.Addr())}
	bearer := "Bearer " + g.caller(t, g.idp, gtrIssuer)
	g.want(t, "with Redis up", g.post(t, 0, "/global-token-revocation", bearer, gtrDraftOpaque), http.StatusNoContent)
	rs.Stop()
	g.want(t, "with Redis down", g.post(t, 0, "/global-token-revocation", bearer, gtrDraftIssSub), http.StatusServiceUnavailable)
}

// gtrOPCaddyfile: the gateway in front of an API, its jwt block panva's
// oidc-provider found by discovery. Arguments: store, OP port.
const gtrOPCaddyfile = `http:// {
	token_revocation {
		%s
		jwt http://127.0.0.1:%d {
			audience https://api.test
		}
		global_token_revocation /global-token-revocation
	}
	handle /api/* {
		respond "api ok" 200
	}
}`

// TestGlobalTokenRevocationOIDCProvider: the tokens come from a real OP,
// panva's oidc-provider: users' access tokens from the authorization code
// flow, the caller's from client_credentials with scope
// global_token_revocation (its worker client).
func TestGlobalTokenRevocationOIDCProvider(t *testing.T) {
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store(t)
			port, cs := startOPGateways(t, tc.instances, gtrOPCaddyfile, func(port int) []any { return []any{store, port} })
			op := startOIDCProvider(t, port, "http://127.0.0.1:9/unused")
			alice := op.login(t, newBrowser(t), "alice", op.url("/token")).AccessToken
			bob := op.login(t, newBrowser(t), "bob", op.url("/token")).AccessToken
			workerToken := func(scope string) string {
				res := postForm(t, op.url("/token"), url.Values{"grant_type": {"client_credentials"}, "scope": {scope}, "resource": {opResource}},
					"Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte("worker:worker-secret-worker-secret-worker")))
				var ts tokenSet
				if err := json.Unmarshal([]byte(res.Body), &ts); err != nil || res.Status != http.StatusOK || strings.Count(ts.AccessToken, ".") != 2 {
					t.Fatalf("client_credentials %s: %d %s", scope, res.Status, res.Body)
				}
				return ts.AccessToken
			}
			apiStatus(t, "alice before", alice, http.StatusOK, cs...)
			body := `{"sub_id":{"format":"iss_sub","iss":"` + op.url("") + `","sub":"alice"}}`
			// Caddy started before the OP: until it has fetched the OP's
			// keys, a call is answered 503 (the caller retries, as an IdP
			// does), never anything else.
			post := func(auth string) Response {
				var res Response
				pollUntil(t, 15*time.Second, func() string {
					res = do(t, http.MethodPost, cs[0].URL("/global-token-revocation"), strings.NewReader(body), "Content-Type: application/json", "Authorization: Bearer "+auth)
					if res.Status == http.StatusServiceUnavailable {
						return "still 503: " + res.Body
					}
					return ""
				})
				return res
			}
			if res := post(workerToken("api")); res.Status != http.StatusForbidden {
				t.Errorf("the worker's token without the scope: %d %s, want 403", res.Status, res.Body)
			}
			if res := post(bob); res.Status != http.StatusForbidden {
				t.Errorf("bob's own access token: %d %s, want 403", res.Status, res.Body)
			}
			apiStatus(t, "alice after refused calls", alice, http.StatusOK, cs...)
			if res := post(workerToken("global_token_revocation")); res.Status != http.StatusNoContent {
				t.Fatalf("the worker's global_token_revocation token: %d %s, want 204", res.Status, res.Body)
			}
			apiStatus(t, "alice after", alice, http.StatusUnauthorized, cs...)
			apiStatus(t, "bob after", bob, http.StatusOK, cs...)
			for _, c := range cs {
				c.Restart()
			}
			apiStatus(t, "alice after a restart", alice, http.StatusUnauthorized, cs...)
			apiStatus(t, "bob after a restart", bob, http.StatusOK, cs...)
		})
	}
}

// TestGlobalTokenRevocationForward: in forward mode the authorization
// server behind the gateway (a stand-in answering as the draft says)
// authenticates and answers; the gateway records the user's cut-off only
// on its 2xx, and passes on unread what it cannot map.
func TestGlobalTokenRevocationForward(t *testing.T) {
	g := &gtrGateway{idp: startIdP(t), other: startIdP(t)}
	g.idp.publish(t, "k1")
	as := startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := EchoOf(r)
		switch {
		case r.URL.Path != "/global-token-revocation":
			w.WriteHeader(http.StatusOK) // the API
		case r.Header.Get("Authorization") != "Bearer as-credential":
			w.WriteHeader(http.StatusUnauthorized)
		case strings.Contains(e.Body, `"ghost"`):
			w.WriteHeader(http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	g.cs = []*Caddy{startCaddy(t, strings.Replace(gtrCaddyfile, "global_token_revocation /global-token-revocation\n", "global_token_revocation /global-token-revocation forward\n", 1),
		"store embedded", gtrIssuer, g.idp.URL, gtrOther, g.other.URL, as.Addr())}
	subject := func(sub string) string {
		return `{"sub_id":{"format":"iss_sub","iss":"` + gtrIssuer + `","sub":"` + sub + `"}}`
	}
	carol, ghost, erin := g.user(t, "carol"), g.user(t, "ghost"), g.user(t, "erin")

	g.want(t, "a call the upstream refuses", g.post(t, 0, "/global-token-revocation", "Bearer wrong", subject("carol")), http.StatusUnauthorized)
	g.want(t, "a user the upstream does not know", g.post(t, 0, "/global-token-revocation", "Bearer as-credential", subject("ghost")), http.StatusNotFound)
	g.want(t, "an email subject, passed on", g.post(t, 0, "/global-token-revocation", "Bearer as-credential", gtrDraftEmail), http.StatusNoContent)
	if last := as.Last(t); last.Body != gtrDraftEmail {
		t.Errorf("the upstream got %q, want the draft's email example unchanged", last.Body)
	}
	apiStatus(t, "carol after a refused call", carol, http.StatusOK, g.cs...)
	apiStatus(t, "ghost after the upstream's 404", ghost, http.StatusOK, g.cs...)

	g.want(t, "a call the upstream accepts", g.post(t, 0, "/global-token-revocation", "Bearer as-credential", subject("carol")), http.StatusNoContent)
	apiStatus(t, "carol after the upstream's 204", carol, http.StatusUnauthorized, g.cs...)
	apiStatus(t, "erin", erin, http.StatusOK, g.cs...)
}
