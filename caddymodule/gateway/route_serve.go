package gateway

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// ServeHTTP intercepts revocation routes and, on every other request,
// rejects the request if any token it carries is revoked.
func (h *Runtime) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.SSF != nil && h.SSF.servePush(w, r) { // ssf.go
		return nil
	}
	if rt, m := h.matchRoute(r); rt != nil {
		return h.serveRoute(w, r, next, rt, m)
	}
	h.Warnings.noteUnrouted(r)
	deadline := h.bodyReadDeadline(w, r) // body_deadline.go
	err := h.CheckRequest(r)
	deadline.end()
	if err != nil {
		return h.answerCheck(w, r, err) // caddy_errors.go
	}
	// A body the check read whole is in a pooled buffer, given back once
	// the request is done: nothing the check kept points into it (the
	// live registry's body tokens are copies, keepBodyTokens).
	pooled, _ := r.Body.(*token.PooledBody)
	err = h.Conns.serveNext(w, r, next) // live_connections.go
	if pooled != nil {
		pooled.Release()
	}
	return err
}

// matchRoute returns the route r's path matches and how, with its
// captured segments set as request variables.
func (h *Runtime) matchRoute(r *http.Request) (*route.Compiled, *route.PathMatch) {
	for _, rt := range h.Routes {
		if m, ok := rt.Pattern.Match(r); ok {
			for k, v := range m.Vars {
				caddyhttp.SetVar(r.Context(), k, v)
			}
			return rt, m
		}
	}
	return nil, nil
}

// serveRoute handles a call to a revocation route. A call that goes on
// to the upstream (forward mode, or passed on unread) is checked first like
// any other request, since the tokens it carries as credentials reach the
// upstream (what it revokes is its payload, not its credentials), and goes
// with the path the route matched, so that no spelling the gateway cleaned
// ("/api/x/../../revoke") reaches another endpoint of the upstream.
func (h *Runtime) serveRoute(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *route.Compiled, m *route.PathMatch) error {
	ns, err := h.Namespace(r, rt.Namespace)
	if err != nil {
		return h.writeError(w, err)
	}
	if rt.Mode == route.ModeForward {
		m.SetPath(r)
	}
	pass := rt.Mode == route.ModeForward && rt.Kind.PassUnreadable
	if !slices.Contains(rt.Kind.Methods, r.Method) {
		if pass {
			return h.passOn(w, r, next, rt, route.ErrMethodNotRead) // not a revocation: the upstream answers it
		}
		w.Header().Set("Allow", strings.Join(rt.Kind.Methods, ", "))
		return route.WriteOAuthError(w, &route.OAuthError{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "method " + r.Method + " not allowed"})
	}
	if rt.Kind.Verifies && rt.Mode == route.ModeRespond {
		// An identity provider's push is not sent again: once read, it
		// is verified and recorded even if the sender hangs up meanwhile
		// (waiting for a new signing key, jwtverify.Options.WaitForNewKey,
		// may outlast its timeout: oidc-provider's is 2.5s).
		r = r.WithContext(context.WithoutCancel(r.Context()))
	}
	client, err := h.guardRoute(r, rt) // rate limits, client authentication, ceiling
	if err != nil {
		return h.writeError(w, err)
	}
	c := &route.Call{Revocation: engine.Revocation{Namespace: ns}, Route: rt, Started: h.Now()}
	bodyRead := h.bodyReadDeadline(w, r) // body_deadline.go
	err = rt.Kind.Read(h.Env, r, c)
	bodyRead.end()
	if err != nil {
		if pass && route.IsUnreadable(err) {
			return h.passOn(w, r, next, rt, err)
		}
		return h.writeError(w, err)
	}
	if err := h.screenRevocation(r.Context(), rt, c); err != nil { // tokens per call, verified_only
		return h.writeError(w, err)
	}
	if rt.Mode == route.ModeRespond {
		if client != "" { // a client revokes its own tokens only (client_auth.go)
			if err := checkOwnTokens(r.Context(), h.Env, client, c.Tokens); err != nil {
				return h.writeError(w, err)
			}
		}
		if err := h.Quotas.admitCall(r.Context(), h.Env, h.Store, r, c, client); err != nil { // quotas (quota.go)
			return h.writeError(w, err)
		}
		defer c.Quota.Done()
		if err := h.recordCall(r.Context(), c); err != nil {
			return h.writeError(w, err)
		}
		return rt.Kind.Respond(h.Env, w, r, c)
	}
	if err := h.checkRequestExcept(r, c.Targets()); err != nil {
		return h.writeError(w, err)
	}
	if err := h.Quotas.admitCall(r.Context(), h.Env, h.Store, r, c, client); err != nil {
		return h.writeError(w, err)
	}
	defer c.Quota.Done()
	return h.forward(w, r, next, rt, c) // forward.go
}

// passOn forwards a route request the kind could not read, unchanged, and
// records nothing; a revoked token it carries is rejected first, as on any
// request that is not a revocation. Should the upstream accept a call it
// could not read (2xx), an info line says so: the upstream may have revoked
// something the gateway does not know of (a browser logout without a
// refresh token, say).
func (h *Runtime) passOn(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, rt *route.Compiled, why error) error {
	if err := h.CheckRequest(r); err != nil {
		return h.writeError(w, err)
	}
	if c := h.Logger.Check(zapcore.DebugLevel, "route request not read; passed on to the upstream"); c != nil {
		c.Write(zap.String("route", rt.Label()), zap.String("why", why.Error()))
	}
	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	err := next.ServeHTTP(rec, r)
	if s := rec.Status(); s >= 200 && s < 300 && why != route.ErrMethodNotRead {
		h.Logger.Info("the upstream accepted a route request the gateway could not read: nothing was recorded",
			zap.String("route", rt.Label()), zap.Int("status", s), zap.String("why", why.Error()))
	}
	return err
}
