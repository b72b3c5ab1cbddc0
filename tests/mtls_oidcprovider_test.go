package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// The mtls client of tests/idp/oidc-provider/op.mjs: its access tokens are
// bound to the TLS client certificate it calls the token endpoint with.
const (
	opMTLSClient = "mtls"
	opMTLSSecret = "mtls-secret-mtls-secret-mtls-secret"
)

// startOIDCProviderTLS runs the OP over HTTPS (issuer
// https://127.0.0.1:<port>) with pki's server certificate, asking clients
// for a certificate (RFC 8705).
func startOIDCProviderTLS(t *testing.T, port int, pki testPKI) *oidcProvider {
	t.Helper()
	cfg, _ := json.Marshal(map[string]any{
		"backchannel_logout_uri": "http://127.0.0.1:9/backchannel", "redirect_uri": "http://127.0.0.1:9/cb",
		"tls": map[string]string{"cert": pki.ServerCert, "key": pki.ServerKey},
	})
	op := &oidcProvider{t: t, dir: opInstall(t), port: port, cfg: string(cfg)}
	op.start()
	t.Cleanup(op.stop)
	return op
}

// mtlsClient is an HTTPS client that trusts pki's CA and presents the
// client certificate in certFile (with keyFile): what it is bound to,
// thumbprint, is the RFC 8705 x5t#S256 of that certificate.
type mtlsClient struct {
	http       *http.Client
	thumbprint string
}

// newMTLSClient makes the client of certFile and keyFile, or one without
// a certificate when certFile is "".
func newMTLSClient(t *testing.T, pki testPKI, certFile, keyFile string) *mtlsClient {
	t.Helper()
	var certs []tls.Certificate
	thumbprint := ""
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		certs, thumbprint = []tls.Certificate{cert}, token.CertificateThumbprint(cert.Certificate[0])
	}
	ca, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca)
	return &mtlsClient{
		http: &http.Client{
			Timeout: httpTimeout,
			Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil, TLSClientConfig: &tls.Config{
				RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12,
			}, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				// localhost is 127.0.0.1, where Caddy listens, whatever
				// the resolver says.
				if host, port, err := net.SplitHostPort(addr); err == nil && host == "localhost" {
					addr = net.JoinHostPort("127.0.0.1", port)
				}
				return (&net.Dialer{Timeout: httpTimeout}).DialContext(ctx, network, addr)
			}},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		thumbprint: thumbprint,
	}
}

