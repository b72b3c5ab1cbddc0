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
		total += len(c.shards[i].cur) + len(c.shards[i].old)
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
