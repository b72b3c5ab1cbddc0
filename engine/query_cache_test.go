package engine

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

func TestQueryCacheKeysByNamespaceAndStaysBounded(t *testing.T) {
	c := newQueryCache()
	if c.keyOf("a", "x.y.z") == c.keyOf("b", "x.y.z") || c.keyOf("a", "bx.y.z") == c.keyOf("ab", "x.y.z") {
		t.Fatal("namespace not part of the key")
	}
	var q denylist.Query
	q.IssuedAt = 42
	for i := 0; i < 5*MaxCachedQueries; i++ {
		c.put(c.keyOf("", strconv.Itoa(i)), &q)
	}
	if n := c.len(); n > MaxCachedQueries {
		t.Fatalf("cache holds %d queries, more than its bound %d", n, MaxCachedQueries)
	}
	last := c.keyOf("", strconv.Itoa(5*MaxCachedQueries-1))
	var got denylist.Query
	if !c.get(last, &got) || got.IssuedAt != 42 {
		t.Fatal("the query cached last is gone")
	}
}

// TestQueryCacheKeepsEachQueryWithoutAllocating: every key cached gives
// back its own query, through rotations and promotions from the old
// generation, and caching a query allocates nothing once the generations
// exist (a first-seen JWT's check used to allocate its query).
func TestQueryCacheKeepsEachQueryWithoutAllocating(t *testing.T) {
	c := newQueryCache()
	n := 3 * MaxCachedQueries / 2
	put := func(i int) {
		q := denylist.Query{IssuedAt: int64(i), N: 1}
		c.put(c.keyOf("", strconv.Itoa(i)), &q)
	}
	for i := range n {
		put(i)
		if i%7 == 0 && i > 100 { // a token presented again: promoted if old
			var got denylist.Query
			if c.get(c.keyOf("", strconv.Itoa(i-100)), &got) && got.IssuedAt != int64(i-100) {
				t.Fatalf("key %d gave the query of %d", i-100, got.IssuedAt)
			}
		}
	}
	found := 0
	for i := range n {
		var got denylist.Query
		if c.get(c.keyOf("", strconv.Itoa(i)), &got) {
			found++
			if got.IssuedAt != int64(i) {
				t.Fatalf("key %d gave the query of %d", i, got.IssuedAt)
			}
		}
	}
	if found < MaxCachedQueries/2 {
		t.Fatalf("%d of the %d queries cached last are found", found, MaxCachedQueries/2)
	}
	keys := make([]hashedKey, 2000)
	for i := range keys {
		keys[i] = c.keyOf("", "new-"+strconv.Itoa(i))
	}
	i := 0
	q := denylist.Query{N: 1}
	if a := testing.AllocsPerRun(1000, func() { c.put(keys[i], &q); i++ }); a != 0 {
		t.Fatalf("caching a query allocates %v times", a)
	}
}

// len is how many values the cache holds (tests only).
func (c *hashedCache[V]) len() int {
	n, _ := c.sizes()
	return n
}

// capacity is how many values the cache's generations have room for
// (tests only).
func (c *hashedCache[V]) capacity() int {
	_, n := c.sizes()
	return n
}

// sizes is how many values the cache holds, and has room for.
func (c *hashedCache[V]) sizes() (n, room int) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.cur.vals) + len(sh.old.vals)
		room += cap(sh.cur.vals) + cap(sh.old.vals)
		sh.mu.Unlock()
	}
	return n, room
}

// BenchmarkQueryCacheKey is the key of a 600-byte token in the default
// namespace: what every JWT check pays first, cached or not.
func BenchmarkQueryCacheKey(b *testing.B) {
	c := newQueryCache()
	raw := strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 30)
	b.ReportAllocs()
	for b.Loop() {
		_ = c.keyOf("", raw)
	}
}

