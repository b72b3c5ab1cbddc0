package redisstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// checkBuckets fails the test unless partition p of s holds between
// shrinkBelow and growAbove entries per bucket on average (live entries
// live), Redis's count is the one s read, and every bucket is a listpack.
func checkBuckets(t *testing.T, srv *redistest.Server, s *RedisStore, p *redisPartition, live int, when string) {
	t.Helper()
	ctx := context.Background()
	raw := srv.Client()
	n := p.buckets.load()
	if got, _ := raw.Get(ctx, p.bucketsKey()).Int(); got != n {
		t.Fatalf("%s: redis holds %d buckets, the store read %d", when, got, n)
	}
	if live > growAbove*n || n > 1 && live < shrinkBelow*n {
		t.Fatalf("%s: %d entries in %d buckets (%.1f each), want %d to %d each", when, live, n, float64(live)/float64(n), shrinkBelow, growAbove)
	}
	for b := range n {
		if enc := raw.ObjectEncoding(ctx, p.bucketKey(b)).Val(); enc != "listpack" && enc != "" {
			t.Fatalf("%s: bucket %d of %d is a %s", when, b, n, enc)
		}
	}
	if extra := raw.Exists(ctx, p.bucketKey(n), p.bucketKey(n+1)).Val(); extra != 0 {
		t.Fatalf("%s: buckets past the count %d left in redis", when, n)
	}
}

// TestCompactGrowsAndShrinks: with no sizing option, a partition's
// buckets follow its entries up (4000 revocations: about 100 buckets, each
// a listpack) and down (all but 100 expire, the purge merges the buckets
// back), every entry found by Check, List and LoadAll throughout.
func TestCompactGrowsAndShrinks(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	s := openLayout(t, srv, clk, LayoutCompact, 1)
	ctx := context.Background()
	p := &s.parts[0]
	es := manyEntries("grow", 4000)
	for i := range es {
		es[i].Expires = storetest.T0 + 3600 + int64(i)
	}
	for i := 0; i < len(es); i += 250 {
		storetest.MustRevoke(t, s, es[i:i+250]...)
	}
	checkBuckets(t, srv, s, p, len(es), "after 4000 revocations")
	if n := p.buckets.load(); n < 64 {
		t.Fatalf("4000 revocations in %d buckets, want 64 or more", n)
	}
	found := func(es []denylist.Entry, when string) {
		t.Helper()
		for _, e := range es {
			if m := storetest.MustCheck(t, s, storetest.NewQuery(0, e.Key)); !m.Revoked || m.Entry != e {
				t.Fatalf("%s: Check(%v): %+v", when, e.Key, m)
			}
		}
		if listed := listAll(t, s, 100); len(listed) != len(es) {
			t.Fatalf("%s: List: %d entries, want %d", when, len(listed), len(es))
		}
		loaded := 0
		if _, err := s.LoadAll(ctx, func(denylist.Entry) { loaded++ }); err != nil || loaded != len(es) {
			t.Fatalf("%s: LoadAll: %d %v, want %d", when, loaded, err, len(es))
		}
	}
	found(es, "grown")

	live := es[len(es)-100:]
	clk.Set(live[0].Expires - 1)
	for prev := 0; prev != p.buckets.load(); {
		prev = p.buckets.load()
		if _, err := s.Purge(ctx, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	checkBuckets(t, srv, s, p, len(live), "after all but 100 expired")
	if n := p.buckets.load(); n > 100/shrinkBelow {
		t.Fatalf("100 live entries left in %d buckets, want %d or fewer", n, 100/shrinkBelow)
	}
	found(live, "shrunk")
	if n, err := s.Entries(ctx); err != nil || n != int64(len(live)) {
		t.Fatalf("Entries: %d %v, want %d", n, err, len(live))
	}
}

// TestCompactResizeNeverUnrevokes: while two stores (instances) grow and
// shrink the same partition (each revoking and un-revoking a churn of its
// own, so buckets split and merge all along), checks of a third store and
// loads and listings never miss one of the entries revoked before (the
// anchors): an entry is always where the readers look.
func TestCompactResizeNeverUnrevokes(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	writers := []*RedisStore{openLayout(t, srv, clk, LayoutCompact, 1), openLayout(t, srv, clk, LayoutCompact, 1)}
	// The reader's calls wait as long as the machine's load asks: the
	// test is about what they find, not how fast.
	reader, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, Layout: LayoutCompact, FailTimeout: time.Minute, ReadTimeout: time.Minute}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	ctx := context.Background()
	anchors := manyEntries("anchor", 300)
	storetest.MustRevoke(t, writers[0], anchors...)

	stop := make(chan struct{})
	var splits, merges atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	halt := func() {
		once.Do(func() { close(stop) })
		wg.Wait()
	}
	defer halt() // before the stores close, even on a failure
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for w, s := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				churn := manyEntries(fmt.Sprintf("churn-%d-%d", w, round), 2000)
				before := s.parts[0].buckets.load()
				for i := 0; i < len(churn); i += 50 {
					if err := s.Revoke(ctx, churn[i:i+50]...); err != nil || stopped() {
						if err != nil {
							t.Error(err)
						}
						return
					}
				}
				splits.Add(int64(s.parts[0].buckets.load() - before))
				before = s.parts[0].buckets.load()
				for i := 0; i < len(churn); i += 50 {
					keys := make([]denylist.Key, 50)
					for j := range keys {
						keys[j] = churn[i+j].Key
					}
					if err := s.Unrevoke(ctx, keys...); err != nil || stopped() {
						if err != nil {
							t.Error(err)
						}
						return
					}
				}
				merges.Add(int64(before - s.parts[0].buckets.load()))
			}
		}()
	}
	for pass := 0; pass < 30 && !t.Failed(); pass++ {
		for i := 0; i < len(anchors); i += 20 {
			for _, e := range anchors[i : i+20] {
				if m := storetest.MustCheck(t, reader, storetest.NewQuery(0, e.Key)); !m.Revoked {
					t.Fatalf("pass %d: anchor %v un-revoked during a resize", pass, e.Key)
				}
			}
		}
		seen := map[denylist.Key]bool{}
		if _, err := reader.LoadAll(ctx, func(e denylist.Entry) { seen[e.Key] = true }); err != nil {
			t.Fatal(err)
		}
		listed := listAll(t, reader, 500)
		for _, e := range anchors {
			if !seen[e.Key] {
				t.Fatalf("pass %d: LoadAll missed anchor %v during a resize", pass, e.Key)
			}
			if listed[e.Key] == 0 {
				t.Fatalf("pass %d: List missed anchor %v during a resize", pass, e.Key)
			}
		}
	}
	halt()
	t.Logf("buckets split: %d, merged: %d", splits.Load(), merges.Load())
	if splits.Load() < 50 || merges.Load() < 50 {
		t.Fatalf("%d splits and %d merges: the readers did not run against resizes", splits.Load(), merges.Load())
	}
	if err := reader.resizeNow(ctx, &reader.parts[0]); err != nil { // reads the count
		t.Fatal(err)
	}
	left, _ := srv.Client().Get(ctx, reader.parts[0].countKey()).Int() // the anchors, and what a writer stopped in the middle of left
	checkBuckets(t, srv, reader, &reader.parts[0], left, "after the churn")
}

