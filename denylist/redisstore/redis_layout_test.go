package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// openLayout opens a store in layout on srv, with partitions partitions.
func openLayout(t *testing.T, srv *redistest.Server, clk *storetest.Clock, layout string, partitions int) *RedisStore {
	t.Helper()
	s, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, Layout: layout, Partitions: partitions}, clk.Now, 0)
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
			if enc := raw.ObjectEncoding(ctx, p.bucketKey(bucketOf(&es[0].Digest, p.buckets.load()))).Val(); enc != "listpack" {
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

// openPrefix opens a store on srv with key prefix prefix, layout layout
// ("" for the prefix's own), partitions partitions, logging to a new
// observer; it returns the store (nil on error), the logs and the error.
func openPrefix(t *testing.T, srv *redistest.Server, prefix, layout string, partitions int) (*RedisStore, *observer.ObservedLogs, error) {
	t.Helper()
	core, logs := observer.New(zapcore.WarnLevel)
	s, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, KeyPrefix: prefix, Layout: layout, Partitions: partitions, Logger: zap.New(core)}, storetest.NewClock().Now, 0)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, logs, err
}

// layoutOf returns s's layout, "" for a store that did not open.
func layoutOf(s *RedisStore) string {
	if s == nil {
		return ""
	}
	return s.Layout()
}

// upgradeWarnings counts the warnings naming migrate-layout in logs.
func upgradeWarnings(logs *observer.ObservedLogs) int {
	return logs.FilterMessageSnippet("caddy token-revocation migrate-layout").Len()
}

// TestRedisDefaultLayout: without a layout option, a new prefix runs the
// compact layout and a prefix an earlier release wrote (legacy entries, or
// only its events, and no marker) runs the upgrade layout with a warning
// naming migrate-layout, enforcing what it holds, until MigrateLayout marks
// it compact; an explicit layout that disagrees with the marker is refused
// with an error that says what to do; with 1 and 3 partitions.
func TestRedisDefaultLayout(t *testing.T) {
	for _, parts := range []int{1, 3} {
		t.Run(fmt.Sprint(parts), func(t *testing.T) {
			srv := redistest.Start(t)
			ctx := context.Background()
			raw := srv.Client()

			// A new prefix: compact, marked so.
			fresh, logs, err := openPrefix(t, srv, "fresh", "", parts)
			if err != nil || layoutOf(fresh) != LayoutCompact || upgradeWarnings(logs) != 0 {
				t.Fatalf("new prefix: %v, layout %q, %d warnings; want compact, none", err, layoutOf(fresh), upgradeWarnings(logs))
			}
			if m := raw.Get(ctx, "{fresh}:layout").Val(); m != "compact" {
				t.Fatalf("marker of a new prefix: %q, want compact", m)
			}
			storetest.MustRevoke(t, fresh, manyEntries("fresh", 20)...)
			if _, _, err := openPrefix(t, srv, "fresh", LayoutLegacy, parts); err == nil || !strings.HasPrefix(err.Error(), "redis: ") || !strings.Contains(err.Error(), `remove "layout legacy"`) {
				t.Fatalf("layout legacy on a compact prefix: %v, want a redis: error (the module adds token_revocation:) saying to remove it", err)
			}
			if s, _, err := openPrefix(t, srv, "fresh", LayoutUpgrade, parts); err != nil || layoutOf(s) != LayoutUpgrade {
				t.Fatalf("layout upgrade on a compact prefix: %v", err)
			}

			// A prefix of an earlier release: legacy entries, no marker.
			old, _, err := openPrefix(t, srv, "old", LayoutLegacy, parts)
			if err != nil {
				t.Fatal(err)
			}
			early := manyEntries("early", 40)
			storetest.MustRevoke(t, old, early...)
			raw.Del(ctx, "{old}:layout")
			up, logs, err := openPrefix(t, srv, "old", "", parts)
			if err != nil || layoutOf(up) != LayoutUpgrade || upgradeWarnings(logs) != 1 {
				t.Fatalf("legacy prefix: %v, layout %q, %d warnings; want upgrade and one warning", err, layoutOf(up), upgradeWarnings(logs))
			}
			if m := raw.Get(ctx, "{old}:layout").Val(); m != "legacy" {
				t.Fatalf("marker of a legacy prefix: %q, want legacy", m)
			}
			late := storetest.TokenEntry("late")
			storetest.MustRevoke(t, up, late)
			for _, e := range append(early, late) {
				if !revoked(t, up, e.Key) || !revoked(t, old, e.Key) {
					t.Fatalf("%v not revoked on both instances", e.Key)
				}
			}
			_, _, err = openPrefix(t, srv, "old", LayoutCompact, parts)
			if err == nil || !strings.HasPrefix(err.Error(), "redis: ") || !strings.Contains(err.Error(), "migrate-layout") {
				t.Fatalf("layout compact on a legacy prefix: %v, want a redis: error (the module adds token_revocation:) naming migrate-layout", err)
			}
			if n, err := up.MigrateLayout(ctx); err != nil || n != 41 {
				t.Fatalf("MigrateLayout: %d %v, want 41", n, err)
			}
			after, logs, err := openPrefix(t, srv, "old", "", parts)
			if err != nil || layoutOf(after) != LayoutCompact || upgradeWarnings(logs) != 0 {
				t.Fatalf("after the migration: %v, layout %q, %d warnings", err, layoutOf(after), upgradeWarnings(logs))
			}
			for _, e := range append(early, late) {
				if !revoked(t, after, e.Key) {
					t.Fatalf("%v not revoked after the migration", e.Key)
				}
			}

			// An earlier release running on a denylist empty for now: its
			// events alone say so.
			idle, _, err := openPrefix(t, srv, "idle", LayoutLegacy, parts)
			if err != nil {
				t.Fatal(err)
			}
			storetest.MustRevoke(t, idle, early[0])
			if err := idle.Unrevoke(ctx, early[0].Key); err != nil {
				t.Fatal(err)
			}
			raw.Del(ctx, "{idle}:layout")
			if s, _, err := openPrefix(t, srv, "idle", "", parts); err != nil || layoutOf(s) != LayoutUpgrade {
				t.Fatalf("prefix with legacy events only: %v, want the upgrade layout", err)
			}

			// A prefix written compact by a release without the marker.
			c, _, err := openPrefix(t, srv, "c", LayoutCompact, parts)
			if err != nil {
				t.Fatal(err)
			}
			storetest.MustRevoke(t, c, early...)
			raw.Del(ctx, "{c}:layout")
			if s, _, err := openPrefix(t, srv, "c", "", parts); err != nil || layoutOf(s) != LayoutCompact {
				t.Fatalf("compact prefix without a marker: %v, want compact", err)
			}

			// A marker that is no layout.
			raw.Set(ctx, "{bad}:layout", "tiny", 0)
			if _, _, err := openPrefix(t, srv, "bad", "", parts); err == nil || !strings.HasPrefix(err.Error(), "redis: ") {
				t.Fatalf("a marker that is no layout: %v", err)
			}
		})
	}
}

