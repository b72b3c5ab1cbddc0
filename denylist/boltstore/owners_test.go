package boltstore

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
)

// TestCounterFollowsOwnerRecords: the counts of storetest.CheckOwnerCounts
// (which the contract checks), and the same counted at open.
func TestCounterFollowsOwnerRecords(t *testing.T) {
	clk := storetest.NewClock()
	es := openOn(t, clk).(*EmbeddedStore)
	defer es.Close()
	storetest.CheckOwnerCounts(t, es, clk)
	var n int64
	if err := es.db.View(func(tx *bolt.Tx) error { n = countOwnerRecords(tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("counted at open: %d owner records, want 3", n)
	}
}

func TestOwnersOfUnwraps(t *testing.T) {
	s, err := OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if denylist.OwnersOf(s) == nil {
		t.Fatal("denylist.OwnersOf(embedded store) = nil")
	}
	if denylist.OwnersOf(wrapped{s}) == nil {
		t.Fatal("denylist.OwnersOf does not look through Unwrap")
	}
	if denylist.OwnersOf(noOwners{}) != nil {
		t.Fatal("denylist.OwnersOf of a store without an index is not nil")
	}
}

type wrapped struct{ denylist.Store }

func (w wrapped) Unwrap() denylist.Store { return w.Store }

type noOwners struct{ denylist.Store }