// BenchmarkClaimKeyOf is the key of a claim in the claim-key memo: short
// parts only, as a check of a new token pays for its sub, sid and client.
func BenchmarkClaimKeyOf(b *testing.B) {
	c := newClaimKeys()
	b.ReportAllocs()
	for b.Loop() {
		_ = c.keyOf("sub", "", "https://idp.example.com/realms/demo", "6f1c2d4e-8b7a-4c3d-9e2f-1a0b9c8d7e6f")
	}
}

// TestQueryCacheKeyOfLongParts: a part past hashedPartInline stands for
// itself by its hash and its length, so no two inputs that differ in a
// long part, or in where the parts split, share a key.
func TestQueryCacheKeyOfLongParts(t *testing.T) {
	c := newQueryCache()
	long := strings.Repeat("x", hashedPartInline+1)
	keys := map[hashedKey]string{}
	for _, parts := range [][]string{
		{"", long}, {"", long + "y"}, {"", "y" + long[1:]}, {"a", long}, {"a" + long[:1], long[1:]},
		{long, ""}, {"", long[:hashedPartInline]}, {"", long[:hashedPartInline] + "y"},
	} {
		k := c.keyOf(parts...)
		if prev, ok := keys[k]; ok {
			t.Fatalf("%q and %s share a key", parts, prev)
		}
		keys[k] = strconv.Quote(strings.Join(parts, "|"))
		if c.keyOf(parts...) != k {
			t.Fatalf("%q: two keys", parts)
		}
	}
}

// TestKeyOfHashesTheAnnouncedInput: the key is, under each seed, the
// maphash of each part's length followed by the part, or by its own
// maphash under that seed when it is longer than hashedPartInline.
func TestKeyOfHashesTheAnnouncedInput(t *testing.T) {
	c := newQueryCache()
	parts := []string{"ns", strings.Repeat("t", 600), "", strings.Repeat("s", hashedPartInline), strings.Repeat("u", 100)}
	got := c.keyOf(parts...)
	le32 := func(n int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(n)) }
	hash := func(seed maphash.Seed, p string) []byte {
		return binary.LittleEndian.AppendUint64(nil, maphash.String(seed, p))
	}
	for i, seed := range c.seeds {
		in := slices.Concat(le32(2), []byte("ns"), le32(600), hash(seed, parts[1]), le32(0),
			le32(hashedPartInline), []byte(parts[3]), le32(100), hash(seed, parts[4]))
		if want := maphash.Bytes(seed, in); got[i] != want {
			t.Fatalf("seed %d: %x, want %x", i, got[i], want)
		}
	}
}

// TestHashedCacheGrowsByUseAndReleases (issue 23): a new cache holds no
// generation, one that saw a few values holds room for few more, never its
// bound; after release it holds nothing, finds nothing and caches nothing.
func TestHashedCacheGrowsByUseAndReleases(t *testing.T) {
	c := newQueryCache()
	if n := c.capacity(); n != 0 {
		t.Fatalf("a new cache has room for %d queries, want 0", n)
	}
	q := denylist.Query{IssuedAt: 7, N: 1}
	for i := range 100 {
		c.put(c.keyOf("", strconv.Itoa(i)), &q)
	}
	if n := c.capacity(); n > 2*100+hashedCacheShards*hashedCacheFirstGrowth {
		t.Fatalf("after 100 queries the cache has room for %d, want at most twice what it holds", n)
	}
	for i := range 3 * MaxCachedQueries {
		c.put(c.keyOf("", strconv.Itoa(i)), &q)
	}
	if n := c.capacity(); n > MaxCachedQueries {
		t.Fatalf("a full cache has room for %d queries, more than its bound %d", n, MaxCachedQueries)
	}
	c.release()
	if n := c.capacity(); n != 0 {
		t.Fatalf("a released cache has room for %d queries, want 0", n)
	}
	k := c.keyOf("", "after release")
	c.put(k, &q)
	var got denylist.Query
	if c.get(k, &got) || c.len() != 0 {
		t.Fatal("a released cache cached a query")
	}
}
