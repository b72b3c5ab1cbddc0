package redisstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// openLayout opens a store in layout on srv, with partitions partitions.
func openLayout(t *testing.T, srv *redistest.Server, clk *storetest.Clock, layout string, partitions int) *RedisStore {
	t.Helper()
	s, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, Layout: layout, Partitions: partitions, Capacity: 10_000}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRedisCompact runs the Store operations on the compact layout, with
// one and with three partitions: nothing in the legacy keys, buckets kept
// listpacks, merge, cut-offs, listing, loading, purging, events.
func TestRedisCompact(t *testing.T) {
	for _, parts := range []int{1, 3} {
		t.Run(fmt.Sprint(parts), func(t *testing.T) {
			srv := redistest.Start(t)
			clk := storetest.NewClock()
			s := openLayout(t, srv, clk, LayoutCompact, parts)
			ctx := context.Background()
			raw := srv.Client()
			es := manyEntries("compact", 300)
			sess := denylist.Entry{Key: storetest.SessionKey("s"), Cutoff: storetest.T0, Expires: storetest.T0 + 100}
			storetest.MustRevoke(t, s, append(es, sess)...)
			if n := raw.Exists(ctx, s.parts[0].entriesKey, s.parts[0].expiryKey).Val(); n != 0 {
				t.Fatalf("the compact layout wrote %d legacy keys", n)
			}
			p := s.part(&es[0].Digest)
			if enc := raw.ObjectEncoding(ctx, p.bucketKey(bucketOf(&es[0].Digest, p.buckets))).Val(); enc != "listpack" {
				t.Errorf("bucket encoded as %q, want listpack", enc)
			}
			// Merging: a later cut-off and a later expiry win, an
			// earlier one changes nothing.
			storetest.MustRevoke(t, s, denylist.Entry{Key: sess.Key, Cutoff: storetest.T0 - 50, Expires: storetest.T0 + 50})
			storetest.MustRevoke(t, s, denylist.Entry{Key: sess.Key, Cutoff: storetest.T0 + 10, Expires: storetest.T0 + 200})
			if got, ok := storetest.MustGet(t, s, sess.Key); !ok || got != (denylist.Entry{Key: sess.Key, Cutoff: storetest.T0 + 10, Expires: storetest.T0 + 200}) {
				t.Fatalf("merged session: %+v %v", got, ok)
			}
			if !storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0+10, storetest.TokenKey("x"), sess.Key)).Revoked || storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0+11, storetest.TokenKey("x"), sess.Key)).Revoked {
				t.Fatal("session cut-off not honoured")
			}
			for _, e := range es {
				if m := storetest.MustCheck(t, s, storetest.NewQuery(0, storetest.UserKey("u"), e.Key)); !m.Revoked || m.Entry != e {
					t.Fatalf("Check(%v): %+v", e.Key, m)
				}
			}
			if n, err := s.Entries(ctx); err != nil || n != 301 {
				t.Fatalf("Entries: %d %v, want 301", n, err)
			}
			if listed := listAll(t, s, 40); len(listed) != 301 {
				t.Fatalf("List: %d entries, want 301", len(listed))
			}
			loaded := 0
			if _, err := s.LoadAll(ctx, func(denylist.Entry) { loaded++ }); err != nil || loaded != 301 {
				t.Fatalf("LoadAll: %d %v", loaded, err)
			}
			unrevokeThenPurge(t, s, clk, storetest.T0+300, es[0].Key, es[1].Key) // sess expired by then
			if n, err := s.Entries(ctx); err != nil || n != 298 {
				t.Fatalf("Entries after un-revoking 2 and purging 1: %d %v", n, err)
			}
			// The events: every add and del, decoded by ParseEvent.
			var adds, dels int
			for i := range s.parts {
				msgs := raw.XRange(ctx, s.parts[i].eventsKey, "-", "+").Val()
				for _, msg := range msgs {
					op, e, err := ParseEvent(msg)
					if err != nil {
						t.Fatal(err)
					}
					if op == EventAdd {
						adds++
						if e.Key == es[5].Key && e != es[5] {
							t.Fatalf("add event of %v: %+v", e.Key, e)
						}
					} else {
						dels++
					}
				}
			}
			if adds != 303 || dels != 2 {
				t.Fatalf("%d add and %d del events, want 303 and 2", adds, dels)
			}
		})
	}
}

