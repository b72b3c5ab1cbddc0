package gateway

import (
	"net/http"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// Configurations that do less than their name suggests: warned about at
// start when the config shows it, counted (and logged once) when traffic
// shows it.
//
//   - A logout route answered by the gateway (respond mode) without a jwt
//     block revokes only the tokens presented, never their session: an
//     unverified token's sid is not trusted.
//   - Session revocation (logout, keycloak_logout, backchannel_logout, caep)
//     ends the access tokens of a session only when they carry its sid;
//     several providers leave sid out of access tokens by default. Observed
//     on the tokens checked: tokens_without_sid_total.
//   - A route whose path a client's call misses (a profile without the
//     prefix the API is served under, say) records nothing while the
//     upstream answers as usual. Observed: a POST that matched no route but
//     whose path ends like a route's fixed tail counts in
//     route_near_misses_total, logged once per route.

// configWarnings watches for what the configuration does not do.
type configWarnings struct {
	// sessions is set when a route revokes sessions.
	sessions bool
	// tails are the fixed path tails of the routes, for near misses.
	tails []routeTail
	// logged holds the issuers and routes already logged about (a few:
	// routes, and issuers of jwt blocks).
	logged sync.Map
	// issuers are those of the jwt blocks, as configured.
	issuers []string
	Logger  *zap.Logger
}

// routeTail is the fixed end of a route's path ("/protocol/openid-connect/logout").
type routeTail struct {
	route string
	tail  string
}

// NewConfigWarnings logs at start what the configuration (its routes,
// the issuers of its jwt blocks) leaves undone and prepares the observed
// warnings.
func NewConfigWarnings(routes []*route.Compiled, issuers []string, logger *zap.Logger) *configWarnings {
	w := &configWarnings{issuers: issuers, Logger: logger}
	for _, rt := range routes {
		name := rt.Type + " " + rt.Path
		if rt.Kind.RevokesSessions {
			w.sessions = true
		}
		if rt.Mode == route.ModeRespond && rt.Kind.SessionNeedsJWT && len(issuers) == 0 {
			logger.Warn("a logout route answered by the gateway without a jwt block revokes only the tokens presented, not their session: the session's access tokens stay valid; add `jwt <issuer> { jwks_url ... }` (or forward the route to the identity provider: mode forward)",
				zap.String("route", name))
		}
		if t := PathTail(rt.Path); t != "" {
			w.tails = append(w.tails, routeTail{route: name, tail: t})
		}
	}
	if w.sessions && len(issuers) == 0 {
		logger.Info("session revocations reach only access tokens that carry the session's sid; if the identity provider leaves sid out of access tokens, have it add it (metric tokens_without_sid_total counts tokens seen without)")
	}
	return w
}

// PathTail is the fixed end of a route path: its segments after the last
// placeholder, when there are at least two ("/a/{x}/b/c" → "/b/c").
func PathTail(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	i := len(segs)
	for i > 0 && !strings.ContainsAny(segs[i-1], "{}*") {
		i--
	}
	if len(segs)-i < 2 {
		return ""
	}
	return "/" + strings.Join(segs[i:], "/")
}

// noteUnrouted counts a POST that matched no route but ends like one.
// Cheap: only POSTs reach it, and it compares suffixes.
func (w *configWarnings) noteUnrouted(r *http.Request) {
	if w == nil || r.Method != http.MethodPost {
		return
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	for _, t := range w.tails {
		if !strings.HasSuffix(p, t.tail) {
			continue
		}
		MetricNearMisses.WithLabelValues(t.route).Inc()
		if _, seen := w.logged.LoadOrStore("route "+t.route, true); !seen {
			w.Logger.Warn("a POST ends like a revocation route but matched none: it went to the upstream and nothing was recorded; if the API serves this endpoint under another prefix, give the profile that prefix (e.g. profile keycloak /auth) or add a route",
				zap.String("route", t.route), zap.String("path", r.URL.Path))
		}
		return
	}
}

// NoteClaims counts a JWT without sid when routes revoke sessions (called
// once per distinct token: checks cache its query). The claims' strings
// are the Checker's to reuse: what is kept (the metric's label, the log's
// issuer) is the configured issuer's string, never c.Issuer.
func (w *configWarnings) NoteClaims(c token.Claims) {
	if w == nil || !w.sessions || c.SessionID != "" || c.Issuer == "" || engine.IsRefresh(&c) {
		return
	}
	iss := w.configuredIssuer(c.Issuer) // a label per issuer of a jwt block only: claims are the caller's to choose
	MetricNoSID.WithLabelValues(iss).Inc()
	if _, seen := w.logged.LoadOrStore("sid "+iss, true); !seen {
		w.Logger.Warn("a token carries no sid: logout and back-channel logout do not reach it (it stays valid until it expires or is revoked itself); configure the identity provider to put sid in access tokens",
			zap.String("issuer", iss))
	}
}

// configuredIssuer is the issuer of the jwt block configured for iss (the
// configuration's copy of the string), or "unconfigured".
func (w *configWarnings) configuredIssuer(iss string) string {
	for _, configured := range w.issuers {
		if configured == iss {
			return configured
		}
	}
	return "unconfigured"
}
