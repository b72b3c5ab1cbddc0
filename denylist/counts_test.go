package denylist

import (
	"context"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCounterFollowsOwnerRecords checks that each store's count of owner
// records follows Own: new records add, a record written again does not,
// expired records dropped on a write subtract; and that Entries counts
// what Revoke stored. The embedded store counts the same at open.
func TestCounterFollowsOwnerRecords(t *testing.T) {
	alice := testHasher.Digest(KindOwner, "ns", []byte("user"), []byte("alice"))
	bob := testHasher.Digest(KindOwner, "ns", []byte("user"), []byte("bob"))
	for name, open := range ownersUnderTest(t) {
		t.Run(name, func(t *testing.T) {
			o, clk := open(t)
			c := CounterOf(o.(Store))
			if c == nil {
				t.Fatal("the store has no Counter")
			}
			ctx := context.Background()
			records := func(want int64) {
				t.Helper()
				n, err := c.OwnerRecords(ctx)
				if err != nil || n != want {
					t.Fatalf("OwnerRecords = %d, %v; want %d", n, err, want)
				}
			}
			records(0)
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(o.Own(ctx, alice, Entry{Key: tokenKey("a1"), Expires: t0 + 100}, Entry{Key: tokenKey("a2"), Expires: t0 + 300}))
			must(o.Own(ctx, bob, Entry{Key: tokenKey("b1"), Expires: t0 + 300}))
			records(3)
			must(o.Own(ctx, alice, Entry{Key: tokenKey("a2"), Expires: t0 + 400})) // written again: same record
			records(3)
			clk.Set(t0 + 150)
			must(o.Own(ctx, alice, Entry{Key: tokenKey("a3"), Expires: t0 + 400})) // a1 expired: dropped
			records(3)

			mustRevoke(t, o.(Store), Entry{Key: tokenKey("x"), Cutoff: CutoffAlways, Expires: t0 + 1000}, Entry{Key: tokenKey("y"), Cutoff: CutoffAlways, Expires: t0 + 1000})
			if n, err := c.Entries(ctx); err != nil || n != 2 {
				t.Fatalf("Entries = %d, %v; want 2", n, err)
			}
			if es, ok := o.(*EmbeddedStore); ok { // what a reopen counts
				var n int64
				must(es.db.View(func(tx *bolt.Tx) error { n = countOwnerRecords(tx); return nil }))
				if n != 3 {
					t.Fatalf("counted at open: %d owner records, want 3", n)
				}
			}
		})
	}
}
