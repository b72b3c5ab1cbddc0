package engine

import "github.com/caddy-token-revocation/caddy-token-revocation/denylist"

// queryCache remembers the denylist queries of the JWTs checked lately. A
// client presents the same access token on every call until it expires, and
// building a JWT's query (decoding, reading the claims, four SHA-256
// digests) costs microseconds, where finding it again costs two maphashes
// of the raw token. A query depends only on the token, the namespace and
// the handler's hasher, never on the denylist, so an entry cannot go stale.
// It is keyed by namespace and raw token (see hashedCache: no raw token is
// kept).
type queryCache = hashedCache[denylist.Query]

// queryCacheGeneration is a query cache shard's generation: 8192 to 16384
// tokens in all.
const queryCacheGeneration = 512

// MaxCachedQueries is the most JWT queries a Checker keeps: a JWT seen
// again after this many others may be parsed and hashed again.
const MaxCachedQueries = 2 * hashedCacheShards * queryCacheGeneration

func newQueryCache() *queryCache { return newHashedCache[denylist.Query](queryCacheGeneration) }

// Release drops the memory of the Checker's caches (the JWT queries and
// the claim keys it remembers) and makes it cache nothing more: a
// handler's Cleanup calls it, since an old config's handler may stay
// reachable for minutes after a reload (its idle upstream connections).
// Checks still work after it, without caches; it is safe to call while
// checks run.
func (c *Checker) Release() {
	c.queries.release()
	c.claims.release()
}
