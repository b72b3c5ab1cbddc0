package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// Answers through Caddy's error handling.
//
// A request the check path refuses (401 revoked token, 503 store
// unavailable, 400/413 unreadable) is answered in one of two ways:
//
//   - when the site's error routes (`handle_errors`) match the error, the
//     handler returns a caddyhttp.Error (status, and the oauthError as its
//     message) with WWW-Authenticate (401) or Retry-After (503) already
//     set on the response, and those routes write the answer, as they do
//     for basic_auth or rate_limit;
//   - otherwise it writes the RFC 6750 answer itself, JSON body included,
//     byte for byte as before error routes existed. Caddy answers an error
//     that no error route handles with its status alone and an empty body,
//     which would be a worse answer than the one a client parses today;
//     hence the look at the routes first.
//
// "Match" is judged the way Caddy runs the error routes: the first route
// whose matchers match (with {http.error.*} set), descending into
// subroutes (the Caddyfile puts each site's handle_errors in a subroute
// under a host matcher, and `handle_errors 404` in one matched on
// {http.error.status_code}); a route that only sets headers or variables
// does not count as an answer.

// answerCheck answers a request the check path refused with err (see
// checkRequest).
func (h *Runtime) answerCheck(w http.ResponseWriter, r *http.Request, err error) error {
	oe := h.asOAuthError(err)
	h.setRetryAfter(w, oe.Status)
	if he, ok := errorRoutesAnswer(r, oe); ok {
		hdr := w.Header()
		route.SetBearer(hdr, oe)
		hdr.Set("Cache-Control", "no-store")
		return he
	}
	return route.WriteOAuthError(w, oe)
}

// errorRoutesAnswer returns the caddyhttp.Error for oe and true when the
// server's error routes would answer it for r.
func errorRoutesAnswer(r *http.Request, oe *route.OAuthError) (caddyhttp.HandlerError, bool) {
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if srv == nil || srv.Errors == nil || len(srv.Errors.Routes) == 0 {
		return caddyhttp.HandlerError{}, false
	}
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if repl == nil {
		return caddyhttp.HandlerError{}, false
	}
	he := caddyhttp.Error(oe.Status, oe)
	// WithError sets {http.error.*} on the request's replacer, as the
	// server will when it runs the routes; unset them if it will not.
	answered, _ := routesAnswer(srv.Errors.Routes, srv.Errors.WithError(r, he), map[string]struct{}{})
	if !answered {
		for _, k := range errorPlaceholders {
			repl.Delete(k)
		}
	}
	return he, answered
}

// errorPlaceholders are the placeholders HTTPErrorConfig.WithError sets.
var errorPlaceholders = []string{"http.error", "http.error.status_code", "http.error.status_text", "http.error.id", "http.error.trace", "http.error.message"}

// passThrough are handlers that let the request go on to the next one:
// an error route made of them alone leaves the answer to Caddy's default
// (the status, no body).
var passThrough = map[caddy.ModuleID]bool{
	"http.handlers.headers":    true,
	"http.handlers.vars":       true,
	"http.handlers.map":        true,
	"http.handlers.log_append": true,
	"http.handlers.log_skip":   true,
}

// routesAnswer reports whether routes, run for r, reach a handler that
// answers; stop is set when a terminal route ends the chain first. groups
// are the route groups already satisfied.
func routesAnswer(routes caddyhttp.RouteList, r *http.Request, groups map[string]struct{}) (answered, stop bool) {
	for _, rt := range routes {
		if rt.Group != "" {
			if _, done := groups[rt.Group]; done {
				continue
			}
		}
		if ok, err := rt.MatcherSets.AnyMatchWithError(r); err != nil || !ok {
			continue
		}
		if rt.Group != "" {
			groups[rt.Group] = struct{}{}
		}
		for _, hd := range rt.Handlers {
			if sr, ok := hd.(*caddyhttp.Subroute); ok {
				a, s := routesAnswer(sr.Routes, r, map[string]struct{}{})
				if a || s {
					return a, s
				}
				continue
			}
			if m, ok := hd.(caddy.Module); ok && passThrough[m.CaddyModule().ID] {
				continue
			}
			return true, false
		}
		if rt.Terminal {
			return false, true
		}
	}
	return false, false
}

// writeError answers err: an *oauthError, or an error of a protocol with
// its own format, as it is; a store failure as 503. Every 503 carries
// Retry-After (RFC 7009 section 2.2.1: the client must assume the token
// still exists and try again).
func (h *Runtime) writeError(w http.ResponseWriter, err error) error {
	var own route.SelfAnswering
	if errors.As(err, &own) {
		h.setRetryAfter(w, own.StatusCode())
		return own.Answer(w)
	}
	oe := h.asOAuthError(err)
	h.setRetryAfter(w, oe.Status)
	return route.WriteOAuthError(w, oe)
}

// asOAuthError is err as the answer to give: itself when it is an
// *oauthError, else (a store failure) errStoreUnavailable.
func (h *Runtime) asOAuthError(err error) *route.OAuthError {
	var oe *route.OAuthError
	if errors.As(err, &oe) {
		return oe
	}
	if !errors.Is(err, denylist.ErrUnavailable) {
		h.ErrLog.Error("unexpected error", zap.Error(err))
	}
	return route.ErrStoreUnavailable
}

// setRetryAfter adds Retry-After (whole seconds, at least 1) to a 503.
func (h *Runtime) setRetryAfter(w http.ResponseWriter, status int) {
	if status != http.StatusServiceUnavailable {
		return
	}
	secs := int(h.RetryAfter.Round(time.Second) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
}
