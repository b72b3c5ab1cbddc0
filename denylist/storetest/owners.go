package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// OwnedKeys returns the keys owner holds in o, sorted, failing the test on
// an error or on an owned entry that is not a token entry matching always.
func OwnedKeys(t *testing.T, o denylist.Owners, owner denylist.Digest) []string {
	t.Helper()
	es, err := o.Owned(context.Background(), owner)
	if err != nil {
		t.Fatalf("Owned: %v", err)
	}
	var out []string
	for _, e := range es {
		if e.Kind != denylist.KindToken || e.Cutoff != denylist.CutoffAlways {
			t.Errorf("owned entry %v: kind %v cut-off %d, want a token entry matching always", e.Key, e.Kind, e.Cutoff)
		}
		out = append(out, e.Key.String())
	}
	slices.Sort(out)
	return out
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// CheckOwners checks the owner index of s (see denylist.OwnersOf), a new
// store on clk: what Own records Owned returns, per owner; a second
// record never shortens an expiry; expired tokens are not returned; an
// owner key cannot be owned.
func CheckOwners(t *testing.T, s denylist.Store, clk *Clock) {
	alice := Hasher.Digest(denylist.KindOwner, "ns", []byte("user"), []byte("alice"))
	bob := Hasher.Digest(denylist.KindOwner, "ns", []byte("user"), []byte("bob"))
	a1, a2, b1 := TokenKey("a1"), TokenKey("a2"), TokenKey("b1")
	sorted := func(ks ...denylist.Key) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.String())
		}
		slices.Sort(out)
		return out
	}
	o := mustOwners(t, s)
	ctx := context.Background()
	if got := OwnedKeys(t, o, alice); len(got) != 0 {
		t.Fatalf("a new index holds %v for alice", got)
	}
	must(t, o.Own(ctx, alice, denylist.Entry{Key: a1, Expires: T0 + 100}))
	must(t, o.Own(ctx, alice, denylist.Entry{Key: a2, Expires: T0 + 300}))
	must(t, o.Own(ctx, bob, denylist.Entry{Key: b1, Expires: T0 + 300}))
	if got, want := OwnedKeys(t, o, alice), sorted(a1, a2); !slices.Equal(got, want) {
		t.Fatalf("alice owns %v, want %v", got, want)
	}
	if got, want := OwnedKeys(t, o, bob), sorted(b1); !slices.Equal(got, want) {
		t.Fatalf("bob owns %v, want %v (owners must not share tokens)", got, want)
	}

	// A second record never shortens a token's expiry.
	must(t, o.Own(ctx, alice, denylist.Entry{Key: a1, Expires: T0 + 50}))
	es, err := o.Owned(ctx, alice)
	must(t, err)
	for _, e := range es {
		if e.Key == a1 && e.Expires != T0+100 {
			t.Errorf("a1 expires at %d after a shorter record, want %d", e.Expires, T0+100)
		}
	}

	// Expired tokens are not returned, and are dropped on the next write.
	clk.Set(T0 + 100)
	if got, want := OwnedKeys(t, o, alice), sorted(a2); !slices.Equal(got, want) {
		t.Fatalf("after a1 expired alice owns %v, want %v", got, want)
	}
	clk.Set(T0 + 300)
	if got := OwnedKeys(t, o, alice); len(got) != 0 {
		t.Fatalf("after every token expired alice owns %v", got)
	}

	// An owner key is not an entry: it cannot be owned.
	if err := o.Own(ctx, alice, denylist.Entry{Key: denylist.Key{Kind: denylist.KindOwner}}); err == nil {
		t.Error("Own accepted an owned entry of kind owner")
	}
}

// CheckOwnerCounts checks that the count of owner records of s, a new
// store on clk (see denylist.CounterOf), follows Own: new records add, a
// record written again does not, expired records dropped on a write
// subtract; and that Entries counts what Revoke stored.
func CheckOwnerCounts(t *testing.T, s denylist.Store, clk *Clock) {
	alice := Hasher.Digest(denylist.KindOwner, "ns", []byte("user"), []byte("alice"))
	bob := Hasher.Digest(denylist.KindOwner, "ns", []byte("user"), []byte("bob"))
	o := mustOwners(t, s)
	c := denylist.CounterOf(s)
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
	must(t, o.Own(ctx, alice, denylist.Entry{Key: TokenKey("a1"), Expires: T0 + 100}, denylist.Entry{Key: TokenKey("a2"), Expires: T0 + 300}))
	must(t, o.Own(ctx, bob, denylist.Entry{Key: TokenKey("b1"), Expires: T0 + 300}))
	records(3)
	must(t, o.Own(ctx, alice, denylist.Entry{Key: TokenKey("a2"), Expires: T0 + 400})) // written again: same record
	records(3)
	clk.Set(T0 + 150)
	must(t, o.Own(ctx, alice, denylist.Entry{Key: TokenKey("a3"), Expires: T0 + 400})) // a1 expired: dropped
	records(3)

	MustRevoke(t, s, denylist.Entry{Key: TokenKey("x"), Cutoff: denylist.CutoffAlways, Expires: T0 + 1000}, denylist.Entry{Key: TokenKey("y"), Cutoff: denylist.CutoffAlways, Expires: T0 + 1000})
	if n, err := c.Entries(ctx); err != nil || n != 2 {
		t.Fatalf("Entries = %d, %v; want 2", n, err)
	}
}

// mustOwners returns the owner index of s, failing the test when it has
// none.
func mustOwners(t *testing.T, s denylist.Store) denylist.Owners {
	t.Helper()
	o := denylist.OwnersOf(s)
	if o == nil {
		t.Fatal("the store keeps no owner index")
	}
	return o
}
