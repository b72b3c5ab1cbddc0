// Package storetest is the contract every denylist.Store keeps, as tests
// that each store runs (Run), and the helpers those tests share.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// CheckUnrevoke revokes two tokens (expiring at expires) and unrevokes the
// first beside a key never revoked: that is no error, the first is no longer
// revoked and the second still is. It returns the two keys.
func CheckUnrevoke(t *testing.T, s denylist.Store, expires int64) (gone, kept denylist.Key) {
	t.Helper()
	gone, kept = TokenKey("a"), TokenKey("b")
	MustRevoke(t, s, denylist.Entry{Key: gone, Cutoff: denylist.CutoffAlways, Expires: expires}, denylist.Entry{Key: kept, Cutoff: denylist.CutoffAlways, Expires: expires})
	if err := s.Unrevoke(context.Background(), gone, TokenKey("never revoked")); err != nil {
		t.Fatal(err)
	}
	if MustCheck(t, s, NewQuery(0, gone)).Revoked {
		t.Fatal("unrevoked token still revoked")
	}
	if !MustCheck(t, s, NewQuery(0, kept)).Revoked {
		t.Fatal("Unrevoke removed another entry")
	}
	return gone, kept
}

// CheckExpiredHidden checks that the entry of k, whose expiry the store's
// clock has reached, neither revokes nor is returned by Get.
func CheckExpiredHidden(t *testing.T, s denylist.Store, k denylist.Key) {
	t.Helper()
	if MustCheck(t, s, NewQuery(0, k)).Revoked {
		t.Fatal("revoked at its expiry")
	}
	if _, ok := MustGet(t, s, k); ok {
		t.Fatal("Get returns an expired entry")
	}
}

// Open opens a new, empty store under test on clock clk: the store reads
// the time from clk.Now (its entries expire and its owner records age by
// it). The suite closes the store (Close is part of the contract): Open
// must not close it itself.
type Open func(t *testing.T, clk *Clock) denylist.Store

