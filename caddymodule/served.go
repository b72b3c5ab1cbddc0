package caddymodule

import (
	"encoding/json"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/admin"
	"github.com/caddyserver/caddy/v2"
)

// provisionOps hooks a provisioned handler into the operator surface: the
// config's metrics registry and the admin API's registry.
func (h *Handler) provisionOps(ctx caddy.Context) error {
	if err := admin.RegisterMetrics(ctx); err != nil {
		return err
	}
	h.served = h.newServed()
	admin.RegisterLive(ctx, h.served)
	return nil
}

// cleanupOps undoes provisionOps.
func (h *Handler) cleanupOps() { admin.UnregisterLive(h.served) }

// newServed is what the admin API and the store metrics know of h: its
// runtime, its name, the store's label and its settings but the routes.
func (h *Handler) newServed() *admin.Served {
	c := *h
	c.Routes = nil
	b, _ := json.Marshal(&c)
	label := h.gw.StoreKey // "embedded:<path>"
	if h.Store != nil && h.Store.ResolvedRedis != nil {
		label = h.Store.ResolvedRedis.Label() // resolved by storage.Open
	}
	return &admin.Served{Runtime: h.gw, Name: h.Name, MaxTokenLifetime: h.MaxTokenLifetime, StoreLabel: label, Same: string(b)}
}