func (m *mtlsClient) do(t *testing.T, method, url string, form url.Values, headers ...string) Response {
	t.Helper()
	var res Response
	var err error
	if form != nil {
		res, err = tryDoWith(m.http, method, url, strings.NewReader(form.Encode()), append([]string{"Content-Type: application/x-www-form-urlencoded"}, headers...)...)
	} else {
		res, err = tryDoWith(m.http, method, url, nil, headers...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// accessToken gets an access token of the mtls client from the OP by the
// client credentials grant, over a TLS connection made with m's
// certificate: a JWT for the API (RFC 9068) with resource, else opaque.
func (m *mtlsClient) accessToken(t *testing.T, op *oidcProvider, resource string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
	if resource != "" {
		form.Set("resource", resource)
	}
	res := m.do(t, http.MethodPost, "https://127.0.0.1:"+strconv.Itoa(op.port)+"/token", form,
		"Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte(opMTLSClient+":"+opMTLSSecret)))
	var ts struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(res.Body), &ts); res.Status != http.StatusOK || err != nil || ts.AccessToken == "" {
		t.Fatalf("client_credentials over mTLS: %d %s", res.Status, res.Body)
	}
	return ts.AccessToken
}

// introspectX5T asks the OP's introspection endpoint (as the mtls
// client, over m's connection) about tok and returns its cnf.x5t#S256.
func (m *mtlsClient) introspectX5T(t *testing.T, op *oidcProvider, tok string) string {
	t.Helper()
	res := m.do(t, http.MethodPost, "https://127.0.0.1:"+strconv.Itoa(op.port)+"/token/introspection", url.Values{"token": {tok}},
		"Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte(opMTLSClient+":"+opMTLSSecret)))
	var in struct {
		Active bool `json:"active"`
		Cnf    struct {
			X5T string `json:"x5t#S256"`
		} `json:"cnf"`
	}
	if err := json.Unmarshal([]byte(res.Body), &in); res.Status != http.StatusOK || err != nil || !in.Active {
		t.Fatalf("introspection: %d %s", res.Status, res.Body)
	}
	return in.Cnf.X5T
}

// mtlsGatewayCaddyfile: a gateway in front of an upstream, served over
// HTTPS with client certificates required (pki's CA), the OP's access
// tokens verified (keys by discovery, the OP's CA trusted); metrics on.
// The http:// site only answers: the harness waits for its port. Clients
// call https://localhost:<port>: Caddy picks the TLS connection policy
// that asks for the client certificate by SNI (an IP address sends none).
// Arguments: store, OP port, CA, upstream address, server cert, server
// key, CA.
const mtlsGatewayCaddyfile = `{
	metrics
}
http:// {
	respond "use https" 400
}
https://localhost {
	tls %[5]s %[6]s {
		client_auth {
			mode require_and_verify
			trust_pool file %[3]s
		}
	}
	token_revocation {
		%[1]s
		jwt https://127.0.0.1:%[2]d {
			audience https://api.test
			ca_file %[3]s
		}
	}
	reverse_proxy %[4]s
}`

// mtlsAPIStatus polls until every instance answers want to an API call
// with tok, made over a TLS connection with m's certificate (RFC 8705
// §3: a certificate-bound token is sent as a Bearer token).
func mtlsAPIStatus(t *testing.T, what string, m *mtlsClient, tok string, want int, cs ...*Caddy) {
	t.Helper()
	for i, c := range cs {
		pollUntil(t, 5*time.Second, func() string {
			target := "https://localhost:" + strconv.Itoa(c.HTTPSPort) + "/api/items"
			if res := m.do(t, http.MethodGet, target, nil, "Authorization: Bearer "+tok); res.Status != want {
				return fmt.Sprintf("%s: instance %d: %d %s, want %d", what, i, res.Status, res.Body, want)
			}
			return ""
		})
	}
}

// TestGatewayRevokesCertificateBoundTokens: panva's oidc-provider, served
// over HTTPS, binds the access tokens of a client with
// tls_client_certificate_bound_access_tokens to the certificate the client
// presents at its token endpoint (RFC 8705: cnf.x5t#S256). Through a real
// Caddy requiring client certificates, such a JWT passes until the admin
// API revokes its certificate's thumbprint (issue 25 item 4); then it, and
// a token the OP binds to the same certificate after the revocation, get
// 401 (reason cnf) while a token bound to another certificate passes; so
// does an opaque token the OP bound to the certificate (its introspection
// says so), found by the certificate the request is made with (without
// that look-up, at 2f9b84e, it passed), and the SSE stream it opened over
// that certificate at B ends. The CLI checks, un-revokes and
// revokes the thumbprint again (--x5t-s256); a restart forgets none of it.
// On the embedded store, and on Redis with two instances: revoked through
// A, enforced by B. On 5278a12 the admin API answers {"x5t#S256"} 400
// (unknown field).
func TestGatewayRevokesCertificateBoundTokens(t *testing.T) {
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) {
			pki := newTestPKI(t, t.TempDir())
			ports, err := freePorts(1)
			if err != nil {
				t.Fatal(err)
			}
			up := startLiveUpstream(t) // "ok" to the API calls, and SSE streams
			store := tc.store(t)
			var cs []*Caddy
			for range tc.instances {
				cs = append(cs, startCaddy(t, mtlsGatewayCaddyfile, store, ports[0], strconv.Quote(pki.CA), up,
					strconv.Quote(pki.ServerCert), strconv.Quote(pki.ServerKey)))
			}
			a, b := cs[0], cs[len(cs)-1]
			addrA := "127.0.0.1:" + strconv.Itoa(a.AdminPort)
			op := startOIDCProviderTLS(t, ports[0], pki)
			cert, other := newMTLSClient(t, pki, pki.ClientCert, pki.ClientKey), newMTLSClient(t, pki, pki.OtherClientCert, pki.OtherClientKey)
			bound, boundOther := cert.accessToken(t, op, opResource), other.accessToken(t, op, opResource)
			for what, c := range map[string]struct {
				raw string
				m   *mtlsClient
			}{"bound": {bound, cert}, "bound to another certificate": {boundOther, other}} {
				if tok := token.Parse(c.raw); !tok.JWT || tok.Claims.Confirmation.X5TS256 != c.m.thumbprint {
					t.Fatalf("%s token: JWT %v, cnf %+v; want cnf.x5t#S256 %q", what, tok.JWT, tok.Claims.Confirmation, c.m.thumbprint)
				}
			}
			// Opaque access tokens (no resource), bound as well: the OP's
			// introspection says so (cnf.x5t#S256); the gateway cannot
			// read it, and looks up the request's certificate instead.
			opaque, opaqueOther := cert.accessToken(t, op, ""), other.accessToken(t, op, "")
			for what, c := range map[string]struct {
				raw string
				m   *mtlsClient
			}{"opaque": {opaque, cert}, "opaque, bound to another certificate": {opaqueOther, other}} {
				if tok := token.Parse(c.raw); tok.JWT {
					t.Fatalf("%s token is a JWT", what)
				}
				if got := c.m.introspectX5T(t, op, c.raw); got != c.m.thumbprint {
					t.Fatalf("%s token: introspection says cnf.x5t#S256 %q, want %q", what, got, c.m.thumbprint)
				}
			}
			// The gateway asks for the client certificate (and the calls
			// below present it): without one, no TLS connection.
			if res, err := tryDoWith(newMTLSClient(t, pki, "", "").http, http.MethodGet, "https://localhost:"+strconv.Itoa(a.HTTPSPort)+"/api/items", nil, "Authorization: Bearer "+bound); err == nil {
				t.Fatalf("a call without a client certificate answered %d, want no TLS connection", res.Status)
			}
			mtlsAPIStatus(t, "certificate-bound token before any revocation", cert, bound, http.StatusOK, cs...)
			mtlsAPIStatus(t, "token bound to another certificate", other, boundOther, http.StatusOK, cs...)
			mtlsAPIStatus(t, "opaque certificate-bound token before any revocation", cert, opaque, http.StatusOK, cs...)
			mtlsAPIStatus(t, "opaque token bound to another certificate", other, opaqueOther, http.StatusOK, cs...)

			// SSE streams through B, of the opaque tokens, each over its
			// certificate: live connections registered under the
			// request's key too.
			sse := func(m *mtlsClient, tok string) *sseStream {
				req, _ := http.NewRequest(http.MethodGet, "https://localhost:"+strconv.Itoa(b.HTTPSPort)+"/sse?every=50", nil)
				s := openSSEWith(t, m.http.Transport, req, "Authorization: Bearer "+tok)
				s.delivers(t, "new SSE stream", 1)
				return s
			}
			stream, otherStream := sse(cert, opaque), sse(other, opaqueOther)

			// The admin API of A revokes the certificate by its RFC 8705
			// thumbprint.
			entry := revokeBoundKey(t, a, "x5t#S256", cert.thumbprint)
			after := cert.accessToken(t, op, opResource)
			mtlsAPIStatus(t, "token bound to the revoked certificate", cert, bound, http.StatusUnauthorized, cs...)
			mtlsAPIStatus(t, "token bound to the revoked certificate, issued after the revocation", cert, after, http.StatusUnauthorized, cs...)
			mtlsAPIStatus(t, "token bound to another certificate", other, boundOther, http.StatusOK, cs...)
			mtlsAPIStatus(t, "opaque token bound to the revoked certificate, presented with it", cert, opaque, http.StatusUnauthorized, cs...)
			mtlsAPIStatus(t, "opaque token bound to another certificate", other, opaqueOther, http.StatusOK, cs...)
			if err := stream.ended(5 * time.Second); err != nil {
				t.Errorf("SSE stream of the opaque token, over the revoked certificate: %v", err)
			}
			otherStream.delivers(t, "SSE stream of the opaque token bound to another certificate", 1)
			assertRevokedByKey(t, b, after, entry)

			// The CLI, against A: check says revoked (exit 1); un-revoke:
			// B lets the token through; revoke again: B refuses it.
			cliWants(t, 1, "revoked by cnf ", "check", "--x5t-s256", cert.thumbprint, "--address", addrA)
			cliWants(t, 0, "un-revoked cnf ", "unrevoke", "--x5t-s256", cert.thumbprint, "--address", addrA)
			mtlsAPIStatus(t, "token bound to the un-revoked certificate", cert, after, http.StatusOK, cs...)
			cliWants(t, 0, "revoked cnf ", "revoke", "--x5t-s256", cert.thumbprint, "--until", time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339), "--address", addrA)
			mtlsAPIStatus(t, "token bound to the certificate the CLI revoked", cert, after, http.StatusUnauthorized, cs...)
			mtlsAPIStatus(t, "token bound to another certificate", other, boundOther, http.StatusOK, cs...)

			// After a restart of B (the embedded store's file, or Redis)
			// the certificate is still revoked, the other not.
			b.Restart()
			mtlsAPIStatus(t, "token bound to the revoked certificate, after a restart", cert, bound, http.StatusUnauthorized, b)
			mtlsAPIStatus(t, "token bound to the revoked certificate, issued after the revocation, after a restart", cert, after, http.StatusUnauthorized, b)
			mtlsAPIStatus(t, "token bound to another certificate, after a restart", other, boundOther, http.StatusOK, b)
			mtlsAPIStatus(t, "opaque token bound to the revoked certificate, after a restart", cert, opaque, http.StatusUnauthorized, b)
			mtlsAPIStatus(t, "opaque token bound to another certificate, after a restart", other, opaqueOther, http.StatusOK, b)
		})
	}
}