// TestRedisLayoutRace: instances starting together on a new prefix, one
// of them given layout legacy, agree: either the legacy one won the marker
// and every other runs the upgrade layout, or it is refused and every
// other runs the compact one.
func TestRedisLayoutRace(t *testing.T) {
	srv := redistest.Start(t)
	for round := range 10 {
		prefix := fmt.Sprint("race", round)
		var wg sync.WaitGroup
		layouts := make([]string, 6)
		errs := make([]error, 6)
		for i := range layouts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				opt := ""
				if i == 0 {
					opt = LayoutLegacy
				}
				s, _, err := openPrefix(t, srv, prefix, opt, 1)
				if errs[i] = err; err == nil {
					layouts[i] = layoutOf(s)
				}
			}()
		}
		wg.Wait()
		want := LayoutCompact
		if errs[0] == nil {
			want = LayoutUpgrade
		}
		for i := 1; i < len(layouts); i++ {
			if errs[i] != nil || layouts[i] != want {
				t.Fatalf("round %d: legacy instance %v, instance %d: %q %v, want %s", round, errs[0], i, layouts[i], errs[i], want)
			}
		}
	}
}

// TestRedisDefaultLayoutCanEvict: without a layout option, a Redis that
// can evict keys (allkeys-lru) gets the upgrade layout, whose legacy
// copies the eviction sentinel guards, with a warning; the marker still
// says compact, and a noeviction Redis would run compact.
func TestRedisDefaultLayoutCanEvict(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory-policy", "allkeys-lru")
	s, logs, err := openPrefix(t, srv, "lru", "", 1)
	if err != nil || layoutOf(s) != LayoutUpgrade || logs.FilterMessageSnippet("maxmemory-policy noeviction to run the compact layout").Len() != 1 {
		t.Fatalf("default layout on an allkeys-lru Redis: %v, %q, logs %v; want upgrade and a warning", err, layoutOf(s), logs.All())
	}
	if m := srv.Client().Get(context.Background(), "{lru}:layout").Val(); m != "compact" {
		t.Fatalf("marker: %q, want compact", m)
	}
	if s, _, err := openPrefix(t, srv, "lru", LayoutCompact, 1); err != nil || layoutOf(s) != LayoutCompact {
		t.Fatalf("an explicit layout compact on an allkeys-lru Redis: %v", err)
	}
}

// TestRedisDefaultLayoutFullRedis: a full Redis (noeviction, at
// maxmemory) still starts an instance without a layout option on a prefix
// of an earlier release, with the marker not yet written (it cannot be) or
// written but without the compact layout's bucket counts (the upgrade
// layout cannot write them): it serves the legacy layout as it is, and
// warns.
func TestRedisDefaultLayoutFullRedis(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
	ctx := context.Background()
	raw := srv.Client()
	es := manyEntries("full", 30)
	for _, prefix := range []string{"unmarked", "marked"} {
		old, _, err := openPrefix(t, srv, prefix, LayoutLegacy, 1)
		if err != nil {
			t.Fatal(err)
		}
		storetest.MustRevoke(t, old, es...)
	}
	raw.Del(ctx, "{unmarked}:layout")
	value := strings.Repeat("v", 4096)
	for i := 0; ; i++ {
		if err := raw.Set(ctx, fmt.Sprint("cache-", i), value, 0).Err(); err != nil {
			if !strings.HasPrefix(err.Error(), "OOM ") {
				t.Fatal(err)
			}
			break
		}
		if i == 10_000 {
			t.Fatal("redis never filled up")
		}
	}
	for _, prefix := range []string{"unmarked", "marked"} {
		s, logs, err := openPrefix(t, srv, prefix, "", 1)
		if err != nil || layoutOf(s) != LayoutLegacy || logs.FilterMessageSnippet("redis is full").Len() != 1 {
			t.Fatalf("%s prefix on a full Redis: %v, layout %q, logs %v; want legacy and a warning", prefix, err, layoutOf(s), logs.All())
		}
		for _, e := range es {
			if !revoked(t, s, e.Key) {
				t.Fatalf("%s prefix on a full Redis: %v not revoked", prefix, e.Key)
			}
		}
	}
}
