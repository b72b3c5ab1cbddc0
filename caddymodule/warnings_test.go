package caddymodule

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// observed sets h up with a logger whose lines the test reads.
func observed(t *testing.T, h *Handler) (*Handler, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	h = newTestHandler(t, h, nil)
	h.logger = zap.New(core)
	h.gw.Logger = h.logger
	h.gw.Warnings = gateway.NewConfigWarnings(h.gw.Routes, gateway.JWTIssuers(h.JWT), h.logger)
	return h, logs
}

func logged(logs *observer.ObservedLogs, part string) int {
	n := 0
	for _, e := range logs.All() {
		if strings.Contains(e.Message, part) {
			n++
		}
	}
	return n
}

func TestWarnRespondLogoutWithoutJWT(t *testing.T) {
	_, logs := observed(t, &Handler{Routes: []*route.Route{{Type: "logout", Path: "/logout"}}})
	if logged(logs, "without a jwt block revokes only the tokens presented") != 1 {
		t.Errorf("respond-mode logout without jwt: no warning; logs: %v", logs.All())
	}
	for _, h := range []*Handler{
		{Routes: []*route.Route{{Type: "logout", Path: "/logout", Mode: route.ModeForward}}},
		{Routes: []*route.Route{{Type: "revoke", Path: "/revoke"}}},
	} {
		if _, logs := observed(t, h); logged(logs, "without a jwt block") != 0 {
			t.Errorf("%s %s: warned", h.Routes[0].Type, h.Routes[0].Mode)
		}
	}
}

func TestNearMissCountedAndLoggedOnce(t *testing.T) {
	h, logs := observed(t, &Handler{Routes: []*route.Route{{Type: "keycloak_logout", Path: "/realms/{realm}/protocol/openid-connect/logout", Mode: route.ModeForward}}})
	route := "keycloak_logout /realms/{realm}/protocol/openid-connect/logout"
	before := counterValue(gateway.MetricNearMisses.WithLabelValues(route))
	for range 2 {
		serve(t, h, &upstream{status: 204}, formRequest("POST", "/auth/realms/demo/protocol/openid-connect/logout", url.Values{"refresh_token": {"x"}}))
	}
	serve(t, h, &upstream{}, formRequest("POST", "/api/orders", url.Values{}))
	serve(t, h, &upstream{}, httptest.NewRequest("GET", "/auth/realms/demo/protocol/openid-connect/logout", nil))
	if got := counterValue(gateway.MetricNearMisses.WithLabelValues(route)) - before; got != 2 {
		t.Errorf("near misses counted: %v, want 2", got)
	}
	if n := logged(logs, "matched none"); n != 1 {
		t.Errorf("near-miss log lines: %d, want 1", n)
	}
}

func TestTokensWithoutSIDObserved(t *testing.T) {
	p := newIdP(t)
	h, logs := observed(t, p.handler(&route.Route{Type: "backchannel_logout", Path: "/bc"}))
	before := counterValue(gateway.MetricNoSID.WithLabelValues(testIssuer))
	now := time.Now().Unix()
	status(t, h, sign(t, p.key, "JWT", map[string]any{"sub": "u1", "jti": "n1", "iat": now}))
	status(t, h, sign(t, p.key, "JWT", map[string]any{"sub": "u1", "jti": "n2", "iat": now}))
	status(t, h, sign(t, p.key, "JWT", map[string]any{"sub": "u1", "sid": "S", "jti": "n3", "iat": now}))
	if got := counterValue(gateway.MetricNoSID.WithLabelValues(testIssuer)) - before; got != 2 {
		t.Errorf("tokens without sid: %v, want 2", got)
	}
	if n := logged(logs, "carries no sid"); n != 1 {
		t.Errorf("log lines: %d, want 1", n)
	}
	if gateway.PathTail("/realms/{realm}/protocol/openid-connect/logout") != "/protocol/openid-connect/logout" || gateway.PathTail("/logout") != "" || gateway.PathTail("/token/revocation") != "/token/revocation" {
		t.Error("pathTail")
	}
}

// TestNoSIDLabelOutlivesParseBuffer: the claims a check parses live in a
// buffer it reuses, so the issuer label the tokens-without-sid metric
// keeps must not be the token's string (it would change when other tokens
// are parsed into the buffer).
func TestNoSIDLabelOutlivesParseBuffer(t *testing.T) {
	const iss = "https://kept.test/realms/label"
	h := newTestHandler(t, &Handler{Routes: []*route.Route{{Type: "backchannel_logout", Path: "/bc"}},
		JWT: []*gateway.JWTConfig{{Issuer: iss, JWKSURL: "http://127.0.0.1:1/jwks", Audiences: []string{"gw"}}}}, nil)
	now := time.Now().Unix()
	status(t, h, algNone(map[string]any{"iss": iss, "sub": "u1", "jti": "n1", "iat": now}))
	for i := range 20 {
		other := strings.Replace(iss, "kept", fmt.Sprintf("x%03d", i), 1) // the same length
		status(t, h, algNone(map[string]any{"iss": other, "sub": "u1", "sid": "S", "jti": fmt.Sprint("o", i), "iat": now}))
	}
	found := false
	for _, l := range noSIDLabels() {
		found = found || l == iss
		if l != iss && l != testIssuer && l != "unconfigured" {
			t.Errorf("a tokens-without-sid label changed after it was kept: %q", l)
		}
	}
	if !found {
		t.Errorf("no tokens-without-sid label %q", iss)
	}
}

// noSIDLabels are the issuer labels of the tokens-without-sid metric.
func noSIDLabels() []string {
	ch := make(chan prometheus.Metric, 100)
	gateway.MetricNoSID.Collect(ch)
	close(ch)
	var labels []string
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err == nil {
			for _, l := range d.GetLabel() {
				labels = append(labels, l.GetValue())
			}
		}
	}
	return labels
}