// Run checks that the stores open returns keep the contract of
// denylist.Store, and of each optional capability they have (a store
// without one skips its part): every store, and each new backend, runs it
// from its tests, with a real backend behind it.
func Run(t *testing.T, open Open) {
	t.Run("PutGet", func(t *testing.T) { checkPutGet(t, opened(t, open, NewClock())) })
	t.Run("BatchQuery", func(t *testing.T) { checkBatchQuery(t, opened(t, open, NewClock())) })
	t.Run("Expiry", func(t *testing.T) {
		clk := NewClock()
		checkExpiry(t, opened(t, open, clk), clk)
	})
	t.Run("Cutoffs", func(t *testing.T) { checkCutoffs(t, opened(t, open, NewClock())) })
	t.Run("BoundKeys", func(t *testing.T) {
		clk := NewClock()
		checkBoundKeys(t, opened(t, open, clk), clk)
	})
	t.Run("Unrevoke", func(t *testing.T) { CheckUnrevoke(t, opened(t, open, NewClock()), T0+3600) })
	t.Run("List", func(t *testing.T) { checkList(t, opened(t, open, NewClock())) })
	t.Run("Status", func(t *testing.T) { checkStatus(t, opened(t, open, NewClock())) })
	t.Run("Owners", func(t *testing.T) {
		clk := NewClock()
		s := opened(t, open, clk)
		skipWithout[denylist.Owners](t, s, "an owner index")
		CheckOwners(t, s, clk)
	})
	t.Run("Counts", func(t *testing.T) {
		clk := NewClock()
		s := opened(t, open, clk)
		skipWithout[denylist.Counter](t, s, "a Counter")
		skipWithout[denylist.Owners](t, s, "an owner index")
		CheckOwnerCounts(t, s, clk)
	})
	t.Run("SignalState", func(t *testing.T) {
		clk := NewClock()
		s := opened(t, open, clk)
		skipWithout[denylist.SignalState](t, s, "signal state")
		CheckSignalState(t, s, clk)
	})
	t.Run("Revoked", func(t *testing.T) {
		s := opened(t, open, NewClock())
		if _, ok := s.(denylist.RevokedNotifier); !ok {
			t.Skip("the store tells no listener")
		}
		checkRevoked(t, s)
	})
	t.Run("Generation", func(t *testing.T) {
		s := opened(t, open, NewClock())
		g, ok := s.(denylist.Generational)
		if r, wraps := s.(*denylist.Resilient); wraps {
			_, ok = r.Current().(denylist.Generational) // its backend's, if any
		}
		if !ok {
			t.Skip("the store has no generation")
		}
		checkGeneration(t, s, g)
	})
	t.Run("Close", func(t *testing.T) {
		s := open(t, NewClock())
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

// opened opens a store with open and closes it when the test ends.
func opened(t *testing.T, open Open, clk *Clock) denylist.Store {
	t.Helper()
	s := open(t, clk)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// skipWithout skips the test when neither s nor a store it wraps is a T.
func skipWithout[T any](t *testing.T, s denylist.Store, what string) {
	t.Helper()
	if _, ok := denylist.As[T](s); !ok {
		t.Skipf("the store has no %s", what)
	}
}

// checkPutGet: what Revoke stores, Get returns and Check matches; a key
// never revoked is neither; an entry revoked again is merged (the later
// cut-off and the later expiry), never shortened.
func checkPutGet(t *testing.T, s denylist.Store) {
	k := TokenKey("put")
	e := denylist.Entry{Key: k, Cutoff: denylist.CutoffAlways, Expires: T0 + 100}
	MustRevoke(t, s, e)
	if got, ok := MustGet(t, s, k); !ok || got != e {
		t.Fatalf("Get = %+v, %v; want %+v", got, ok, e)
	}
	if m := MustCheck(t, s, NewQuery(T0, k)); !m.Revoked || m.Entry.Key != k {
		t.Fatalf("Check = %+v, want revoked by %v", m, k)
	}
	if _, ok := MustGet(t, s, TokenKey("never revoked")); ok {
		t.Fatal("Get returns an entry never revoked")
	}
	if MustCheck(t, s, NewQuery(T0, TokenKey("never revoked"))).Revoked {
		t.Fatal("a token never revoked is revoked")
	}

	sk := SessionKey("merge")
	MustRevoke(t, s, denylist.Entry{Key: sk, Cutoff: T0, Expires: T0 + 500})
	MustRevoke(t, s, denylist.Entry{Key: sk, Cutoff: T0 - 50, Expires: T0 + 900})
	MustRevoke(t, s, denylist.Entry{Key: sk, Cutoff: T0 - 80, Expires: T0 + 200})
	want := denylist.Entry{Key: sk, Cutoff: T0, Expires: T0 + 900}
	if got, ok := MustGet(t, s, sk); !ok || got != want {
		t.Fatalf("after three writes Get = %+v, %v; want the merge %+v", got, ok, want)
	}
}

// checkBatchQuery: a query of several keys (a token's identity, session,
// user) is revoked when any of its keys matches, by an entry that matches.
func checkBatchQuery(t *testing.T, s denylist.Store) {
	tok, sess, user := TokenKey("batch"), SessionKey("batch"), UserKey("batch")
	if MustCheck(t, s, NewQuery(T0, tok, sess, user)).Revoked {
		t.Fatal("a query of keys never revoked is revoked")
	}
	MustRevoke(t, s, denylist.Entry{Key: user, Cutoff: T0, Expires: T0 + 3600})
	m := MustCheck(t, s, NewQuery(T0-10, tok, sess, user))
	if !m.Revoked || m.Entry.Key != user {
		t.Fatalf("Check = %+v, want revoked by the user's entry (the query's last key)", m)
	}
	if MustCheck(t, s, NewQuery(T0+10, tok, sess, user)).Revoked {
		t.Fatal("a token issued after the user's cut-off is revoked")
	}
	MustRevoke(t, s, denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: T0 + 3600})
	if m := MustCheck(t, s, NewQuery(T0+10, tok, sess, user)); !m.Revoked || m.Entry.Key != tok {
		t.Fatalf("Check = %+v, want revoked by the token's entry", m)
	}
	full := NewQuery(T0 + 10)
	for i := 0; i < denylist.MaxQueryKeys-1; i++ {
		full.Add(TokenKey("other" + string(rune('a'+i))))
	}
	full.Add(tok)
	if !MustCheck(t, s, full).Revoked {
		t.Fatalf("a query of %d keys whose last one is revoked is not revoked", denylist.MaxQueryKeys)
	}
}

// checkExpiry: an entry revokes until its expiry on the store's clock,
// and from then on neither revokes nor is returned.
func checkExpiry(t *testing.T, s denylist.Store, clk *Clock) {
	k := TokenKey("expiring")
	MustRevoke(t, s, denylist.Entry{Key: k, Cutoff: denylist.CutoffAlways, Expires: T0 + 100})
	clk.Set(T0 + 99)
	if !MustCheck(t, s, NewQuery(0, k)).Revoked {
		t.Fatal("not revoked a second before its expiry")
	}
	clk.Set(T0 + 100)
	CheckExpiredHidden(t, s, k)
}

// checkCutoffs: a session's or a user's entry (a not-before) revokes the
// tokens issued at or before its cut-off, and those whose issue time is
// unknown; not the ones issued after it. The store answers as
// Entry.Matches does.
func checkCutoffs(t *testing.T, s denylist.Store) {
	for _, k := range []denylist.Key{SessionKey("cut"), UserKey("cut")} {
		e := denylist.Entry{Key: k, Cutoff: T0, Expires: T0 + 3600}
		MustRevoke(t, s, e)
		for _, iat := range []int64{0, T0 - 100, T0, T0 + 1, T0 + 100} {
			want := e.Matches(iat, T0)
			if got := MustCheck(t, s, NewQuery(iat, k)).Revoked; got != want {
				t.Errorf("%v cut-off at T0, a token issued at T0%+d: revoked %v, want %v", k.Kind, iat-T0, got, want)
			}
		}
	}
}

// checkBoundKeys: an entry of a bound key (denylist.KindKey: a DPoP key's
// jkt, a certificate's x5t#S256) revokes a query holding it whatever the
// token's issue time, before or after the revocation, as the last key of
// a full query too; it is stored, returned and listed with its kind, and
// unrevoked; a key of the other method with the same thumbprint, and
// another key, revoke nothing; it expires as every entry does.
func checkBoundKeys(t *testing.T, s denylist.Store, clk *Clock) {
	jkt, x5t := BoundKey(denylist.MethodJKT, "bound"), BoundKey(denylist.MethodX5TS256, "bound")
	other := BoundKey(denylist.MethodJKT, "other")
	if jkt == x5t || jkt.Kind != denylist.KindKey || jkt.Digest.Kind() != denylist.KindKey {
		t.Fatalf("keys of a thumbprint by jkt %v and by x5t#S256 %v: want two keys of kind %v", jkt, x5t, denylist.KindKey)
	}
	e := denylist.NewEntry(jkt, time.Unix(T0, 0), time.Unix(T0+100, 0))
	if e.Cutoff != denylist.CutoffAlways {
		t.Fatalf("a bound key's entry has cut-off %d, want CutoffAlways", e.Cutoff)
	}
	MustRevoke(t, s, e)
	for _, iat := range []int64{0, T0 - 100, T0, T0 + 50} {
		if m := MustCheck(t, s, NewQuery(iat, TokenKey("bound"), UserKey("bound"), jkt)); !m.Revoked || m.Entry.Key != jkt {
			t.Errorf("a token bound to the revoked key, issued at T0%+d: %+v, want revoked by %v", iat-T0, m, jkt)
		}
	}
	if MustCheck(t, s, NewQuery(T0, TokenKey("bound"), x5t, other)).Revoked {
		t.Error("a token bound to another key (or to a certificate of the same thumbprint) is revoked")
	}
	full := NewQuery(T0)
	for i := 0; i < denylist.MaxQueryKeys-1; i++ {
		full.Add(TokenKey("bound" + string(rune('a'+i))))
	}
	full.Add(jkt)
	if !MustCheck(t, s, full).Revoked {
		t.Errorf("a query of %d keys whose last one is a revoked bound key is not revoked", denylist.MaxQueryKeys)
	}
	if got, ok := MustGet(t, s, jkt); !ok || got != e {
		t.Fatalf("Get = %+v, %v; want %+v", got, ok, e)
	}
	MustRevoke(t, s, denylist.NewEntry(x5t, time.Unix(T0, 0), time.Unix(T0+100, 0)))
	listed := map[denylist.Key]denylist.Kind{}
	for _, e := range listAll(t, s, 10) {
		listed[e.Key] = e.Kind
	}
	if listed[jkt] != denylist.KindKey || listed[x5t] != denylist.KindKey {
		t.Errorf("List gave the bound keys' entries kinds %v and %v, want %v", listed[jkt], listed[x5t], denylist.KindKey)
	}
	if err := s.Unrevoke(context.Background(), x5t); err != nil {
		t.Fatal(err)
	}
	if MustCheck(t, s, NewQuery(T0, x5t)).Revoked || !MustCheck(t, s, NewQuery(T0, jkt)).Revoked {
		t.Error("Unrevoke of one bound key: want it gone and the other kept")
	}
	clk.Set(T0 + 100)
	CheckExpiredHidden(t, s, jkt)
}

// listAll returns every entry List gives, page by page of size.
func listAll(t *testing.T, s denylist.Store, size int) []denylist.Entry {
	t.Helper()
	var all []denylist.Entry
	for cursor, page := "", 0; ; page++ {
		if page > 100 {
			t.Fatal("List never ends")
		}
		out, next, err := s.List(context.Background(), cursor, size)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		all = append(all, out...)
		if cursor = next; next == "" {
			return all
		}
	}
}

// checkList: List pages through every live entry.
func checkList(t *testing.T, s denylist.Store) {
	want := map[denylist.Key]bool{}
	var es []denylist.Entry
	for i := range 5 {
		k := TokenKey("list" + string(rune('a'+i)))
		want[k] = true
		es = append(es, denylist.Entry{Key: k, Cutoff: denylist.CutoffAlways, Expires: T0 + 3600})
	}
	MustRevoke(t, s, es...)
	got := map[denylist.Key]bool{}
	for _, e := range listAll(t, s, 2) {
		got[e.Key] = true
	}
	if len(got) != len(want) {
		t.Fatalf("List returned %d entries, want %d", len(got), len(want))
	}
	for k := range want {
		if !got[k] {
			t.Fatalf("List left out %v", k)
		}
	}
}

// checkStatus: an open store says what backend it is and that it is
// healthy.
func checkStatus(t *testing.T, s denylist.Store) {
	st := s.Status(context.Background())
	if st.Backend == "" || !st.Healthy {
		t.Fatalf("Status = %+v, want a backend named, healthy", st)
	}
}

// checkRevoked: a listener is told of what Revoke stores, merged as
// stored, and no longer once removed.
func checkRevoked(t *testing.T, s denylist.Store) {
	var h Heard
	remove, ok := denylist.OnRevokedOf(s, h.Listen)
	if !ok {
		t.Fatal("OnRevokedOf: not a RevokedNotifier")
	}
	// A store that hears its own writes back from a stream (a direct
	// Redis store) reads from the stream's end once it listens: write until
	// a first entry is heard.
	warm := LiveEntry(1, denylist.KindToken, denylist.CutoffAlways)
	deadline := time.Now().Add(5 * time.Second)
	for !h.Has(warm.Key) {
		if time.Now().After(deadline) {
			t.Fatal("listener never told of a revocation")
		}
		MustRevoke(t, s, warm)
		time.Sleep(20 * time.Millisecond)
	}
	e := LiveEntry(2, denylist.KindSession, time.Now().Unix())
	MustRevoke(t, s, e)
	if got := h.Wait(t, "Revoke", e.Key); got != e {
		t.Fatalf("told %+v, want %+v", got, e)
	}
	remove()
	n := h.Len()
	MustRevoke(t, s, LiveEntry(3, denylist.KindToken, denylist.CutoffAlways))
	// A listener added now is told of a later entry after the one above
	// (in the order they were stored): once it is, the removed one would
	// have been told too.
	var after Heard
	removeAfter, _ := denylist.OnRevokedOf(s, after.Listen)
	defer removeAfter()
	last := LiveEntry(4, denylist.KindToken, denylist.CutoffAlways)
	MustRevoke(t, s, last)
	after.Wait(t, "a listener added after remove", last.Key)
	if h.Len() != n {
		t.Error("told after remove")
	}
}

// checkGeneration: once the store may be remembered (ok), its generation
// changes when an entry is added.
func checkGeneration(t *testing.T, s denylist.Store, g denylist.Generational) {
	deadline := time.Now().Add(5 * time.Second)
	before, ok := g.Generation(time.Time{})
	for !ok {
		if time.Now().After(deadline) {
			t.Skip("the store never said its answers may be remembered")
		}
		time.Sleep(10 * time.Millisecond)
		before, ok = g.Generation(time.Time{})
	}
	MustRevoke(t, s, denylist.Entry{Key: TokenKey("generation"), Cutoff: denylist.CutoffAlways, Expires: T0 + 3600})
	after, ok := g.Generation(time.Time{})
	if ok && after == before {
		t.Fatalf("generation %d unchanged by a revocation", after)
	}
}
