package admin

import (
	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"go.uber.org/zap"
)

// unrevoke serves POST unrevoke: it removes the entry the request names.
func (a *adminCall) unrevoke() (any, error) {
	_, t, err := a.named()
	if err != nil {
		return nil, err
	}
	h, ctx := a.h, a.r.Context()
	out := &AdminUnrevokeResponse{Handler: h.Name, Namespace: t.ns, Removed: []AdminEntry{}}
	e, present, err := h.Store.Get(ctx, t.key)
	if err != nil {
		return nil, storeError("get", err)
	}
	keys := []denylist.Key{t.key}
	if t.token != nil && !t.token.JWT {
		// What its revocation stored beside it: its lower-case spelling,
		// its parts (engine.Keys.DerivedIdentities); else the token stays
		// revoked in another case, or by its secret part.
		keys = append(keys, h.Keys.DerivedIdentities(t.token.Raw)...)
	}
	if err := h.Store.Unrevoke(ctx, keys...); err != nil {
		return nil, storeError("unrevoke", err)
	}
	if present {
		out.Removed = append(out.Removed, adminEntry(e))
		gateway.CountUnrevocation(t.kind)
		h.Logger.Info("unrevoked",
			zap.String("route", "admin "+a.r.URL.Path),
			zap.String("kind", t.kind.String()),
			zap.String("hash", t.key.Digest.Short()),
			zap.String("namespace", t.ns))
	} else {
		out.NotFound = append(out.NotFound, t.key.String())
	}
	if t.token != nil {
		q := h.Keys.Query(t.ns, t.token)
		m, err := h.Store.Check(ctx, &q)
		if err != nil {
			return nil, storeError("check", err)
		}
		if m.Revoked {
			ae := adminEntry(m.Entry)
			out.StillRevokedBy = &ae
		}
	}
	return out, nil
}
