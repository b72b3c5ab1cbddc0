package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// TestPartitionTags: one partition keeps the layout of earlier releases;
// with P partitions, partition i's tag hashes (as Redis itself computes
// it: CLUSTER KEYSLOT) into the middle half of the i-th of P equal slot
// ranges.
func TestPartitionTags(t *testing.T) {
	if ps := redisPartitions("trv", 1); len(ps) != 1 || ps[0].entriesKey != "{trv}:entries" || ps[0].epochKey() != "{trv}:epoch" {
		t.Fatalf("one partition: %+v", ps)
	}
	srv := redistest.Start(t, "--cluster-enabled", "yes")
	rc := srv.Client()
	ctx := context.Background()
	for _, n := range []int{2, 3, 6, 16, DefaultClusterPartitions, 64, MaxRedisPartitions} {
		seen := map[string]bool{}
		for i, p := range redisPartitions("trv", n) {
			slot, err := rc.ClusterKeySlot(ctx, p.entriesKey).Result()
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := int64(i*clusterSlots/n), int64((i+1)*clusterSlots/n)
			if w := hi - lo; w >= 4 {
				lo, hi = lo+w/4, hi-w/4 // the middle half, away from a primary's edge
			}
			if slot < lo || slot >= hi {
				t.Errorf("%d partitions: partition %d (%s) in slot %d, want [%d, %d)", n, i, p.tag, slot, lo, hi)
			}
			if got := int64(crc16(strings.Trim(p.tag, "{}")) % clusterSlots); got != slot {
				t.Errorf("crc16(%s) = slot %d, redis says %d", p.tag, got, slot)
			}
			for _, k := range append(p.keys, p.epochKey(), p.ownerRecordsKey()) {
				if s := rc.ClusterKeySlot(ctx, k).Val(); s != slot {
					t.Errorf("%s in slot %d, its partition in %d", k, s, slot)
				}
			}
			if seen[p.tag] {
				t.Errorf("tag %s twice", p.tag)
			}
			seen[p.tag] = true
		}
	}
}

