package caddymodule

import (
	"sync"

	"github.com/caddyserver/caddy/v2"
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
