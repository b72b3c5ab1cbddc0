package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// revoke serves POST revoke: it stores what AdminRequest names, through
// the handler's Recorder, as a revocation route would; a bound key (jkt,
// x5t#S256) as engine.Revocation.BoundKeys.
func (a *adminCall) revoke() (any, error) {
	req, t, err := a.named()
	if err != nil {
		return nil, err
	}
	h, ctx := a.h, a.r.Context()
	out := &AdminRevokeResponse{Handler: h.Name, Namespace: t.ns, Revoked: []AdminEntry{}}
	var entries []denylist.Entry
	now := h.Now()
	switch t.kind {
	case denylist.KindToken:
		// As the revoke route does: the identity, and the jti when verified.
		entries, err = h.Recorder.Entries(ctx, &engine.Revocation{Namespace: t.ns, Tokens: []token.Token{*t.token}})
		if err != nil {
			if errors.Is(err, jwtverify.ErrKeysUnavailable) {
				return nil, apiError(route.ErrKeysUnavailable.Status, "%s", route.ErrKeysUnavailable.Description)
			}
			return nil, storeError("revoke", err)
		}
		if len(entries) == 0 {
			out.Note = "the token has already expired: there is nothing to revoke"
		}
	case denylist.KindJTI:
		entries = []denylist.Entry{denylist.NewEntry(t.key, now, h.Recorder.CutoffExpiry(now))}
	case denylist.KindSession, denylist.KindUser, denylist.KindClient:
		at := now
		if req.Cutoff != nil {
			at = req.Cutoff.Time
			if limit := now.Add(time.Duration(h.MaxTokenLifetime)); at.After(limit) {
				return nil, apiError(http.StatusBadRequest, "cutoff %s is more than max_token_lifetime (%s) in the future: give an earlier one", at.Format(time.RFC3339), time.Duration(h.MaxTokenLifetime))
			}
		}
		c := engine.Cutoff{Kind: t.kind, Issuer: *req.Issuer, ID: req.User, At: at}
		switch t.kind {
		case denylist.KindSession:
			c.ID = req.Session
		case denylist.KindClient:
			c.ID = req.Client
		}
		entries = []denylist.Entry{h.Recorder.CutoffEntry(t.ns, c)}
	case denylist.KindKey:
		// Every token bound to the key, issued before or after, until
		// t.bound.Until (default: max_token_lifetime from now).
		entries, err = h.Recorder.Entries(ctx, &engine.Revocation{Namespace: t.ns, BoundKeys: []engine.BoundKey{t.bound}})
		if err != nil {
			return nil, apiError(http.StatusBadRequest, "%v", err)
		}
	}
	if err := h.StoreEntries(ctx, "admin "+a.r.URL.Path, t.ns, false, entries); err != nil {
		return nil, storeAPIError("revoke", err) // counted by storeEntries
	}
	for _, e := range entries {
		if e.Derived {
			continue // a length marker, a token's part
		}
		// Read back: the store merged it with what was there.
		if m, ok, err := h.Store.Get(ctx, e.Key); err == nil && ok {
			e = m
		}
		out.Revoked = append(out.Revoked, adminEntry(e))
	}
	return out, nil
}