// openPartitioned opens a store of n partitions on addrs (a cluster when
// cluster is set).
func openPartitioned(t *testing.T, addrs []string, cluster bool, n int, clk *storetest.Clock) *RedisStore {
	t.Helper()
	// The legacy layout, whose keys the tests read (TestRedisCompact
	// has the compact one's).
	s, err := openRedis(context.Background(), RedisOptions{Addrs: addrs, Cluster: cluster, Partitions: n, Layout: LayoutLegacy}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openMirrorOf opens a mirror (fastMirror, changed by tune if not nil) on
// rs, closed when the test ends.
func openMirrorOf(t *testing.T, rs *RedisStore, tune func(*MirrorOptions)) *MirrorStore {
	t.Helper()
	o := fastMirror()
	if tune != nil {
		tune(&o)
	}
	o.Logger = zaptest.NewLogger(t)
	m, err := OpenMirror(context.Background(), rs, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// seesAll waits until every entry of es is revoked in s.
func seesAll(t *testing.T, s denylist.Store, what string, es []denylist.Entry) {
	t.Helper()
	eventually(t, 3*time.Second, what, func() bool {
		for _, e := range es {
			if !revoked(t, s, e.Key) {
				return false
			}
		}
		return true
	})
}

// unrevokeThenPurge un-revokes keys (none is then found) and purges at
// time at, where exactly one entry has expired.
func unrevokeThenPurge(t *testing.T, s *RedisStore, clk *storetest.Clock, at int64, keys ...denylist.Key) {
	t.Helper()
	if err := s.Unrevoke(context.Background(), keys...); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, ok := storetest.MustGet(t, s, k); ok {
			t.Fatal("un-revoked entry still there")
		}
	}
	clk.Set(at)
	if n, err := s.Purge(context.Background(), clk.Now()); err != nil || n != 1 {
		t.Fatalf("Purge: %d %v, want 1", n, err)
	}
}

// listAll pages through s's List, limit a page, and counts each key seen.
func listAll(t *testing.T, s *RedisStore, limit int) map[denylist.Key]int {
	t.Helper()
	listed := map[denylist.Key]int{}
	for cursor, pages := "", 0; ; pages++ {
		page, next, err := s.List(context.Background(), cursor, limit)
		if err != nil || pages > 1000 {
			t.Fatalf("List: %v after %d pages", err, pages)
		}
		for _, e := range page {
			listed[e.Key]++
		}
		if next == "" {
			return listed
		}
		cursor = next
	}
}

func manyEntries(prefix string, n int) []denylist.Entry {
	es := make([]denylist.Entry, n)
	for i := range es {
		es[i] = storetest.TokenEntry(fmt.Sprintf("%s-%d", prefix, i))
	}
	return es
}

// TestRedisPartitioned runs every Store operation on a store of four
// partitions: entries spread over the four hashes, and reads see them all.
func TestRedisPartitioned(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	s := openPartitioned(t, []string{srv.Addr}, false, 4, clk)
	ctx := context.Background()
	es := manyEntries("p", 400)
	sess := denylist.Entry{Key: storetest.SessionKey("s"), Cutoff: storetest.T0, Expires: storetest.T0 + 100}
	storetest.MustRevoke(t, s, append(es, sess)...)
	raw := srv.Client()
	total := int64(0)
	for i := range 4 {
		entries, _, events := s.PartitionKeys(i)
		n := raw.HLen(ctx, entries).Val()
		if n < 60 {
			t.Errorf("partition %d holds %d of 401 entries", i, n)
		}
		if l := raw.XLen(ctx, events).Val(); l != n {
			t.Errorf("partition %d: %d events for %d entries", i, l, n)
		}
		total += n
	}
	if total != 401 {
		t.Fatalf("%d entries stored, want 401", total)
	}
	if raw.Exists(ctx, "{trv}:entries").Val() != 0 {
		t.Fatal("the single-partition hash was written")
	}
	for _, e := range es {
		if got, ok := storetest.MustGet(t, s, e.Key); !ok || got != e {
			t.Fatalf("Get(%v) = %+v %v", e.Key, got, ok)
		}
	}
	// A query whose keys fall in several partitions.
	if m := storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0, storetest.TokenKey("never"), storetest.UserKey("u"), sess.Key, es[7].Key)); !m.Revoked {
		t.Fatal("Check across partitions missed a revoked key")
	}
	if m := storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0+1, storetest.TokenKey("never"), storetest.UserKey("u"), sess.Key)); m.Revoked {
		t.Fatalf("Check: %+v", m)
	}
	// List pages through every partition, each entry once.
	listed := listAll(t, s, 50)
	if len(listed) != 401 {
		t.Fatalf("List returned %d distinct entries, want 401", len(listed))
	}
	for k, n := range listed {
		if n != 1 {
			t.Fatalf("List returned %v %d times", k, n)
		}
	}
	if _, _, err := s.List(ctx, "9.0", 10); err == nil {
		t.Fatal("List accepted a cursor of partition 9 of 4")
	}
	loaded := 0
	ids, err := s.LoadAll(ctx, func(denylist.Entry) { loaded++ })
	if err != nil || loaded != 401 || strings.Count(ids, ",") != 3 {
		t.Fatalf("LoadAll: %d entries, ids %q, %v", loaded, ids, err)
	}
	if n, err := s.Entries(ctx); err != nil || n != 401 {
		t.Fatalf("Entries: %d %v", n, err)
	}
	if st := s.Status(ctx); !st.Healthy || st.Entries != 401 || st.Details["partitions"] != 4 || st.Details["events"] != int64(401) {
		t.Fatalf("Status: %+v", st)
	}
	unrevokeThenPurge(t, s, clk, storetest.T0+200, es[0].Key, es[1].Key, es[2].Key) // sess expired by then

	// The owner index: each owner's set in its own partition.
	for i := range 8 {
		owner := storetest.Hasher.Digest(denylist.KindOwner, "ns", []byte("user"), []byte(fmt.Sprint(i)))
		if err := s.Own(ctx, owner, denylist.Entry{Key: storetest.TokenKey(fmt.Sprint("o", i)), Expires: storetest.T0 + 1000}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Owned(ctx, owner)
		if err != nil || len(got) != 1 || got[0].Key != storetest.TokenKey(fmt.Sprint("o", i)) {
			t.Fatalf("Owned: %+v %v", got, err)
		}
	}
	if n, err := s.OwnerRecords(ctx); err != nil || n != 8 {
		t.Fatalf("OwnerRecords: %d %v, want 8", n, err)
	}
}

// TestMirrorPartitioned: mirrors of a four-partition store see each other's
// writes in every partition, and write back what a Redis restarted empty
// lost, into the right partitions.
func TestMirrorPartitioned(t *testing.T) {
	srv := redistest.Start(t)
	clk := storetest.NewClock()
	open := func() *MirrorStore {
		return openMirrorOf(t, openPartitioned(t, []string{srv.Addr}, false, 4, clk), func(o *MirrorOptions) { o.MaxStaleness = time.Minute })
	}
	a, b := open(), open()
	es := manyEntries("m", 40)
	storetest.MustRevoke(t, a, es...)
	seesAll(t, b, "b never saw every revocation made through a", es)
	if err := b.Unrevoke(context.Background(), es[3].Key); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "a never saw the un-revocation made through b", func() bool {
		return !revoked(t, a, es[3].Key)
	})

	srv.Restart()
	eventually(t, 5*time.Second, "the entries were never written back into redis", func() bool {
		n, err := a.rs.Entries(context.Background())
		return err == nil && n == 39
	})
	c := open()
	for _, e := range es[4:] {
		if !revoked(t, c, e.Key) {
			t.Fatal("an instance started after the restart does not reject a token revoked before it")
		}
	}
}