// TestCompactStaleReaders: a store that last read the bucket count long
// ago (another instance grew the partition from 1 bucket to about 100
// since, then shrank it back to a few) still finds every entry with
// Check, Get, List and LoadAll: its reads read the count with the buckets
// and look again where the count they read puts the entry.
func TestCompactStaleReaders(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	small := openLayout(t, srv, clk, LayoutCompact, 1) // reads 1 bucket
	writer := openLayout(t, srv, clk, LayoutCompact, 1)
	ctx := context.Background()
	es := manyEntries("stale", 4000)
	for i := range es {
		es[i].Expires = storetest.T0 + 3600 + int64(i)
	}
	for i := 0; i < len(es); i += 500 {
		storetest.MustRevoke(t, writer, es[i:i+500]...)
	}
	big := openLayout(t, srv, clk, LayoutCompact, 1) // reads about 100
	findAll := func(s *RedisStore, es []denylist.Entry, who string) {
		t.Helper()
		before := s.parts[0].buckets.load()
		for _, e := range es {
			if got, ok := storetest.MustGet(t, s, e.Key); !ok || got != e {
				t.Fatalf("%s (had read %d buckets, redis holds %d): Get(%v): %+v %v", who, before, writer.parts[0].buckets.load(), e.Key, got, ok)
			}
		}
		if listed := listAll(t, s, 100); len(listed) != len(es) {
			t.Fatalf("%s: List: %d entries, want %d", who, len(listed), len(es))
		}
		loaded := 0
		if _, err := s.LoadAll(ctx, func(denylist.Entry) { loaded++ }); err != nil || loaded != len(es) {
			t.Fatalf("%s: LoadAll: %d %v, want %d", who, loaded, err, len(es))
		}
	}
	if small.parts[0].buckets.load() != 1 || writer.parts[0].buckets.load() < 64 {
		t.Fatalf("buckets: the first store read %d, the writer holds %d: want 1 and 64 or more", small.parts[0].buckets.load(), writer.parts[0].buckets.load())
	}
	findAll(small, es, "a store that read 1 bucket")

	live := es[len(es)-100:]
	clk.Set(live[0].Expires - 1)
	for prev := 0; prev != writer.parts[0].buckets.load(); {
		prev = writer.parts[0].buckets.load()
		if _, err := writer.Purge(ctx, clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := writer.parts[0].buckets.load(); big.parts[0].buckets.load() < 64 || n > 10 {
		t.Fatalf("buckets: the second store read %d, the writer holds %d: want 64 or more and 10 or fewer", big.parts[0].buckets.load(), n)
	}
	findAll(big, live, "a store that read the grown count")
}

// TestCompactGrowsOnCluster: three partitions of the compact layout on a
// 3-primary Cluster grow their buckets (each script writes the buckets it
// picks in its partition's hash slot, each read is a transaction on the
// slot's primary), and every entry is found by Check, List, LoadAll and a
// mirror's load.
func TestCompactGrowsOnCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	ctx := context.Background()
	s, err := openRedis(ctx, RedisOptions{Addrs: cl.Seeds(), Cluster: true, Partitions: 3, Layout: LayoutCompact, ReadTimeout: time.Minute, FailTimeout: time.Minute}, storetest.NewClock().Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	es := manyEntries("cluster", 3000)
	for i := 0; i < len(es); i += 500 {
		storetest.MustRevoke(t, s, es[i:i+500]...)
	}
	for i := range s.parts {
		if n := s.parts[i].buckets.load(); n < 16 {
			t.Errorf("partition %d: %d buckets for about 1000 entries, want 16 or more", i, n)
		}
	}
	for _, e := range es {
		if m := storetest.MustCheck(t, s, storetest.NewQuery(0, e.Key)); !m.Revoked {
			t.Fatalf("Check(%v) on the cluster: not revoked", e.Key)
		}
	}
	if listed := listAll(t, s, 500); len(listed) != len(es) {
		t.Fatalf("List: %d entries, want %d", len(listed), len(es))
	}
	m := openMirrorOf(t, s, nil)
	if m.Len() != len(es) {
		t.Fatalf("a mirror loaded %d entries, want %d", m.Len(), len(es))
	}
}
