package denylist

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// ownersUnderTest opens each store that keeps an owner index, on clock clk.
func ownersUnderTest(t *testing.T) map[string]func(t *testing.T) (Owners, *testClock) {
	return map[string]func(t *testing.T) (Owners, *testClock){
		"embedded": func(t *testing.T) (Owners, *testClock) {
			s, err := OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			clk := newTestClock()
			s.now = clk.Now
			return s, clk
		},
		"redis": func(t *testing.T) (Owners, *testClock) {
			s, _, clk := openTestRedis(t)
			return s, clk
		},
	}
}

func ownedKeys(t *testing.T, o Owners, owner Digest) []string {
	t.Helper()
	es, err := o.Owned(context.Background(), owner)
	if err != nil {
		t.Fatalf("Owned: %v", err)
	}
	var out []string
	for _, e := range es {
		if e.Kind != KindToken || e.Cutoff != CutoffAlways {
			t.Errorf("owned entry %v: kind %v cut-off %d, want a token entry matching always", e.Key, e.Kind, e.Cutoff)
		}
		out = append(out, e.Key.String())
	}
	slices.Sort(out)
	return out
}

func TestOwners(t *testing.T) {
	alice := testHasher.Digest(KindOwner, "ns", []byte("user"), []byte("alice"))
	bob := testHasher.Digest(KindOwner, "ns", []byte("user"), []byte("bob"))
	a1, a2, b1 := tokenKey("a1"), tokenKey("a2"), tokenKey("b1")
	sorted := func(ks ...Key) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.String())
		}
		slices.Sort(out)
		return out
	}
	for name, open := range ownersUnderTest(t) {
		t.Run(name, func(t *testing.T) {
			o, clk := open(t)
			ctx := context.Background()
			if got := ownedKeys(t, o, alice); len(got) != 0 {
				t.Fatalf("a new index holds %v for alice", got)
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(o.Own(ctx, alice, Entry{Key: a1, Expires: t0 + 100}))
			must(o.Own(ctx, alice, Entry{Key: a2, Expires: t0 + 300}))
			must(o.Own(ctx, bob, Entry{Key: b1, Expires: t0 + 300}))
			if got, want := ownedKeys(t, o, alice), sorted(a1, a2); !slices.Equal(got, want) {
				t.Fatalf("alice owns %v, want %v", got, want)
			}
			if got, want := ownedKeys(t, o, bob), sorted(b1); !slices.Equal(got, want) {
				t.Fatalf("bob owns %v, want %v (owners must not share tokens)", got, want)
			}

			// A second record never shortens a token's expiry.
			must(o.Own(ctx, alice, Entry{Key: a1, Expires: t0 + 50}))
			es, err := o.Owned(ctx, alice)
			must(err)
			for _, e := range es {
				if e.Key == a1 && e.Expires != t0+100 {
					t.Errorf("a1 expires at %d after a shorter record, want %d", e.Expires, t0+100)
				}
			}

			// Expired tokens are not returned, and are dropped on the next write.
			clk.Set(t0 + 100)
			if got, want := ownedKeys(t, o, alice), sorted(a2); !slices.Equal(got, want) {
				t.Fatalf("after a1 expired alice owns %v, want %v", got, want)
			}
			clk.Set(t0 + 300)
			if got := ownedKeys(t, o, alice); len(got) != 0 {
				t.Fatalf("after every token expired alice owns %v", got)
			}

			// An owner key is not an entry: it cannot be owned.
			if err := o.Own(ctx, alice, Entry{Key: Key{Kind: KindOwner}}); err == nil {
				t.Error("Own accepted an owned entry of kind owner")
			}
		})
	}
}

func TestOwnersPurgeForgetsExpiredOwners(t *testing.T) {
	s, srv, clk := openTestRedis(t)
	ctx := context.Background()
	alice := testHasher.Digest(KindOwner, "ns", []byte("user"), []byte("alice"))
	bob := testHasher.Digest(KindOwner, "ns", []byte("user"), []byte("bob"))
	s.ownersPurge.last.Store(0)
	if err := s.Own(ctx, alice, Entry{Key: tokenKey("a"), Expires: t0 + 10}); err != nil {
		t.Fatal(err)
	}
	set, index, _ := s.ownerKeys(alice)
	if n := srv.Client().Exists(ctx, set).Val(); n != 1 {
		t.Fatalf("alice's set %s does not exist after Own", set)
	}
	// Past the expiry and the purge interval, a write for another owner
	// purges alice's set and its index member.
	clk.Set(t0 + int64(OwnersPurgeEvery.Seconds()) + 20)
	if err := s.Own(ctx, bob, Entry{Key: tokenKey("b"), Expires: clk.Now().Unix() + 10}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Client().Exists(ctx, set).Val(); n != 0 {
		t.Errorf("alice's expired set %s is still there after the purge", set)
	}
	if _, err := srv.Client().ZScore(ctx, index, set).Result(); err == nil {
		t.Errorf("the owners index still lists alice's set")
	}
	if got := ownedKeys(t, s, bob); len(got) != 1 {
		t.Errorf("bob owns %v after the purge, want his one token", got)
	}
}

func TestOwnersOfUnwraps(t *testing.T) {
	s, err := OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if OwnersOf(s) == nil {
		t.Fatal("OwnersOf(embedded store) = nil")
	}
	if OwnersOf(wrapped{s}) == nil {
		t.Fatal("OwnersOf does not look through Unwrap")
	}
	if OwnersOf(noOwners{}) != nil {
		t.Fatal("OwnersOf of a store without an index is not nil")
	}
}

type wrapped struct{ Store }

func (w wrapped) Unwrap() Store { return w.Store }

type noOwners struct{ Store }
