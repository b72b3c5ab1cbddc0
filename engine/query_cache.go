package engine

import (
	"hash/maphash"
	"sync"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// queryCache remembers the denylist queries of the JWTs checked lately. A
// client presents the same access token on every call until it expires, and
// building a JWT's query (decoding, reading the claims, four SHA-256
// digests) costs microseconds, where finding it again costs one maphash of
// the raw token. A query depends only on the token, the namespace and the
// handler's hasher, never on the denylist, so an entry cannot go stale.
//
// Entries are keyed by two 64-bit maphashes of namespace and token under
// random seeds, so no raw token is kept, and a collision (which would check
// one token with another's query) has a chance of 2^-128 per pair. The
// cache is bounded: each shard keeps two generations of at most
// queryCacheGeneration entries; when the current one is full it becomes the
// old one and the old one is emptied to become the current one. A
// generation keeps its queries in a slice and maps keys to their places in
// it: a Query is too large for a map value (Go would allocate each one
// apart), so caching one allocates nothing. Entries hold no pointers, so
// the collector does not scan them.
type queryCache struct {
	seeds  [2]maphash.Seed
	shards [queryCacheShards]queryCacheShard
}

const (
	queryCacheShards     = 16
	queryCacheGeneration = 512 // per shard: 8192 to 16384 tokens in all
)

// MaxCachedQueries is the most JWT queries a Checker keeps: a JWT seen
// again after this many others may be parsed and hashed again.
const MaxCachedQueries = 2 * queryCacheShards * queryCacheGeneration

type queryCacheKey [2]uint64

type queryCacheShard struct {
	mu       sync.Mutex
	cur, old queryGeneration
	_        [56]byte // two cache lines each (Mutex 8 + two generations 64 bytes)
}

// queryGeneration is one generation of a shard: queries[at[k]] is the
// query cached under k.
type queryGeneration struct {
	at      map[queryCacheKey]uint32
	queries []denylist.Query
}

func newQueryGeneration() queryGeneration {
	return queryGeneration{
		at:      make(map[queryCacheKey]uint32, queryCacheGeneration),
		queries: make([]denylist.Query, 0, queryCacheGeneration),
	}
}

func (g *queryGeneration) get(k queryCacheKey) (*denylist.Query, bool) {
	i, ok := g.at[k]
	if !ok {
		return nil, false
	}
	return &g.queries[i], true
}

func newQueryCache() *queryCache {
	c := &queryCache{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range c.shards {
		c.shards[i].cur = newQueryGeneration()
	}
	return c
}

func (c *queryCache) key(ns, raw string) queryCacheKey {
	var k queryCacheKey
	for i, seed := range c.seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		h.WriteString(ns)
		h.WriteByte(0) // "a"+"bc" and "ab"+"c" differ
		h.WriteString(raw)
		k[i] = h.Sum64()
	}
	return k
}

func (c *queryCache) shard(k queryCacheKey) *queryCacheShard {
	return &c.shards[k[0]%queryCacheShards]
}

// get copies the query cached under k into q.
func (c *queryCache) get(k queryCacheKey, q *denylist.Query) bool {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v, ok := sh.cur.get(k); ok {
		*q = *v
		return true
	}
	v, ok := sh.old.get(k)
	if !ok {
		return false
	}
	*q = *v
	sh.put(k, q) // still in use: keep it through the next rotation
	return true
}

func (c *queryCache) put(k queryCacheKey, q *denylist.Query) {
	sh := c.shard(k)
	sh.mu.Lock()
	sh.put(k, q)
	sh.mu.Unlock()
}

// put caches a copy of q under k in the current generation.
func (sh *queryCacheShard) put(k queryCacheKey, q *denylist.Query) {
	if i, ok := sh.cur.at[k]; ok { // two checks of one new token at once
		sh.cur.queries[i] = *q
		return
	}
	if len(sh.cur.queries) >= queryCacheGeneration {
		// The old generation, emptied, becomes the new current one:
		// rotating allocates nothing.
		sh.old, sh.cur = sh.cur, sh.old
		if sh.cur.at == nil {
			sh.cur = newQueryGeneration()
		}
		clear(sh.cur.at)
		sh.cur.queries = sh.cur.queries[:0]
	}
	sh.cur.at[k] = uint32(len(sh.cur.queries))
	sh.cur.queries = append(sh.cur.queries, *q)
}
