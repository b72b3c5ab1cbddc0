package admin

import (
	"context"
	"slices"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/gateway"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// status serves GET status: the handlers and their stores' health.
func (a *adminCall) status() (any, error) {
	q := a.r.URL.Query()
	groups, err := currentHandlers(q.Get("handler"), q.Has("handler"))
	if err != nil {
		return nil, err
	}
	out := &AdminStatusResponse{Version: gateway.Version, Handlers: []AdminHandlerStatus{}}
	statuses := map[string]denylist.Status{} // by store key: a shared store is asked once
	for _, g := range groups {
		h := g[0]
		st, ok := statuses[h.StoreKey]
		if !ok {
			ctx, cancel := context.WithTimeout(a.r.Context(), 5*time.Second)
			st = h.Store.Status(ctx)
			cancel()
			statuses[h.StoreKey] = st
		}
		hs := AdminHandlerStatus{Name: h.Name, Instances: len(g), Namespace: h.NamespaceTemplate, FailMode: h.FailMode, Store: st, Routes: []string{}}
		for _, x := range g {
			for _, rt := range x.Routes {
				hs.Routes = append(hs.Routes, rt.Label())
			}
		}
		slices.Sort(hs.Routes)
		hs.Routes = slices.Compact(hs.Routes)
		out.Handlers = append(out.Handlers, hs)
	}
	return out, nil
}
