package engine

import (
	"strconv"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

func TestQueryCacheKeysByNamespaceAndStaysBounded(t *testing.T) {
	c := newQueryCache()
	if c.key("a", "x.y.z") == c.key("b", "x.y.z") || c.key("a", "bx.y.z") == c.key("ab", "x.y.z") {
		t.Fatal("namespace not part of the key")
	}
	var q denylist.Query
	q.IssuedAt = 42
	for i := 0; i < 5*queryCacheShards*queryCacheGeneration; i++ {
		c.put(c.key("", strconv.Itoa(i)), &q)
	}
	total := 0
	for i := range c.shards {
		total += len(c.shards[i].cur.queries) + len(c.shards[i].old.queries)
	}
	if total > 2*queryCacheShards*queryCacheGeneration {
		t.Fatalf("cache holds %d queries, more than its bound %d", total, 2*queryCacheShards*queryCacheGeneration)
	}
	last := c.key("", strconv.Itoa(5*queryCacheShards*queryCacheGeneration-1))
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
	n := 3 * queryCacheShards * queryCacheGeneration
	put := func(i int) {
		q := denylist.Query{IssuedAt: int64(i), N: 1}
		c.put(c.key("", strconv.Itoa(i)), &q)
	}
	for i := range n {
		put(i)
		if i%7 == 0 && i > 100 { // a token presented again: promoted if old
			var got denylist.Query
			if c.get(c.key("", strconv.Itoa(i-100)), &got) && got.IssuedAt != int64(i-100) {
				t.Fatalf("key %d gave the query of %d", i-100, got.IssuedAt)
			}
		}
	}
	found := 0
	for i := range n {
		var got denylist.Query
		if c.get(c.key("", strconv.Itoa(i)), &got) {
			found++
			if got.IssuedAt != int64(i) {
				t.Fatalf("key %d gave the query of %d", i, got.IssuedAt)
			}
		}
	}
	if found < queryCacheShards*queryCacheGeneration {
		t.Fatalf("%d of the %d queries cached last are found", found, queryCacheShards*queryCacheGeneration)
	}
	keys := make([]queryCacheKey, 2000)
	for i := range keys {
		keys[i] = c.key("", "new-"+strconv.Itoa(i))
	}
	i := 0
	q := denylist.Query{N: 1}
	if a := testing.AllocsPerRun(1000, func() { c.put(keys[i], &q); i++ }); a != 0 {
		t.Fatalf("caching a query allocates %v times", a)
	}
}