// TestRedisPartitionedCluster runs a store of three partitions on a
// three-primary cluster: every primary holds a third of the entries; two
// mirrors see each other's writes; and with one primary down, a
// revocation with an entry in its partition is not reported stored,
// whatever the other partitions stored.
func TestRedisPartitionedCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	clk := storetest.NewClock()
	s := openPartitioned(t, cl.Seeds(), true, 3, clk)
	ctx := context.Background()
	es := manyEntries("c", 300)
	storetest.MustRevoke(t, s, es...)
	for i, p := range cl.Primaries {
		if n := p.Client().DBSize(ctx).Val(); n < 3 {
			t.Errorf("primary %d holds %d keys: the partitions are not spread", i, n)
		}
		entries, _, _ := s.PartitionKeys(i)
		if n := p.Client().HLen(ctx, entries).Val(); n < 60 {
			t.Errorf("primary %d holds %d entries of partition %d, want about 100", i, n, i)
		}
	}
	if m := storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0, storetest.TokenKey("x"), es[0].Key, es[1].Key, es[2].Key)); !m.Revoked {
		t.Fatal("Check on the cluster missed a revoked key")
	}

	mirror := func() *MirrorStore {
		return openMirrorOf(t, openPartitioned(t, cl.Seeds(), true, 3, clk), nil)
	}
	a, b := mirror(), mirror()
	for _, m := range []*MirrorStore{a, b} {
		// A mirror opens fresh: the connections its load opened to
		// every node do not leave it waiting for its next read.
		if _, fresh := m.Freshness(); !fresh {
			t.Fatal("a mirror on the cluster opened stale")
		}
	}
	if a.Len() != 300 {
		t.Fatalf("mirror loaded %d entries, want 300", a.Len())
	}
	more := manyEntries("c2", 30)
	storetest.MustRevoke(t, a, more...)
	seesAll(t, b, "b never saw the revocations made through a", more)
	eventually(t, 3*time.Second, "mirror b is not fresh on a healthy cluster", func() bool {
		_, fresh := b.Freshness()
		return fresh
	})

	cl.Primaries[2].Stop()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.Revoke(cctx, manyEntries("down", 30)...)
	if !errors.Is(err, denylist.ErrUnavailable) {
		t.Fatalf("Revoke with a partition's primary down: %v, want ErrUnavailable", err)
	}
}

