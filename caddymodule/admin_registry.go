package caddymodule

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// provisionOps hooks a provisioned handler into the operator surface: the
// config's metrics registry and the admin API's registry.
func (h *Handler) provisionOps(ctx caddy.Context) error {
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	registerLive(ctx, h)
	return nil
}

// cleanupOps undoes provisionOps.
func (h *Handler) cleanupOps() { unregisterLive(h) }

// registerLive adds h, provisioned in ctx, to the registry.
func registerLive(ctx caddy.Context, h *Handler) { registerLiveIn(ctx.GetMetricsRegistry(), h) }

// registerLiveIn adds h to the registry as a handler of the config whose
// metrics registry is config.
func registerLiveIn(config *prometheus.Registry, h *Handler) {
	c := *h
	c.Routes = nil
	b, _ := json.Marshal(&c)
	liveHandlers.Lock()
	liveHandlers.seq++
	liveHandlers.m[h] = liveHandler{
		config:     config,
		seq:        liveHandlers.seq,
		same:       h.storeKey + "\x00" + strconv.FormatBool(h.recordsGrants()) + "\x00" + string(b),
		storeLabel: storeLabel(h),
		store:      h.store,
	}
	liveHandlers.Unlock()
}

// unregisterLive removes h from the registry.
func unregisterLive(h *Handler) {
	liveHandlers.Lock()
	delete(liveHandlers.m, h)
	liveHandlers.Unlock()
}

// currentHandlers returns the handlers of the running config, grouped by
// sameness (each group newest first; groups by name), limited to those
// named name when named is set. The running config is the active one if
// any of its handlers are registered, else the newest registered (a
// config being loaded, or tests without a running Caddy).
func currentHandlers(name string, named bool) ([][]*Handler, error) {
	active := caddy.ActiveContext()
	activeReg := active.GetMetricsRegistry()

	liveHandlers.Lock()
	type item struct {
		h *Handler
		liveHandler
	}
	var all []item
	var newest liveHandler
	hasActive := false
	for h, l := range liveHandlers.m {
		all = append(all, item{h, l})
		if l.seq > newest.seq {
			newest = l
		}
		if activeReg != nil && l.config == activeReg {
			hasActive = true
		}
	}
	liveHandlers.Unlock()

	if len(all) == 0 {
		return nil, apiError(http.StatusNotFound, "the running config has no token_revocation handler")
	}
	config := newest.config
	if hasActive {
		config = activeReg
	}
	slices.SortFunc(all, func(a, b item) int { return cmp.Compare(b.seq, a.seq) })
	var groups [][]*Handler
	index := map[string]int{}
	names := map[string]bool{}
	for _, it := range all {
		if it.config != config {
			continue
		}
		names[it.h.Name] = true
		if named && it.h.Name != name {
			continue
		}
		i, ok := index[it.same]
		if !ok {
			i = len(groups)
			index[it.same] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], it.h)
	}
	if len(groups) == 0 {
		return nil, apiError(http.StatusNotFound, "no token_revocation handler is named %q; the names are %s", name, quoteNames(names))
	}
	slices.SortStableFunc(groups, func(a, b []*Handler) int { return strings.Compare(a[0].Name, b[0].Name) })
	return groups, nil
}

// pickHandler returns the one handler an admin call is for: the one named
// name when named is set, else the only one. Several handlers with the
// same settings and store count as one.
func pickHandler(name string, named bool) (*Handler, error) {
	groups, err := currentHandlers(name, named)
	if err != nil {
		return nil, err
	}
	if len(groups) > 1 {
		names := map[string]bool{}
		for _, g := range groups {
			names[g[0].Name] = true
		}
		if named || len(names) < len(groups) {
			return nil, apiError(http.StatusBadRequest, "%d token_revocation handlers named %s differ in their settings: give each a distinct name (subdirective name <name>) and pick one with ?handler=<name> (CLI: --handler)", len(groups), quoteNames(names))
		}
		return nil, apiError(http.StatusBadRequest, "the running config has %d token_revocation handlers (names %s): pick one with ?handler=<name> (CLI: --handler)", len(groups), quoteNames(names))
	}
	return groups[0][0], nil
}

func quoteNames(names map[string]bool) string {
	var out []string
	for n := range names {
		out = append(out, strconv.Quote(n))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// storeLabel names h's store for metrics: "embedded:<path>" or
// "redis:<addresses>/<key prefix>" (never a password).
func storeLabel(h *Handler) string {
	if h.Store == nil || h.Store.redis == nil {
		return h.storeKey // "embedded:<path>"
	}
	return h.Store.redis.Label() // resolved by openStore
}
