package boltstore

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
)

func openTestEmbedded(t *testing.T, path string) *EmbeddedStore {
	t.Helper()
	s, err := OpenEmbedded(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// boltCount returns the number of entries in the store's file.
func boltCount(t *testing.T, s *EmbeddedStore) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(entriesBucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEmbeddedRevokeSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "denylist.db")
	now := time.Now().Unix()
	tok, sess := storetest.TokenKey("a"), storetest.SessionKey("s")
	s := openTestEmbedded(t, path)
	if s.Path() != path {
		t.Fatalf("Path %q", s.Path())
	}
	storetest.MustRevoke(t, s,
		denylist.Entry{Key: tok, Cutoff: denylist.CutoffAlways, Expires: now + 3600},
		denylist.Entry{Key: sess, Cutoff: now - 10, Expires: now + 3600},
	)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTestEmbedded(t, path)
	defer s.Close()
	if m := storetest.MustCheck(t, s, storetest.NewQuery(now, tok)); !m.Revoked || m.Entry.Key != tok {
		t.Fatalf("token revocation lost on reopen: %+v", m)
	}
	if !storetest.MustCheck(t, s, storetest.NewQuery(now-10, sess)).Revoked {
		t.Fatal("session revocation lost on reopen")
	}
	if storetest.MustCheck(t, s, storetest.NewQuery(now-9, sess)).Revoked {
		t.Fatal("token issued after the session cut-off revoked")
	}
	if e, ok := storetest.MustGet(t, s, sess); !ok || e.Cutoff != now-10 || e.Expires != now+3600 {
		t.Fatalf("Get after reopen: %+v %v", e, ok)
	}
	st := s.Status(context.Background())
	if st.Backend != "embedded" || !st.Healthy || st.Entries != 2 || st.Details["path"] != path {
		t.Fatalf("Status: %+v", st)
	}
}

func TestEmbeddedMerge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denylist.db")
	now := time.Now().Unix()
	sess := storetest.SessionKey("s")
	s := openTestEmbedded(t, path)
	storetest.MustRevoke(t, s, denylist.Entry{Key: sess, Cutoff: now - 100, Expires: now + 500})
	storetest.MustRevoke(t, s, denylist.Entry{Key: sess, Cutoff: now, Expires: now + 100})        // later cut-off, earlier expiry
	storetest.MustRevoke(t, s, denylist.Entry{Key: sess, Cutoff: now - 1000, Expires: now + 200}) // earlier cut-off
	want := denylist.Entry{Key: sess, Cutoff: now, Expires: now + 500}
	if e, ok := storetest.MustGet(t, s, sess); !ok || e != want {
		t.Fatalf("merged in memory: %+v, want %+v", e, want)
	}
	s.Close()
	s = openTestEmbedded(t, path)
	defer s.Close()
	if e, ok := storetest.MustGet(t, s, sess); !ok || e != want {
		t.Fatalf("merged on disk: %+v, want %+v", e, want)
	}
}

func TestEmbeddedUnrevoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denylist.db")
	s := openTestEmbedded(t, path)
	a, b := storetest.CheckUnrevoke(t, s, time.Now().Unix()+100)
	s.Close()
	s = openTestEmbedded(t, path)
	defer s.Close()
	if storetest.MustCheck(t, s, storetest.NewQuery(0, a)).Revoked {
		t.Fatal("unrevoked token revoked again after reopen")
	}
	if !storetest.MustCheck(t, s, storetest.NewQuery(0, b)).Revoked {
		t.Fatal("remaining entry lost on reopen")
	}
}

func TestEmbeddedExpiryAndPurge(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "denylist.db")
	now := time.Now().Unix()
	old, live := storetest.TokenKey("old"), storetest.TokenKey("live")
	s := openTestEmbedded(t, path)
	storetest.MustRevoke(t, s,
		denylist.Entry{Key: old, Cutoff: denylist.CutoffAlways, Expires: now + 10},
		denylist.Entry{Key: live, Cutoff: denylist.CutoffAlways, Expires: now + 1000},
	)
	clk := storetest.NewClock()
	clk.Set(now + 10)
	s.now = clk.Now // no purge loop: only this goroutine reads it
	storetest.CheckExpiredHidden(t, s, old)
	if l, _, err := s.List(ctx, "", 10); err != nil || len(l) != 1 || l[0].Key != live {
		t.Fatalf("List: %v %v", l, err)
	}
	n, err := s.Purge(clk.Now())
	if err != nil || n != 1 {
		t.Fatalf("Purge: %d %v", n, err)
	}
	if c := boltCount(t, s); c != 1 {
		t.Fatalf("%d entries on disk after purge, want 1", c)
	}
	if s.index.Len() != 1 {
		t.Fatalf("%d entries in memory after purge, want 1", s.index.Len())
	}
	if !storetest.MustCheck(t, s, storetest.NewQuery(0, live)).Revoked {
		t.Fatal("purge removed a live entry")
	}
	s.Close()
}

func TestEmbeddedExpiredNotLoaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denylist.db")
	now := time.Now().Unix()
	s := openTestEmbedded(t, path)
	storetest.MustRevoke(t, s, denylist.Entry{Key: storetest.TokenKey("old"), Cutoff: denylist.CutoffAlways, Expires: now - 1})
	s.Close()
	s = openTestEmbedded(t, path)
	defer s.Close()
	if s.index.Len() != 0 {
		t.Fatalf("an expired entry was loaded into memory")
	}
}

func TestEmbeddedPurgeLoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denylist.db")
	s, err := OpenEmbedded(path, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustRevoke(t, s, denylist.Entry{Key: storetest.TokenKey("old"), Cutoff: denylist.CutoffAlways, Expires: time.Now().Unix() - 1})
	deadline := time.Now().Add(5 * time.Second)
	for boltCount(t, s) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the background purge never removed the expired entry")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedListPaging(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "denylist.db")
	now := time.Now().Unix()
	s := openTestEmbedded(t, path)
	defer s.Close()
	live := map[denylist.Key]denylist.Entry{}
	var all []denylist.Entry
	for i := 0; i < 250; i++ {
		e := denylist.Entry{Key: storetest.TokenKey(strconv.Itoa(i)), Cutoff: denylist.CutoffAlways, Expires: now + 100}
		if i%4 == 0 {
			e = denylist.Entry{Key: storetest.UserKey(strconv.Itoa(i)), Cutoff: now, Expires: now + 100}
		}
		if i%10 == 0 {
			e.Expires = now - 1
		} else {
			live[e.Key] = e
		}
		all = append(all, e)
	}
	storetest.MustRevoke(t, s, all...)

	seen := map[denylist.Key]int{}
	cursor, pages, prev := "", 0, ""
	for {
		page, next, err := s.List(ctx, cursor, 37)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page) > 37 {
			t.Fatalf("page of %d entries, limit 37", len(page))
		}
		for _, e := range page {
			seen[e.Key]++
			if want, ok := live[e.Key]; !ok || e != want {
				t.Fatalf("listed %+v, want a live entry", e)
			}
			// Storage order: kind byte, then digest.
			if k := e.Key.String(); k <= prev {
				t.Fatalf("listing out of order: %s after %s", k, prev)
			} else {
				prev = k
			}
		}
		if next == "" {
			break
		}
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if want := (len(live) + 36) / 37; pages != want {
		t.Errorf("%d pages, want %d", pages, want)
	}
	for k := range live {
		if seen[k] != 1 {
			t.Errorf("entry %s listed %d times", k, seen[k])
		}
	}

	// A cursor whose entry was deleted meanwhile still pages on.
	first, next, err := s.List(ctx, "", 5)
	if err != nil || len(first) != 5 {
		t.Fatal(first, err)
	}
	if err := s.Unrevoke(ctx, first[4].Key); err != nil {
		t.Fatal(err)
	}
	second, _, err := s.List(ctx, next, 5)
	if err != nil || len(second) == 0 || second[0].Key.String() <= first[4].Key.String() {
		t.Fatalf("after a deleted cursor entry: %v %v", second, err)
	}

	if _, _, err := s.List(ctx, "bogus", 5); err == nil {
		t.Fatal("malformed cursor accepted")
	}
	if page, _, err := s.List(ctx, "", 0); err != nil || len(page) != denylist.DefaultListLimit {
		t.Fatalf("limit 0: %d entries, %v", len(page), err)
	}
}

func TestEmbeddedLockedFile(t *testing.T) {
	old := embeddedLockTimeout
	embeddedLockTimeout = 200 * time.Millisecond
	defer func() { embeddedLockTimeout = old }()

	path := filepath.Join(t.TempDir(), "denylist.db")
	s := openTestEmbedded(t, path)
	defer s.Close()

	start := time.Now()
	s2, err := OpenEmbedded(path, 0)
	if err == nil {
		s2.Close()
		t.Fatal("a second open of a locked file succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second open took %s to fail", d)
	}
	if !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), path) {
		t.Fatalf("unclear error: %v", err)
	}
}

// TestResilientLooksThrough: the backend's counter is found through the
// wrapper (the max_entries ceiling depends on it).
func TestResilientLooksThrough(t *testing.T) {
	es, err := OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r := denylist.NewResilient(denylist.ResilientOptions{Backend: "embedded", Where: "test"}, es)
	defer r.Close()
	if denylist.CounterOf(r) == nil {
		t.Fatal("denylist.CounterOf does not look through Resilient")
	}
	if denylist.CounterOf(denylist.NewResilient(denylist.ResilientOptions{Backend: "redis", Where: "test"}, nil)) != nil {
		t.Fatal("a counter of a store that is not open")
	}
}