// TestRedisDefaultPartitions: with no partitions option, a new key prefix
// on a 3-primary Cluster is spread over DefaultClusterPartitions, a third
// of them on each primary, which then holds at least a quarter of the
// denylist (issue 26); the count is recorded, so a second instance
// without the option follows it and one with another count is refused. A
// Cluster prefix an earlier release wrote (one partition, no marker) stays
// on one partition, and a standalone server gets one.
func TestRedisDefaultPartitions(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	ctx := context.Background()
	clk := storetest.NewClock()
	open := func(o RedisOptions) (*RedisStore, error) {
		o.Addrs, o.Cluster = cl.Seeds(), true
		s, err := openRedis(ctx, o, clk.Now, 0)
		if err == nil {
			t.Cleanup(func() { s.Close() })
		}
		return s, err
	}
	s, err := open(RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Partitions() != DefaultClusterPartitions || s.Layout() != LayoutCompact {
		t.Fatalf("a new prefix on a cluster: %d partitions, layout %s; want %d, compact", s.Partitions(), s.Layout(), DefaultClusterPartitions)
	}
	if v := cl.Client(t).Get(ctx, "{trv}:partitions").Val(); v != strconv.Itoa(DefaultClusterPartitions) {
		t.Fatalf("{trv}:partitions = %q, want %d", v, DefaultClusterPartitions)
	}
	const total = 4800
	storetest.MustRevoke(t, s, manyEntries("d", total)...)
	// Each partition's compact count, read from the primary that serves
	// it (the others answer MOVED).
	held, parts := make([]int, len(cl.Primaries)), make([]int, len(cl.Primaries))
	for i := range s.parts {
		for j, p := range cl.Primaries {
			if n, err := p.Client().Get(ctx, s.parts[i].countKey()).Int(); err == nil {
				held[j] += n
				parts[j]++
			}
		}
	}
	sum := 0
	for j := range held {
		sum += held[j]
		if held[j] < total/4 || parts[j] != DefaultClusterPartitions/3 {
			t.Errorf("primary %d holds %d of %d revocations in %d partitions; want at least a quarter, in %d", j, held[j], total, parts[j], DefaultClusterPartitions/3)
		}
	}
	if sum != total {
		t.Fatalf("the primaries hold %d revocations, want %d", sum, total)
	}
	t.Logf("revocations per primary: %v, partitions per primary: %v", held, parts)

	if b, err := open(RedisOptions{}); err != nil || b.Partitions() != DefaultClusterPartitions {
		t.Fatalf("a second instance: %v, want %d partitions", err, DefaultClusterPartitions)
	} else if _, ok := storetest.MustGet(t, b, manyEntries("d", 1)[0].Key); !ok {
		t.Fatal("a second instance does not see the first's revocation")
	}
	if _, err := open(RedisOptions{Partitions: 3}); err == nil || !strings.Contains(err.Error(), "partitions 3") || !strings.Contains(err.Error(), "spread over 24 partitions") {
		t.Fatalf("an instance given partitions 3 on a prefix of 24: %v, want a refusal that says both", err)
	}

	// An earlier release's prefix: one partition under "{old}", no marker.
	old, err := open(RedisOptions{KeyPrefix: "old", Partitions: 1, Layout: LayoutLegacy})
	if err != nil {
		t.Fatal(err)
	}
	storetest.MustRevoke(t, old, manyEntries("o", 10)...)
	if err := cl.Client(t).Del(ctx, "{old}:partitions", "{old}:layout").Err(); err != nil {
		t.Fatal(err)
	}
	if s, err := open(RedisOptions{KeyPrefix: "old"}); err != nil || s.Partitions() != 1 {
		t.Fatalf("a prefix of an earlier release on a cluster: %v, want it on its one partition", err)
	} else if _, ok := storetest.MustGet(t, s, manyEntries("o", 1)[0].Key); !ok {
		t.Fatal("an earlier release's revocation is not seen")
	}

	srv := redistest.Start(t)
	one, err := openRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if one.Partitions() != 1 {
		t.Fatalf("a standalone server: %d partitions, want 1", one.Partitions())
	}
}

// TestStreamMaxLenShared: the partitions share StreamMaxLen, so that 24
// streams keep about as many events as one, with a floor per stream.
func TestStreamMaxLenShared(t *testing.T) {
	for _, c := range []struct {
		max   int64
		parts int
		want  int64
	}{
		{DefaultRedisStreamMaxLen, 1, DefaultRedisStreamMaxLen},
		{DefaultRedisStreamMaxLen, DefaultClusterPartitions, DefaultRedisStreamMaxLen / DefaultClusterPartitions},
		{DefaultRedisStreamMaxLen, 256, 10_000},
		{10, 4, 10},
	} {
		s := &RedisStore{opts: RedisOptions{StreamMaxLen: c.max}, parts: make([]redisPartition, c.parts)}
		if got := s.streamMaxLen(); got != c.want {
			t.Errorf("StreamMaxLen %d over %d partitions: %d per stream, want %d", c.max, c.parts, got, c.want)
		}
	}
}

// TestCompactClusterChecksKeysOfSeveralPartitions: a query whose keys are
// in several partitions (a JWT's identity, jti, session and user; an
// opaque token's identity and its lower-case spelling's), checked on a
// Redis Cluster in the compact layout, which reads in transactions: each
// key is found, none is reported revoked wrongly, and no CROSSSLOT. On
// go-redis 9.23 a transaction across slots fails CROSSSLOT, and every
// such check failed (a 503 under fail closed).
func TestCompactClusterChecksKeysOfSeveralPartitions(t *testing.T) {
	cl := redistest.StartCluster(t, 3, 0)
	clk := storetest.NewClock()
	s, err := openRedis(context.Background(), RedisOptions{Addrs: cl.Seeds(), Cluster: true, Partitions: 6, Layout: LayoutCompact}, clk.Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	es := manyEntries("x", 12)
	storetest.MustRevoke(t, s, es[:6]...)
	keys := func(es []denylist.Entry) []denylist.Key {
		var out []denylist.Key
		for _, e := range es {
			out = append(out, e.Key)
		}
		return out
	}
	spread := map[*redisPartition]bool{}
	for _, e := range es {
		spread[s.part(&e.Key.Digest)] = true
	}
	if len(spread) < 2 {
		t.Fatalf("the keys are in %d partition: the test proves nothing", len(spread))
	}
	for i, e := range es[:6] {
		q := storetest.NewQuery(storetest.T0, append(keys(es[6:]), e.Key)...)
		if m := storetest.MustCheck(t, s, q); !m.Revoked || m.Entry.Key != e.Key {
			t.Errorf("query %d: %+v, want revoked by %v", i, m, e.Key)
		}
	}
	if m := storetest.MustCheck(t, s, storetest.NewQuery(storetest.T0, keys(es[6:])...)); m.Revoked {
		t.Errorf("keys never revoked: %+v", m)
	}
}
