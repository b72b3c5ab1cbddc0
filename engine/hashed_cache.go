package engine

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
)

// hashedCache is a bounded cache of values V (which hold no pointers)
// under keys that are two 64-bit maphashes, under random seeds, of what
// they stand for: no input is kept (a raw token, a user's id), and a
// collision, which would answer one input with another's value, has a
// chance of 2^-128 per pair.
//
// Each shard keeps two generations of at most generation entries; when the
// current one is full it becomes the old one and the old one is emptied to
// become the current one (an entry found in the old generation is copied
// to the current one). A generation keeps its values in a slice and maps
// keys to their places in it: a large V (a denylist Query) would be
// allocated apart as a map value, so caching allocates nothing once the
// generations have grown to their bound, and the collector does not scan
// the entries. The generations grow as values are cached (doubling, up to
// generation), never preallocated: a handler that sees few tokens holds a
// few kilobytes, not the 2.5 MB of its bounds, and a config reloaded 150
// times does not hold 150 full caches while its old handlers linger
// (issue 23). release empties a cache for good when its handler is
// cleaned up.
type hashedCache[V any] struct {
	seeds      [2]maphash.Seed
	generation int
	shards     [hashedCacheShards]hashedCacheShard[V]
}

const hashedCacheShards = 16

// hashedKey is what a hashedCache keys by (see hashedCache.keyOf).
type hashedKey [2]uint64

type hashedCacheShard[V any] struct {
	mu       sync.Mutex
	cur, old hashedGeneration[V]
	released bool     // release was called: cache nothing more
	_        [55]byte // two cache lines each (Mutex 8 + two generations 64 bytes + released)
}

// hashedGeneration is one generation of a shard: vals[at[k]] is the value
// cached under k.
type hashedGeneration[V any] struct {
	at   map[hashedKey]uint32
	vals []V
}

// newHashedCache returns a cache of at most 2*hashedCacheShards*generation
// values. Its shards hold nothing until values are cached in them.
func newHashedCache[V any](generation int) *hashedCache[V] {
	return &hashedCache[V]{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, generation: generation}
}

// hashedCacheFirstGrowth is how many values a generation's slice holds
// when its first value is cached; it then doubles up to the generation.
const hashedCacheFirstGrowth = 16

// release drops every value and the memory that held them, and makes the
// cache keep nothing more: a handler's Cleanup calls it, so that an old
// config's handler, which idle connections may keep reachable for minutes
// after a reload, holds no cache. get then finds nothing and put does
// nothing; both stay safe to call.
func (c *hashedCache[V]) release() {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.cur, sh.old, sh.released = hashedGeneration[V]{}, hashedGeneration[V]{}, true
		sh.mu.Unlock()
	}
}

// keyOf is the key of the strings parts, each preceded by its length (so
// "a","bc" and "ab","c" differ); a part longer than hashedPartInline (a
// raw token) is replaced by its own maphash under the same seed, which its
// length announces. The result is assembled on the stack (once, when no
// part is long) and hashed in one call per seed: a long part is hashed in one call too, where a
// maphash.Hash would take it 128 bytes at a time. Input too long for the
// stack (many parts) is streamed.
func (c *hashedCache[V]) keyOf(parts ...string) hashedKey {
	n, long := 0, false
	for _, p := range parts {
		n += 4 + min(len(p), hashedPartInline)
		long = long || len(p) > hashedPartInline
	}
	var k hashedKey
	var buf [256]byte
	if n <= len(buf) {
		in := buf[:0]
		for i, seed := range c.seeds {
			if i > 0 && !long {
				k[i] = maphash.Bytes(seed, in) // only a long part's hash depends on the seed
				continue
			}
			in = buf[:0]
			for _, p := range parts {
				in = binary.LittleEndian.AppendUint32(in, uint32(len(p)))
				if len(p) > hashedPartInline {
					in = binary.LittleEndian.AppendUint64(in, maphash.String(seed, p))
				} else {
					in = append(in, p...)
				}
			}
			k[i] = maphash.Bytes(seed, in)
		}
		return k
	}
	for i, seed := range c.seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		for _, p := range parts {
			h.Write(binary.LittleEndian.AppendUint32(buf[:0], uint32(len(p))))
			h.WriteString(p)
		}
		k[i] = h.Sum64()
	}
	return k
}

// hashedPartInline is the longest part keyOf takes as it is; it replaces a
// longer one with the part's 8-byte maphash.
const hashedPartInline = 64

func (c *hashedCache[V]) shard(k hashedKey) *hashedCacheShard[V] {
	return &c.shards[k[0]%hashedCacheShards]
}

// get copies the value cached under k into v.
func (c *hashedCache[V]) get(k hashedKey, v *V) bool {
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.cur.at[k]; ok {
		*v = sh.cur.vals[i]
		return true
	}
	i, ok := sh.old.at[k]
	if !ok {
		return false
	}
	*v = sh.old.vals[i]
	c.putLocked(sh, k, v) // still in use: keep it through the next rotation
	return true
}

// put caches a copy of v under k.
func (c *hashedCache[V]) put(k hashedKey, v *V) {
	sh := c.shard(k)
	sh.mu.Lock()
	c.putLocked(sh, k, v)
	sh.mu.Unlock()
}

// putLocked caches a copy of v under k in sh's current generation.
func (c *hashedCache[V]) putLocked(sh *hashedCacheShard[V], k hashedKey, v *V) {
	if sh.released {
		return
	}
	if i, ok := sh.cur.at[k]; ok { // two callers filled one new key at once
		sh.cur.vals[i] = *v
		return
	}
	if len(sh.cur.vals) >= c.generation {
		// The old generation, emptied, becomes the new current one:
		// once both have grown, rotating allocates nothing.
		sh.old, sh.cur = sh.cur, sh.old
		clear(sh.cur.at)
		sh.cur.vals = sh.cur.vals[:0]
	}
	if sh.cur.at == nil {
		sh.cur.at = make(map[hashedKey]uint32)
	}
	if n := len(sh.cur.vals); n == cap(sh.cur.vals) {
		// Grown by hand: append would overshoot the generation.
		vals := make([]V, n, min(max(2*n, hashedCacheFirstGrowth), c.generation))
		copy(vals, sh.cur.vals)
		sh.cur.vals = vals
	}
	sh.cur.at[k] = uint32(len(sh.cur.vals))
	sh.cur.vals = append(sh.cur.vals, *v)
}
