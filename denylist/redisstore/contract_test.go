package redisstore

import (
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// TestStoreContract runs the store contract (storetest.Run) against every
// Redis store, each on a redis-server of its own: the three layouts, four
// partitions, the in-process mirror, and a Resilient over Redis and over
// the mirror.
func TestStoreContract(t *testing.T) {
	layout := func(layout string, partitions int) storetest.Open {
		return func(t *testing.T, clk *storetest.Clock) denylist.Store {
			return openLayout(t, redistest.Start(t), clk, layout, partitions)
		}
	}
	mirror := func(t *testing.T, clk *storetest.Clock) denylist.Store {
		return openMirrorOf(t, layout(LayoutCompact, 1)(t, clk).(*RedisStore), nil)
	}
	resilient := func(open storetest.Open) storetest.Open {
		return func(t *testing.T, clk *storetest.Clock) denylist.Store {
			return denylist.NewResilient(denylist.ResilientOptions{Backend: "redis", Where: "test"}, open(t, clk))
		}
	}
	for name, open := range map[string]storetest.Open{
		"legacy":                  layout(LayoutLegacy, 1),
		"compact":                 layout(LayoutCompact, 1),
		"upgrade":                 layout(LayoutUpgrade, 1),
		"four partitions":         layout(LayoutCompact, 4),
		"four partitions, legacy": layout(LayoutLegacy, 4),
		"mirror":                  mirror,
		"resilient":               resilient(layout(LayoutCompact, 1)),
		"resilient mirror":        resilient(mirror),
	} {
		t.Run(name, func(t *testing.T) { storetest.Run(t, open) })
	}
}
