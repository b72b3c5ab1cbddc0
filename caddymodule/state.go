package caddymodule

import (
	"sync"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// The package's state: what outlives one handler or one config, each with
// its reason. Everything else lives in a Handler.

// stores holds the open stores, shared across config reloads: a reload
// provisions the new config before it cleans up the old one, so the same
// settings keep one store (one bbolt file lock, one Redis pool) alive.
var stores = caddy.NewUsagePool()

// liveHandlers are the provisioned handlers, for the admin API and the
// store metrics: Caddy builds the admin API apart from the HTTP app, so
// it can reach the handlers only through package-level state (as
// reverse_proxy's /reverse_proxy/upstreams reads a package-level pool).
// Provision adds a handler, Cleanup removes it.
var liveHandlers = struct {
	sync.Mutex
	seq uint64
	m   map[*Handler]liveHandler
}{m: map[*Handler]liveHandler{}}

// liveRegistries are the registries of the provisioned handlers, for the
// open-connections gauge.
var liveRegistries sync.Map // *live.Registry -> struct{}

// liveHandler is what the registry knows of a handler.
type liveHandler struct {
	// config identifies the config the handler belongs to: each config
	// load has its own metrics registry.
	config *prometheus.Registry
	// seq orders registrations: the newest config has the highest.
	seq uint64
	// same is equal for handlers that behave alike for the admin API:
	// same settings and store, whatever their routes (but for whether one
	// records grants, which a token revocation then fans out to).
	same string
	// storeLabel names the handler's store in metrics, without secrets.
	storeLabel string
	// store is the handler's store, for the store metrics.
	store denylist.Store
}
