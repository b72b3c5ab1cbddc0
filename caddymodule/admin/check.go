package admin

import "github.com/caddy-token-revocation/caddy-token-revocation/denylist"

// check serves POST check: whether what the request names is revoked.
func (a *adminCall) check() (any, error) {
	_, t, err := a.named()
	if err != nil {
		return nil, err
	}
	h, ctx := a.h, a.r.Context()
	out := &AdminCheckResponse{Handler: h.Name, Namespace: t.ns}
	var (
		e  denylist.Entry
		ok bool
	)
	if t.token != nil {
		q := h.Keys.Query(t.ns, t.token)
		var m denylist.Match
		m, err = h.Store.Check(ctx, &q)
		e, ok = m.Entry, m.Revoked
	} else {
		e, ok, err = h.Store.Get(ctx, t.key)
	}
	if err != nil {
		return nil, storeError("check", err)
	}
	if ok {
		ae := adminEntry(e)
		out.Revoked, out.Entry = true, &ae
	}
	return out, nil
}