// TestMirrorCompact: mirrors of the compact layout see each other's
// revocations and un-revocations.
func TestMirrorCompact(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	open := func() *MirrorStore { return openMirrorOf(t, openLayout(t, srv, clk, LayoutCompact, 2), nil) }
	a := open()
	before := manyEntries("before", 50)
	storetest.MustRevoke(t, a, before...)
	b := open()
	if b.Len() != 50 {
		t.Fatalf("mirror loaded %d entries, want 50", b.Len())
	}
	sess := denylist.Entry{Key: storetest.SessionKey("s"), Cutoff: storetest.T0, Expires: storetest.T0 + 3600}
	storetest.MustRevoke(t, a, sess)
	eventually(t, 2*time.Second, "b never saw the session revocation", func() bool {
		return storetest.MustCheck(t, b, storetest.NewQuery(storetest.T0, sess.Key)).Revoked
	})
	if err := b.Unrevoke(context.Background(), before[0].Key); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "a never saw the un-revocation", func() bool {
		return !revoked(t, a, before[0].Key)
	})
}

// TestRedisRollingUpgrade: an instance of the legacy layout (an earlier
// release) and one in the upgrade layout share a Redis: each sees what the
// other revoked and un-revoked, through its mirror too; MigrateLayout then
// moves the legacy entries into the compact layout, and an instance in the
// compact layout holds every revocation, made before and during the
// upgrade; the legacy keys are gone.
func TestRedisRollingUpgrade(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	ctx := context.Background()
	old := openLayout(t, srv, clk, LayoutLegacy, 1)
	early := manyEntries("early", 30)
	storetest.MustRevoke(t, old, early...)

	oldMirror := openMirrorOf(t, openLayout(t, srv, clk, LayoutLegacy, 1), nil)
	up := openLayout(t, srv, clk, LayoutUpgrade, 1)
	upMirror := openMirrorOf(t, openLayout(t, srv, clk, LayoutUpgrade, 1), nil)

	// Both ways, direct and mirrored.
	viaNew, viaOld := storetest.TokenEntry("via-new"), storetest.TokenEntry("via-old")
	storetest.MustRevoke(t, up, viaNew)
	storetest.MustRevoke(t, old, viaOld)
	for name, s := range map[string]denylist.Store{"old": old, "new": up} {
		for _, e := range append([]denylist.Entry{viaNew, viaOld}, early...) {
			if !revoked(t, s, e.Key) {
				t.Fatalf("the %s instance does not see %v", name, e.Key)
			}
		}
	}
	eventually(t, 2*time.Second, "the mirrors never saw each other's revocations", func() bool {
		return revoked(t, oldMirror, viaNew.Key) && revoked(t, upMirror, viaOld.Key) && revoked(t, upMirror, early[3].Key)
	})
	if err := up.Unrevoke(ctx, early[0].Key); err != nil {
		t.Fatal(err)
	}
	if revoked(t, old, early[0].Key) {
		t.Fatal("an un-revocation through the new instance is not seen by the old one")
	}
	eventually(t, 2*time.Second, "the old mirror never saw the un-revocation", func() bool {
		return !revoked(t, oldMirror, early[0].Key)
	})

	// Every instance upgraded: migrate, then the compact layout.
	n, err := up.MigrateLayout(ctx)
	if err != nil || n != 31 { // 29 early + via-new + via-old
		t.Fatalf("MigrateLayout: %d %v, want 31", n, err)
	}
	raw := srv.Client()
	// Only the sentinels stay (redis_guard.go).
	if f := raw.HKeys(ctx, "{trv}:entries").Val(); len(f) != 1 || f[0] != sentinelField {
		t.Fatalf("legacy hash after the migration: %q, want the sentinel alone", f)
	}
	if m := raw.ZRange(ctx, "{trv}:expiry", 0, -1).Val(); len(m) != 1 || m[0] != sentinelField {
		t.Fatalf("legacy expiry set after the migration: %q, want the sentinel alone", m)
	}
	compact := openLayout(t, srv, clk, LayoutCompact, 1)
	for _, e := range append([]denylist.Entry{viaNew, viaOld}, early[1:]...) {
		if !revoked(t, compact, e.Key) {
			t.Fatalf("after the migration, %v is not revoked", e.Key)
		}
	}
	if revoked(t, compact, early[0].Key) {
		t.Fatal("the un-revoked entry came back with the migration")
	}
	if n, err := compact.Entries(ctx); err != nil || n != 31 {
		t.Fatalf("Entries after the migration: %d %v, want 31", n, err)
	}
	// The running mirror of the upgrade layout still holds everything
	// (it reads the compact layout on its next load).
	if !revoked(t, upMirror, viaOld.Key) {
		t.Fatal("the mirror lost a revocation in the migration")
	}
	if err := upMirror.reload(ctx, false); err != nil || upMirror.Len() != 31 {
		t.Fatalf("reloaded mirror: %d entries, %v", upMirror.Len(), err)
	}
}
