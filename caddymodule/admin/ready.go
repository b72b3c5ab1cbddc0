package admin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/storage"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddyserver/caddy/v2"
)

// ready answers whether the config is running (provisioned, and its
// servers started: Caddy makes a config the active one only once every
// app has started, so its ports listen) and every store of it answers
// checks from an up-to-date denylist: 200, or 503 saying why not (a
// readiness probe: a load balancer sends traffic elsewhere meanwhile).
// While a first config is still loading there is no active config, or
// none of its handlers yet: not ready, never an empty "ready".
func (a *adminCall) ready() (any, error) {
	stores, err := activeStores()
	if err != nil {
		return nil, err
	}
	out := &storage.AdminReadyResponse{Ready: true, Stores: map[string]string{}}
	var why []string
	for label, s := range stores {
		ok, reason := storage.StoreReady(s)
		if ok {
			out.Stores[label] = "ready"
			continue
		}
		out.Ready = false
		out.Stores[label] = reason
		why = append(why, label+": "+reason)
	}
	if !out.Ready {
		slices.Sort(why)
		return nil, apiError(http.StatusServiceUnavailable, "not ready: %s", strings.Join(why, "; "))
	}
	return out, nil
}

// activeStores returns, by metric label, the stores of the handlers of the
// active config (the one Caddy has started), or a 503 when there is none:
// no config has finished loading, or the running one has no
// token_revocation handler.
func activeStores() (map[string]denylist.Store, error) {
	active := caddy.ActiveContext()
	reg := active.GetMetricsRegistry()
	if reg == nil {
		return nil, apiError(http.StatusServiceUnavailable, "not ready: no config is running yet (it is loading, or its load failed)")
	}
	out := map[string]denylist.Store{}
	LiveHandlers.Lock()
	for h, l := range LiveHandlers.M {
		if l.config == reg {
			out[l.storeLabel] = h.Store
		}
	}
	LiveHandlers.Unlock()
	if len(out) == 0 {
		return nil, apiError(http.StatusServiceUnavailable, "not ready: the running config has no token_revocation handler (a config with one may still be loading)")
	}
	return out, nil
}
