package boltstore

import (
	"path/filepath"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
)

// openOn opens an EmbeddedStore in a new file, on clk; the caller closes
// it.
func openOn(t *testing.T, clk *storetest.Clock) denylist.Store {
	s, err := OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.now = clk.Now
	return s
}

// TestStoreContract runs the store contract (storetest.Run) against the
// embedded store and a Resilient over it.
func TestStoreContract(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { storetest.Run(t, openOn) })
	t.Run("resilient", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, clk *storetest.Clock) denylist.Store {
			return denylist.NewResilient(denylist.ResilientOptions{Backend: "embedded", Where: "test"}, openOn(t, clk))
		})
	})
}
