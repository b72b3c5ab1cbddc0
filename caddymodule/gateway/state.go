package gateway

import (
	"sync"

	"github.com/caddyserver/caddy/v2"
)

// The package's state: what outlives one handler or one config, each with
// its reason. Everything else lives in a Handler and its gateway; the
// registry of the provisioned handlers, for the admin API and the store
// metrics, is in admin/registry.go.

// Stores holds the open stores, shared across config reloads: a reload
// provisions the new config before it cleans up the old one, so the same
// settings keep one store (one bbolt file lock, one Redis pool) alive.
var Stores = caddy.NewUsagePool()

// liveRegistries are the registries of the provisioned handlers, for the
// open-connections gauge.
var liveRegistries sync.Map // *live.Registry -> struct{}
